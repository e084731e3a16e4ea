"""What a name says on its own when no reference record matches: its sector, and its country.

Sector: a linear model over the name's character n-grams and words (trained on the reference names at
fit time, a few seconds), the ISIC votes of the name's nearest reference names in the dense index,
and a small table of institution words ("Hospital", "Ministry") for sectors the reference lacks.
Country: the cues in the text (see employer_cues), backed by the countries of the nearest names.
Confidences are calibrated on the employer benchmark's training split (benchmarks/employers.py).
The institution words are data/employers/sector_keywords.csv, read once when this module loads.
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import scipy.sparse as sp

from autocode.classifiers.employers.cues import CountryCue
from autocode.classifiers.employers.names import match_key
from autocode.classifiers.employers.wordlists import read_rows, unique
from autocode.classifiers.prediction import Evidence

__all__ = ["KEYWORDS", "CountryGuess", "SectorGuess", "SectorModel", "infer_country", "interpolate"]

_MAX_KEYWORD_WORDS = 3
_SECTION = re.compile(r"[A-U]")
_DIVISION = re.compile(r"\d\d")


@functools.cache
def load_sector_keywords(path: os.PathLike[str] | None = None) -> dict[str, tuple[str, str]]:
    """Phrase -> (ISIC section, division), from data/employers/sector_keywords.csv (or `path`), in file order."""
    rows = unique(read_rows(path or "sector_keywords.csv", ("phrase", "section", "division")), "phrase")
    out: dict[str, tuple[str, str]] = {}
    for row in rows:
        phrase = row.key("phrase", match_key, _MAX_KEYWORD_WORDS)
        if not _SECTION.fullmatch(row["section"]):
            raise row.error("section", f"{row['section']!r} is not an ISIC Rev.4 section letter (A to U)")
        if not _DIVISION.fullmatch(row["division"]):
            raise row.error("division", f"{row['division']!r} is not a two-digit ISIC Rev.4 division")
        out[phrase] = (row["section"], row["division"])
    return out


# Words that name what an institution does, as (ISIC section, division). The model learns most of these
# from the reference names; the table matters for sectors listed companies rarely are (O, Q, S, A, N).
KEYWORDS: dict[str, tuple[str, str]] = load_sector_keywords()


def keyword_hits(text: str) -> list[tuple[str, str, str]]:
    """The institution words in a name, as (word, section, division), longest phrases first."""
    words = match_key(text).split()
    hits: list[tuple[str, str, str]] = []
    i = 0
    while i < len(words):
        for n in range(min(_MAX_KEYWORD_WORDS, len(words) - i), 0, -1):
            phrase = " ".join(words[i : i + n])
            if phrase in KEYWORDS:
                hits.append((phrase, *KEYWORDS[phrase]))
                i += n - 1
                break
        i += 1
    return hits


def interpolate(value: float, knots: Sequence[tuple[float, float]]) -> float:
    """Piecewise-linear map through (raw, calibrated) knots, clipped at both ends."""
    xs, ys = zip(*knots, strict=True)
    return float(np.interp(value, xs, ys))


@dataclass(frozen=True)
class SectorGuess:
    """The best ISIC section and division for a name, with raw (uncalibrated) probabilities and reasons."""

    section: str
    division: str
    section_p: float
    division_p: float
    evidence: tuple[Evidence, ...]


class SectorModel:
    """Name -> ISIC section/division: text model x neighbour votes, mixed with institution words."""

    def __init__(
        self,
        *,
        alpha: float = 1e-5,
        epochs: int = 15,
        knn_weight: float = 1.0,
        text_weight: float = 1.0,
        keyword_share: float = 0.3,
        new_keyword_share: float = 0.7,
        seed: int = 0,
    ) -> None:
        self.alpha = alpha
        self.epochs = epochs
        self.knn_weight = knn_weight
        self.text_weight = text_weight
        self.keyword_share = keyword_share
        self.new_keyword_share = new_keyword_share
        self.seed = seed

    @staticmethod
    def _text(name: str) -> str:
        return match_key(name)

    def fit(self, names: Sequence[str], sections: Sequence[str], divisions: Sequence[str]) -> Self:
        """Train the text model on reference names with their ISIC codes (rows with no section are skipped)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import SGDClassifier

        keep = [i for i, s in enumerate(sections) if s]
        texts = [self._text(names[i]) for i in keep]
        y = np.asarray([sections[i] for i in keep])
        self.char_ = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                                     dtype=np.float32)
        self.word_ = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
        x = sp.hstack([self.char_.fit_transform(texts), self.word_.fit_transform(texts)]).tocsr()
        self.model_ = SGDClassifier(
            # One binary problem a section, in threads (each has its own seed, so the fit is the same on any core count).
            loss="log_loss", alpha=self.alpha, max_iter=self.epochs, tol=None, random_state=self.seed, n_jobs=-1
        ).fit(x, y)
        self.sections_ = [str(c) for c in self.model_.classes_]
        # Divisions within a section, by frequency: the fall-back when neighbours do not say.
        by_section: dict[str, Counter[str]] = defaultdict(Counter)
        for i in keep:
            if divisions[i]:
                by_section[sections[i]][divisions[i]] += 1
        self.division_prior_ = {s: {d: n / sum(c.values()) for d, n in c.items()} for s, c in by_section.items()}
        return self

    def text_proba(self, names: Sequence[str]) -> np.ndarray:
        """Text-model probabilities [n, sections_]."""
        texts = [self._text(n) for n in names]
        x = sp.hstack([self.char_.transform(texts), self.word_.transform(texts)]).tocsr()
        return self.model_.predict_proba(x)

    def predict(
        self, names: Sequence[str], neighbours: Sequence[Sequence[tuple[str, str, float, str]]]
    ) -> list[SectorGuess]:
        """One guess per name; `neighbours[i]` holds (section, division, weight, name) of its nearest records."""
        if not len(names):
            return []
        text_p = self.text_proba(names)
        out = []
        for i, name in enumerate(names):
            out.append(self._combine(name, text_p[i], neighbours[i]))
        return out

    def _combine(self, name: str, text_p: np.ndarray, neighbours: Sequence[tuple[str, str, float, str]]) -> SectorGuess:
        sections = list(self.sections_)
        # Float weights: defaultdict(float), as a Counter is typed for integer counts.
        knn_sec: defaultdict[str, float] = defaultdict(float)
        knn_div: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
        total = 0.0
        for section, division, weight, _ in neighbours:
            if section:
                knn_sec[section] += weight
                total += weight
                if division:
                    knn_div[section][division] += weight
        for s in knn_sec:
            if s not in sections:
                sections.append(s)
        hits = keyword_hits(name)
        for _, s, _ in hits:
            if s not in sections:
                sections.append(s)
        # Smoothed so one absent vote does not veto a section the other signal is sure of.
        eps = 1e-3
        text = np.full(len(sections), eps)
        text[: len(self.sections_)] += text_p
        knn = np.array([knn_sec[s] / total if total else 1.0 / len(sections) for s in sections]) + eps
        log_p = self.text_weight * np.log(text) + self.knn_weight * np.log(knn)
        p = np.exp(log_p - log_p.max())
        p /= p.sum()
        if hits:
            kw = np.zeros(len(sections))
            for _, s, _ in hits:
                kw[sections.index(s)] += 1.0 / len(hits)
            # The text model has learnt the words of sectors it was trained on; for the others the word is all.
            known = all(s in self.sections_ for _, s, _ in hits)
            share = self.keyword_share if known else self.new_keyword_share
            p = (1 - share) * p + share * kw
        best = int(p.argmax())
        section = sections[best]
        divisions: defaultdict[str, float] = defaultdict(float)
        for d, share in self.division_prior_.get(section, {}).items():
            divisions[d] += 0.3 * share
        div_total = sum(knn_div[section].values())
        for d, w in knn_div[section].items():
            divisions[d] += 0.7 * w / div_total
        for _, s, d in hits:
            if s == section:
                divisions[d] += 1.0
        # The first of the highest, as Counter.most_common(1) picks.
        division, div_score = max(divisions.items(), key=lambda kv: kv[1]) if divisions else ("", 0.0)
        div_p = float(p[best]) * div_score / max(sum(divisions.values()), 1e-12)
        evidence = [Evidence("keyword", w, f"{s}/{d}", None) for w, s, d in hits[:3]]
        evidence += [
            Evidence("neighbour", n, f"{s}/{d}", round(float(w), 4)) for s, d, w, n in list(neighbours)[:3]
        ]
        order = np.argsort(-p)[:3]
        evidence += [Evidence("sector", sections[j], sections[j], round(float(p[j]), 4)) for j in order]
        return SectorGuess(section, division, float(p[best]), div_p, tuple(evidence))


@dataclass(frozen=True)
class CountryGuess:
    """The best country for a name, the score behind it, the strongest cue kind and the reasons."""

    country: str
    score: float  # share of the combined cue weight on the chosen country, 0..1
    cue_kind: str  # strongest cue behind the choice, or "neighbours" / "none"
    evidence: tuple[Evidence, ...]


# How far each kind of cue is trusted relative to the others (measured order, hand-set scale).
CUE_WEIGHTS: dict[str, float] = {
    "country": 8.0, "demonym": 6.0, "code": 6.0, "domain": 5.0, "city": 4.0, "town": 3.0, "word": 3.0,
    "legal_form": 1.5,
}
NEIGHBOUR_WEIGHT = 1.0
_CUE_RANK = ("country", "demonym", "code", "domain", "city", "town", "word", "legal_form")


def infer_country(cues: Sequence[CountryCue], neighbour_countries: Mapping[str, float]) -> CountryGuess:
    """Combine the text's cues with the neighbours' country shares (weights summing to 1) into one guess."""
    scores: defaultdict[str, float] = defaultdict(float)
    for cue in cues:
        for country, weight in cue.countries:
            scores[country] += CUE_WEIGHTS.get(cue.kind, 1.0) * weight
    for country, share in neighbour_countries.items():
        scores[country] += NEIGHBOUR_WEIGHT * share
    if not scores:
        return CountryGuess("", 0.0, "none", ())
    country, top = max(scores.items(), key=lambda kv: kv[1])  # the first of the highest, as most_common(1) picks
    backing = [c.kind for c in cues if any(k == country for k, _ in c.countries)]
    kind = min(backing, key=_CUE_RANK.index) if backing else "neighbours"
    evidence = tuple(Evidence("place", c.text, c.country, None) for c in cues[:3])
    if not backing:
        evidence += tuple(
            Evidence("neighbour_country", k, k, round(float(v), 4))
            for k, v in Counter(neighbour_countries).most_common(2)
        )
    return CountryGuess(country, float(top / sum(scores.values())), kind, evidence)

