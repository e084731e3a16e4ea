"""What the learned methods train on: the checked training rows, plus the codebook's own words for each code.

The codebook's words (name + description, aliases, examples) join the training rows, so a leaf
code never seen in training can still be predicted.
"""

from __future__ import annotations

from collections.abc import Sequence

from autocode.classifiers.codebook import Codebook
from autocode.classifiers.label_matrix import ordered_classes
from autocode.classifiers.methods.zeroshot import label_prototype


def humanise(name: str) -> str:
    """A label name as words: 'card_arrival' -> 'card arrival' (names derived from codes read badly)."""
    return name.replace("_", " ").strip() if " " not in name else name


def check_training(codebook: Codebook, texts: Sequence[str], labels: Sequence[tuple[str, ...]], multi_label: bool) -> None:
    """Raise ValueError naming the first bad rows: unknown codes, no code, or several codes for a single-label model."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} label rows")
    problems = []
    for i, codes in enumerate(labels):
        unknown = [c for c in codes if c not in codebook]
        if unknown:
            problems.append(f"row {i}: code(s) {', '.join(map(repr, unknown))} not in codebook {codebook.id!r}")
        elif not codes:
            problems.append(f"row {i}: no code")
        elif len(codes) > 1 and not multi_label:
            problems.append(f"row {i}: {len(codes)} codes, but the model is single-label (set multi_label=True)")
        if len(problems) >= 5:
            break
    if problems:
        raise ValueError("bad training rows:\n  " + "\n  ".join(problems))


def training_classes(codebook: Codebook, labels: Sequence[Sequence[str]], with_label_rows: bool) -> list[str]:
    """The codes the model can choose, in codebook order: those in training, plus every leaf when label rows teach them."""
    classes = ordered_classes(labels, codebook.codes())
    if not with_label_rows:
        return classes
    known = set(classes)
    return ordered_classes([tuple(classes), tuple(c for c in codebook.leaves() if c not in known)], codebook.codes())


def label_rows(codebook: Codebook, classes: Sequence[str]) -> tuple[list[str], list[tuple[str, ...]]]:
    """The codebook's own words for each code (name + description, aliases, examples), as extra training rows."""
    texts: list[str] = []
    labels: list[tuple[str, ...]] = []
    for code in classes:
        label = codebook.get(code)
        phrases = [label_prototype(humanise(label.name), label.description), *label.aliases, *label.examples]
        for phrase in dict.fromkeys(p for p in phrases if p.strip()):
            texts.append(phrase)
            labels.append((code,))
    return texts, labels
