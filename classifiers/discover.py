"""Draft a codebook from the answers themselves: cluster their embeddings, name each cluster by its distinctive words.

How a draft is made
    1. The answers are deduplicated by normalise_key (a distinct answer keeps its most frequent spelling and
       the number of rows that wrote it) and each distinct answer is embedded once.
    2. KMeans on the unit vectors (weighted by rows, so a common answer pulls its centroid). The number of
       codes is the caller's, or the K in [min_codes, max_codes] with the highest cosine silhouette over
       the distinct answers; every K tried and its silhouette are kept, so the choice can be shown.
    3. Each cluster is named by class-based TF-IDF (BERTopic's c-TF-IDF): a word's share of the cluster's
       words times log(1 + average words per cluster / the word's count over all clusters), so a word
       common to every cluster scores low and one that marks this cluster scores high.
    4. Its examples are the answers closest to its centroid; its description lists its distinctive words,
       which is what zero-shot coding reads, so the draft codes a file as it stands and improves as it is edited.

The draft is for a person to edit (rename, merge, split): `draft_yaml` writes it with comments saying so.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import yaml
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.metrics import silhouette_score

from autocode.classifiers.codebook import Codebook, parse_codebook
from autocode.classifiers.normalise import has_words, normalise_key
from autocode.embeddings import Encoder

__all__ = ["DiscoverError", "Discovery", "DraftCode", "discover", "draft_yaml"]

# Fewer distinct answers than this and no cluster structure can be told from noise.
MIN_ANSWERS = 6
# A code drafted from a single answer is no code; each K tried must leave room for two per cluster.
MIN_ANSWERS_PER_CODE = 2
# Silhouette is quadratic in the answers; a fixed sample keeps choosing K at seconds on a 20k-answer file.
SILHOUETTE_SAMPLE = 3000
# Texts per encode call, so a caller can show progress on a long file (each text is still encoded once).
EMBED_SLICE = 1024
_WORD = r"(?u)\b[^\W\d_][^\W_]+\b"  # two or more characters, starting with a letter: no bare numbers

Progress = Callable[[str, int, int], None]


class DiscoverError(ValueError):
    """The answers cannot be clustered into a draft (too few, or more codes asked for than they allow)."""


@dataclass(frozen=True)
class DraftCode:
    """One drafted code: its name from distinctive words, its most typical answers, and its size."""

    code: str
    name: str
    words: tuple[str, ...]  # most distinctive first
    examples: tuple[str, ...]  # closest to the centroid first
    answers: int  # distinct answers in the cluster
    rows: int  # rows those answers cover
    cohesion: float  # mean cosine of its answers to its centroid

    @property
    def description(self) -> str:
        """What zero-shot coding reads besides the name: the cluster's distinctive words."""
        return f"Answers about {', '.join(self.words)}." if self.words else "Answers like the examples."


@dataclass(frozen=True)
class Discovery:
    """The draft: codes, which code each distinct answer fell in, and how the number of codes was chosen."""

    codes: tuple[DraftCode, ...]
    answers: tuple[str, ...]  # distinct answers, as most often written
    rows: tuple[int, ...]  # rows per distinct answer
    assigned: tuple[str, ...]  # the code of each distinct answer
    silhouettes: dict[int, float] = field(default_factory=dict)  # every K tried -> its silhouette
    rule: str = ""  # how K was chosen, for a person
    skipped: int = 0  # rows with no words (blank, '-', '???'): left out of the draft

    def code_of(self, text: str) -> str | None:
        """The drafted code of an answer that was in the file (matched by normalise_key), else None."""
        key = normalise_key(text)
        for answer, code in zip(self.answers, self.assigned, strict=True):
            if normalise_key(answer) == key:
                return code
        return None

    def codebook(self, codebook_id: str, name: str) -> Codebook:
        """The draft as a validated flat Codebook."""
        return parse_codebook(_codebook_dict(self, codebook_id, name), f"draft codebook {codebook_id!r}")


def discover(
    texts: Sequence[str],
    encoder: Encoder,
    *,
    n_codes: int | None = None,
    min_codes: int = 2,
    max_codes: int = 20,
    n_examples: int = 5,
    n_words: int = 5,
    random_state: int = 0,
    progress: Progress | None = None,
) -> Discovery:
    """Cluster the distinct answers of `texts` into draft codes; see the module docstring for how."""
    if n_codes is not None and n_codes < 2:
        raise DiscoverError(f"need at least 2 codes to draft, got {n_codes}")
    if min_codes < 2 or max_codes < min_codes:
        raise DiscoverError(f"need 2 <= min_codes <= max_codes, got {min_codes} and {max_codes}")
    answers, rows, skipped = _distinct(texts)
    n = len(answers)
    if n < MIN_ANSWERS:
        raise DiscoverError(f"only {n} distinct answer(s) with words; drafting codes needs at least {MIN_ANSWERS}")
    most = n // MIN_ANSWERS_PER_CODE
    if n_codes is not None and n_codes > most:
        raise DiscoverError(f"{n_codes} codes asked for but {n} distinct answers allow at most {most} "
                            f"({MIN_ANSWERS_PER_CODE} answers per code)")
    vectors = _embed(answers, encoder, progress)
    weights = np.asarray(rows, dtype=np.float64)
    silhouettes: dict[int, float] = {}
    if n_codes is not None:
        k = n_codes
        labels = _kmeans(vectors, weights, k, random_state)
        rule = f"{k} codes, as asked"
    else:
        ks = list(range(min_codes, min(max_codes, most) + 1))
        if not ks:
            raise DiscoverError(f"{n} distinct answers allow at most {most} codes, fewer than min_codes={min_codes}")
        k, labels, silhouettes = _choose_k(vectors, weights, ks, random_state, progress)
        rule = f"{k} codes: the highest cosine silhouette ({silhouettes[k]:.3f}) over K = {ks[0]}..{ks[-1]}"
    labels = _by_size(labels, weights, k)
    words = _distinctive_words(answers, weights, labels, k, n_words)
    codes = _draft_codes(answers, weights, vectors, labels, words, n_examples)
    assigned = tuple(codes[c].code for c in labels)
    return Discovery(codes=tuple(codes), answers=tuple(answers), rows=tuple(rows), assigned=assigned,
                     silhouettes=silhouettes, rule=rule, skipped=skipped)


def _distinct(texts: Sequence[str]) -> tuple[list[str], list[int], int]:
    """Distinct answers by normalise_key (each as most often written), their row counts, and the rows with no words."""
    spellings: dict[str, Counter[str]] = {}
    skipped = 0
    for raw in texts:
        text = raw.strip() if isinstance(raw, str) else ""
        if not has_words(text):
            skipped += 1
            continue
        spellings.setdefault(normalise_key(text), Counter())[text] += 1
    answers = [seen.most_common(1)[0][0] for seen in spellings.values()]
    rows = [sum(seen.values()) for seen in spellings.values()]
    return answers, rows, skipped


def _embed(answers: list[str], encoder: Encoder, progress: Progress | None) -> np.ndarray:
    parts = []
    for start in range(0, len(answers), EMBED_SLICE):
        parts.append(encoder.encode(answers[start : start + EMBED_SLICE]))
        if progress:
            progress("embedding", min(start + EMBED_SLICE, len(answers)), len(answers))
    return np.vstack(parts).astype(np.float32)


def _kmeans(vectors: np.ndarray, weights: np.ndarray, k: int, random_state: int) -> np.ndarray:
    model = KMeans(n_clusters=k, n_init=4, random_state=random_state)
    return model.fit_predict(vectors, sample_weight=weights)


def _choose_k(
    vectors: np.ndarray, weights: np.ndarray, ks: list[int], random_state: int, progress: Progress | None
) -> tuple[int, np.ndarray, dict[int, float]]:
    """The K with the highest cosine silhouette, its labels, and every K's silhouette."""
    sample = min(len(vectors), SILHOUETTE_SAMPLE)
    scores: dict[int, float] = {}
    best: tuple[float, int, np.ndarray] | None = None
    for i, k in enumerate(ks, start=1):
        labels = _kmeans(vectors, weights, k, random_state)
        if len(set(labels.tolist())) < 2:
            score = -1.0  # KMeans collapsed (many identical vectors): no structure at this K
        else:
            score = float(silhouette_score(vectors, labels, metric="cosine", sample_size=sample, random_state=random_state))
        scores[k] = round(score, 4)
        if best is None or score > best[0]:
            best = (score, k, labels)
        if progress:
            progress("choosing the number of codes", i, len(ks))
    assert best is not None
    return best[1], best[2], scores


def _by_size(labels: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Renumber clusters so that 0 covers the most rows: the draft lists its biggest codes first."""
    size = np.bincount(labels, weights=weights, minlength=k)
    order = np.argsort(-size, kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return rank[labels]


def _distinctive_words(answers: list[str], weights: np.ndarray, labels: np.ndarray, k: int, n_words: int) -> list[list[str]]:
    """Per cluster, its words (unigrams and bigrams) ranked by c-TF-IDF against the other clusters."""
    vectorizer = CountVectorizer(lowercase=True, stop_words=list(ENGLISH_STOP_WORDS), ngram_range=(1, 2), token_pattern=_WORD)
    try:
        counts = vectorizer.fit_transform(answers)
    except ValueError:  # every answer is only stop words: nothing to name by
        return [[] for _ in range(k)]
    vocab = vectorizer.get_feature_names_out()
    onehot = np.zeros((k, len(answers)))
    onehot[labels, np.arange(len(answers))] = weights
    per_cluster = np.asarray(counts.T.dot(onehot.T).T)  # clusters x terms, rows-weighted
    totals = per_cluster.sum(axis=1, keepdims=True)
    tf = np.divide(per_cluster, totals, out=np.zeros_like(per_cluster), where=totals > 0)
    average_words = per_cluster.sum() / k
    idf = np.log1p(average_words / np.maximum(per_cluster.sum(axis=0), 1e-12))
    scores = tf * idf
    # A word in only one answer of a cluster describes that answer, not the cluster.
    answers_with = np.asarray((counts > 0).T.dot((onehot > 0).T).T)
    size = np.bincount(labels, minlength=k)[:, None]
    scores[(answers_with < 2) & (size >= 2)] *= 0.5
    return [_pick_words(vocab, scores[c], n_words) for c in range(k)]


def _pick_words(vocab: np.ndarray, scores: np.ndarray, n_words: int) -> list[str]:
    """The top terms, skipping a word already said inside a chosen phrase and a phrase made of chosen words."""
    chosen: list[str] = []
    for i in np.argsort(-scores, kind="stable"):
        if scores[i] <= 0 or len(chosen) >= n_words:
            break
        term = str(vocab[i])
        parts = term.split()
        said = {w for c in chosen for w in c.split()}
        if all(p in said for p in parts):
            continue
        if len(parts) > 1:
            chosen = [c for c in chosen if c not in parts]  # the phrase says its words better on their own
        chosen.append(term)
    return chosen[:n_words]


def _draft_codes(
    answers: list[str], weights: np.ndarray, vectors: np.ndarray, labels: np.ndarray, words: list[list[str]], n_examples: int
) -> list[DraftCode]:
    codes: list[DraftCode] = []
    taken: set[str] = set()
    for c, cluster_words in enumerate(words):
        members = np.flatnonzero(labels == c)
        centroid = (vectors[members] * weights[members, None]).sum(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        similarity = vectors[members] @ centroid
        typical = members[np.argsort(-similarity, kind="stable")][:n_examples]
        code = _unique(_slug(cluster_words[:2]) or f"code_{c + 1}", taken)
        name = ", ".join(cluster_words[:3]).capitalize() if cluster_words else f"Code {c + 1}"
        codes.append(DraftCode(code=code, name=name, words=tuple(cluster_words), examples=tuple(answers[i] for i in typical),
                               answers=len(members), rows=int(weights[members].sum()), cohesion=float(similarity.mean())))
    return codes


def _slug(words: list[str]) -> str:
    return re.sub(r"[^0-9a-z]+", "_", "_".join(words).casefold()).strip("_")[:40]


def _unique(code: str, taken: set[str]) -> str:
    out, n = code, 1
    while out in taken:
        n += 1
        out = f"{code}_{n}"
    taken.add(out)
    return out


def _codebook_dict(found: Discovery, codebook_id: str, name: str) -> dict:
    return {
        "id": codebook_id,
        "name": name,
        "version": "1",
        "multi_label": False,
        "description": f"Draft codes found in the answers by autocode discover ({found.rule}).",
        "labels": [{"code": d.code, "name": d.name, "description": d.description, "examples": list(d.examples)}
                   for d in found.codes],
    }


def draft_yaml(found: Discovery, codebook_id: str, name: str, source: str = "") -> str:
    """The draft as codebook YAML with comments for the person editing it; checked to load as a Codebook."""
    data = _codebook_dict(found, codebook_id, name)
    labels = data.pop("labels")
    total = sum(found.rows)
    head = [
        f"# Draft codebook drafted by `autocode discover`{f' from {source}' if source else ''}: "
        f"{len(found.answers):,} distinct answers in {total:,} rows.",
        f"# {found.rule}.",
        "# Edit it: rename codes, rewrite names and descriptions, merge or split codes, move examples.",
        "# Then code with it: autocode code FILE --column C --codebook THIS_FILE",
    ]
    if found.skipped:
        head.append(f"# {found.skipped:,} rows with no words (blank, '-', ...) were left out.")
    body = [yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100).rstrip(), "labels:"]
    for label, draft in zip(labels, found.codes, strict=True):
        share = 100 * draft.rows / total if total else 0.0
        body.append(f"# {draft.answers:,} answers, {draft.rows:,} rows ({share:.0f}%), cohesion {draft.cohesion:.2f}")
        block = yaml.safe_dump([label], sort_keys=False, allow_unicode=True, width=100).rstrip()
        body.append(block)
    text = "\n".join(head + body) + "\n"
    parse_codebook(yaml.safe_load(text), f"draft codebook {codebook_id!r}")  # never write what cannot be loaded
    return text
