"""How an employer answer is read and compared with a reference record: query parsing, match features, parameters.

The resolver (employer_resolver) gathers candidate records by exact key, fuzzy key and dense name
similarity; this module turns each (answer, candidate) pair into a few features and a probability
that the candidate is the employer meant. The coefficients and thresholds below were fitted by
``python -m benchmarks.employers --fit`` on the training split of its own hold-out, never on its test split.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from autocode.classifiers.employers.cues import CountryCue, find_cues, strip_trailing_place
from autocode.classifiers.employers.names import acronym, domain_stem, match_key, strip_legal_form

__all__ = ["DEFAULT_PARAMS", "FEATURES", "Query", "RecordKeys", "ResolverParams", "match_features", "parse_query"]

FEATURES: tuple[str, ...] = (
    "exact", "exact_ambiguous", "log_holders", "ratio", "token_set", "dense", "dense_margin", "ratio_margin",
    "country_agree", "country_clash", "short", "acronym", "prefix", "idf_overlap", "idf_cover",
)


@dataclass(frozen=True)
class ResolverParams:
    """Fitted parameters: match logistic regression, acceptance threshold, confidence calibration knots."""

    coef: tuple[float, ...]
    intercept: float
    accept_threshold: float  # match probability at which ~95% of accepted matches were right
    sector_knots: tuple[tuple[float, float], ...]  # raw section probability -> P(section right)
    country_knots: Mapping[str, tuple[tuple[float, float], ...]]  # per strongest cue kind: score -> P(right)
    sector_review: float = 0.9  # an inferred sector below this confidence goes to review
    country_review: float = 0.9
    fitted_on: str = ""

    def probability(self, features: Sequence[float]) -> float:
        """Match probability of one feature row."""
        z = self.intercept + sum(c * f for c, f in zip(self.coef, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# Printed by `python -m benchmarks.employers --fit --calibrate 2500` (seed 0): fitted on the held-out "calibrate" part
# (classifiers/employers/holdout.py) and informal variants of shipped records, never on the "test" part. Kinds with
# too few calibration cases keep hand-set knots. After a refit, rewrite data/employers/confidence.csv (--confidence).
DEFAULT_PARAMS = ResolverParams(
    coef=(
        2.6902,
        0.4921,
        -0.5227,
        0.0028,
        -0.277,
        -2.416,
        5.6668,
        7.2591,
        -0.5329,
        -2.8366,
        0.1336,
        1.1858,
        1.9329,
        4.9174,
        5.3791,
    ),
    intercept=-7.831,
    accept_threshold=0.6003,
    sector_knots=(
        (0.2004, 0.0556),
        (0.4315, 0.2677),
        (0.5434, 0.4286),
        (0.6755, 0.4286),
        (0.8143, 0.5297),
        (0.9197, 0.6271),
        (0.98, 0.8269),
        (0.9999, 0.963),
    ),
    country_knots={
        "country": ((0.5202, 0.6087), (0.8388, 0.8361), (0.9163, 0.8361), (1.0, 0.8361)),
        "demonym": ((0.5281, 0.6), (0.8054, 0.6923), (0.93, 0.75), (0.9923, 0.8571)),
        "code": ((0.0, 0.85), (1.0, 0.95)),
        "domain": ((0.0, 0.85), (1.0, 0.95)),
        "city": ((0.4703, 0.7143), (0.8832, 0.9429), (0.9755, 0.9429), (1.0, 0.9524)),
        "town": ((0.5354, 0.1), (0.75, 0.5333), (0.8306, 0.5833), (1.0, 0.8462)),
        "word": ((0.0, 0.6), (1.0, 0.9)),
        "legal_form": ((0.1364, 0.2632), (0.3105, 0.3889), (0.4304, 0.7162), (1.0, 0.9568)),
        "neighbours": ((0.0737, 0.1), (0.2411, 0.25), (0.4246, 0.4783), (1.0, 0.9825)),
        "none": ((0.0, 0.0), (1.0, 0.0)),
    },
    sector_review=0.9,
    country_review=0.9,
    fitted_on="python -m benchmarks.employers --fit --seed 0 --calibrate 2500: holdout part 'calibrate' of companies and organisations",
)

_GENERIC_TAIL = frozenset(["group", "grp", "holdings", "holding", "hldgs", "company", "co", "corporation", "corp", "bank", "berhad", "limited"])
_DOMAIN_ONLY = re.compile(r"(?i)^(?:[\w.+-]+@)?(?:https?://)?(?:www\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)/?$")


@dataclass(frozen=True)
class Query:
    """One employer answer, read: the words to match on, the keys to look up, and its country cues."""

    text: str
    base: str  # the name to match and embed: legal form and a trailing place removed
    keys: tuple[str, ...]  # match keys to look up exactly, most specific first
    cues: tuple[CountryCue, ...]
    place: CountryCue | None  # the place cut from the end ("HSBC Hong Kong" -> Hong Kong)
    initials: bool  # written like an acronym ("TCS", "NUS")

    @property
    def key(self) -> str:
        """The key compared by fuzzy scores."""
        return self.keys[0] if self.keys else ""

    @property
    def cue_countries(self) -> frozenset[str]:
        """Countries any cue points to (a legal form points to several)."""
        return frozenset(c for cue in self.cues for c, _ in cue.countries)


def parse_query(text: str, form_priors: Mapping[str, Mapping[str, float]] | None = None) -> Query:
    """Read one answer (already known to name an employer) into a Query."""
    text = " ".join(text.split())
    name = text
    domain = _DOMAIN_ONLY.match(text)
    if domain:
        name = domain_stem(domain.group(1)) or text
    core = strip_legal_form(name)[0] or name
    base, place = strip_trailing_place(name)
    base = strip_legal_form(base)[0] or base
    keys = [match_key(base), match_key(core)]
    words = keys[0].split()
    while len(words) > 1 and words[-1] in _GENERIC_TAIL:
        words = words[:-1]
        keys.append(" ".join(words))
    keys = [k for k in dict.fromkeys(keys) if k]
    letters = re.sub(r"[\s.&]", "", base)
    initials = 2 <= len(letters) <= 6 and letters.isalpha() and (letters.isupper() or "." in base)
    return Query(text, base, tuple(keys), tuple(find_cues(text, form_priors)), place, initials)


@dataclass
class RecordKeys:
    """What the resolver compares an answer with, for one record."""

    record_id: int
    keys: tuple[str, ...]  # match keys of the name, its aliases and derived forms
    ambiguous: frozenset[str]  # keys that are short forms shared with other records
    acronym: str
    country: str
    core_key: str  # match key of the name without legal form
    strings: tuple[str, ...]  # the name strings embedded in the name index
    is_user: bool = False

    @functools.cached_property
    def tokens(self) -> frozenset[str]:
        """Every word of every key."""
        return frozenset(t for k in self.keys for t in k.split())
    vector_ids: list[int] = field(default_factory=list)


def _token_match(token: str, pool: frozenset[str]) -> bool:
    # A typo in a long word still counts ("holdigs" ~ "holdings"); short words must be exact.
    if token in pool:
        return True
    return len(token) >= 5 and any(len(t) >= 5 and fuzz.ratio(token, t) >= 85 for t in pool)


def idf_overlap(tokens: Sequence[str], pool: frozenset[str], idf: Mapping[str, float], default: float) -> float:
    """Share of the tokens' weight (rare words weigh most) found in `pool`."""
    weights = [idf.get(t, default) for t in tokens]
    total = sum(weights)
    if not total:
        return 0.0
    return sum(w for t, w in zip(tokens, weights, strict=True) if _token_match(t, pool)) / total


def match_features(
    query: Query, rec: RecordKeys, holders: Mapping[str, int], dense: float, best_other_dense: float,
    best_other_ratio: float, ratio: float | None = None, idf: Mapping[str, float] | None = None,
    default_idf: float = 10.0,
) -> list[float]:
    """The FEATURES row for one (answer, candidate record) pair (`idf`: rarity of each word over the records)."""
    exact_keys = [k for k in query.keys if k in rec.keys]
    # A short form is "ambiguous" because others share it; where no other record now does, it is an alias.
    exact = any(k not in rec.ambiguous or holders.get(k, 1) == 1 for k in exact_keys)
    exact_amb = bool(exact_keys) and not exact
    n_holders = max((holders.get(k, 1) for k in exact_keys), default=1)
    if ratio is None:
        ratio = max((fuzz.ratio(query.key, k) for k in rec.keys), default=0.0) / 100.0
    token_set = max((fuzz.token_set_ratio(query.key, k) for k in rec.keys), default=0.0) / 100.0
    cues = query.cue_countries
    agree = 1.0 if cues and rec.country in cues else 0.0
    clash = 1.0 if cues and rec.country and rec.country not in cues else 0.0
    short = 1.0 if len(query.key) <= 4 else 0.0
    acro = 1.0 if query.initials and match_key(query.base).replace(" ", "") == rec.acronym.casefold() else 0.0
    prefix = 1.0 if rec.core_key.startswith(query.key + " ") else 0.0
    if query.initials:
        dense = best_other_dense = 0.0  # the meaning of "TCS" says nothing: only the letters count
    idf = idf or {}
    overlap = idf_overlap(query.key.split(), rec.tokens, idf, default_idf)
    cover = idf_overlap(rec.core_key.split(), frozenset(query.key.split()), idf, default_idf)
    return [
        float(exact), float(exact_amb), math.log(n_holders) if exact_keys else 0.0, ratio, token_set, dense,
        dense - best_other_dense, ratio - best_other_ratio, agree, clash, short, acro, prefix, overlap, cover,
    ]


def record_keys(
    record_id: int, name: str, aliases: Sequence[str], ambiguous: Sequence[str], country: str, source: str,
) -> RecordKeys:
    """Keys of one record; records without aliases (user-added ones) get the derived forms of their name."""
    from autocode.classifiers.employers.names import name_variants

    core = strip_legal_form(name)[0] or name
    strings = [name, core, *aliases]
    if not aliases:
        strings += name_variants(name)
    embedded = tuple(dict.fromkeys([name, *aliases] if aliases else strings))
    acro = acronym(name) or next((a for a in (*aliases, *ambiguous) if a.isupper() and 2 <= len(a) <= 6), "")
    # The initials are looked up too, as a short form shared with others: a hint the match model weighs.
    extra = (acro,) if acro else ()
    amb = frozenset(match_key(a) for a in (*ambiguous, *extra)) - {match_key(s) for s in strings}
    keys = tuple(dict.fromkeys(k for k in (match_key(s) for s in (*strings, *ambiguous, *extra)) if k))
    return RecordKeys(record_id, keys, amb, acro, country, match_key(core), embedded, source == "user")


_CODE_LIKE = re.compile(r"^(?=.*[A-Z])[A-Z0-9]{2,5}$")


def looks_like_code(text: str) -> bool:
    """Whether an answer is written as a code or acronym: one short token, as typed, capitals and digits ("3M", "NUS")."""
    return bool(_CODE_LIKE.match(text.strip().replace(".", "")))


def matched_key(query: Query, rec: RecordKeys) -> tuple[str, str]:
    """(the record's key the answer matched, its kind: name, alias, code or fuzzy)."""
    for key in query.keys:
        if key in rec.keys:
            if key in rec.ambiguous:
                return key, "code"
            return key, "name" if key == rec.core_key or key == rec.keys[0] else "alias"
    best = max(rec.keys, key=lambda k: fuzz.ratio(query.key, k), default="")
    return best, "fuzzy"


def match_veto(query: Query, matched: tuple[str, str], source: str) -> str:
    """Why a top candidate must not be auto-accepted ("" when it may): a code not typed as one, an airline code, a changed word.

    `matched` is `matched_key(query, record)`: the record's key the answer matched and its kind.
    """
    key, kind = matched
    if kind == "code":
        # "3m" or "ana" typed as an ordinary word says nothing of an airline's IATA code.
        if not looks_like_code(query.text):
            return "code_not_typed_as_code"
        if source == "airlines":
            return "airline_code"  # "3M" is likelier the company than Silver Airways
        return ""
    if kind != "fuzzy":
        return ""
    pool = set(key.split())
    for token in query.key.split():
        if token in pool or token in _GENERIC_TAIL:
            continue
        near = max(pool, key=lambda t: fuzz.ratio(token, t), default="")
        if near and fuzz.ratio(token, near) >= 70:
            return "distinctive_token_changed"  # "Emcor" is not "EMCORE": a near spelling of a name word is another firm
    return ""
