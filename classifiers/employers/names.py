"""Employer-name rules: legal forms (and the countries they cue), listing noise, variants, acronyms, match keys.

The gazetteer build derives its aliases with these functions and the resolver normalises what people
write with the same ones, so both sides of a match agree. The rules and word lists themselves are data
files in data/employers/ (its README.md says what each column means), read once when this module loads.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

from autocode.classifiers.employers.wordlists import Source, read_rows, read_words, unique

__all__ = [
    "LEGAL_FORMS",
    "acronym",
    "country_cues",
    "domain_stem",
    "match_key",
    "name_variants",
    "strip_legal_form",
    "strip_listing_noise",
    "unique_by_key",
]


class LegalForm(NamedTuple):
    """One row of legal_forms.csv: a legal form, the countries it cues, and how it may be written."""

    name: str
    countries: tuple[str, ...]
    spellings: tuple[str, ...] = ()
    where: str = "end"  # "end", "start", "both" or "any" (a parenthesised marker anywhere)
    cased: bool | None = None  # None: case-sensitive only for forms of two letters or fewer
    strict_dots: bool = False  # True where "A.S." (TR) must not also match "AS" (NO/EE)


_WHERE = ("end", "start", "both", "any")


@functools.cache
def load_legal_forms(path: os.PathLike[str] | None = None) -> tuple[LegalForm, ...]:
    """The legal forms of data/employers/legal_forms.csv (or the file at `path`), checked, in file order."""
    rows = read_rows(path or "legal_forms.csv", ("form", "countries", "spellings", "where", "cased", "strict_dots"),
                     optional=("spellings", "where", "cased", "strict_dots"))
    unique(rows, "form")  # LEGAL_FORMS is keyed by the form: a second row would silently replace the first
    forms: list[LegalForm] = []
    for row in rows:
        spellings = tuple(s.strip() for s in row["spellings"].split("|")) if row["spellings"] else ()
        if any(not s for s in spellings):
            raise row.error("spellings", f"an empty spelling in {row['spellings']!r} (spellings are separated by |)")
        cased = row.choice("cased", ("auto", "yes", "no"), "auto")
        forms.append(LegalForm(row["form"], row.countries("countries"), spellings, row.choice("where", _WHERE, "end"),
                               None if cased == "auto" else cased == "yes", row.yes_no("strict_dots")))
    return tuple(forms)


_FORMS = load_legal_forms()

LEGAL_FORMS: dict[str, tuple[str, ...]] = {form.name: form.countries for form in _FORMS}
"""Each legal form the stripper knows, with the ISO2 countries whose companies use it (a cue, not a proof)."""


def _spelling_pattern(spelling: str, strict_dots: bool) -> str:
    # Dots and the comma in "Co., Ltd." are optional, so "Co.,Ltd", "Co Ltd" and "CO., LTD." all match.
    out: list[str] = []
    for i, ch in enumerate(spelling):
        if ch == ".":
            out.append(r"\." if strict_dots else r"\.?\s?")
        elif ch == ",":
            out.append(",?")
        elif ch == " ":
            out.append(r"\s*" if i and spelling[i - 1] in ".,)" else r"\s+")
        elif ch == "-":
            out.append(r"[-\s]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _alternatives(where: set[str]) -> list[tuple[str, str]]:
    items: list[tuple[str, str, str]] = []
    for form in _FORMS:
        if form.where not in where:
            continue
        letters = sum(ch.isalpha() for ch in form.name)
        cased = form.cased if form.cased is not None else letters <= 2
        for spelling in (form.name, *form.spellings):
            if cased:
                variants = {spelling, spelling.upper()} if any(c.isupper() for c in spelling) else {spelling}
                for variant in sorted(variants):
                    items.append((form.name, variant, _spelling_pattern(variant, form.strict_dots)))
            else:
                items.append((form.name, spelling, f"(?i:{_spelling_pattern(spelling, form.strict_dots)})"))
    items.sort(key=lambda item: -len(item[1]))
    return [(name, pattern) for name, _, pattern in items]


def _compile(where: set[str], template: str) -> tuple[re.Pattern[str], list[str]]:
    alts = _alternatives(where)
    body = "|".join(f"(?P<f{i}>{pattern})" for i, (_, pattern) in enumerate(alts))
    return re.compile(template.format(body)), [name for name, _ in alts]


_END_RE, _END_NAMES = _compile({"end", "both"}, r"(?:^|(?<=[\s,(\-.]))(?:{})[\s.,)]*$")
_START_RE, _START_NAMES = _compile({"start", "both"}, r"^(?:{})(?=[\s,.]|$)[\s,.]*")
_ANY_RE, _ANY_NAMES = _compile({"any"}, r"\s*(?<!\w)(?:{})(?!\w)")
_TRAILING_JUNK = re.compile(r"[\s,&\-–/:;]+$")
_LEADING_JUNK = re.compile(r"^[\s,&\-–/:;]+")


def _matched(match: re.Match[str], names: list[str]) -> str:
    return names[int(match.lastgroup[1:])] if match.lastgroup else ""


_SPACES = re.compile(r"\s+")


def _tidy(text: str) -> str:
    return _LEADING_JUNK.sub("", _TRAILING_JUNK.sub("", _SPACES.sub(" ", text))).strip()


# --- listing noise: share classes, par values and preferred-stock descriptions in exchange listings ---

_NOISE_KINDS = ("cut", "drop", "drop_if_upper")


@functools.cache
def load_listing_noise(
    path: os.PathLike[str] | None = None,
) -> tuple[re.Pattern[str], tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]:
    """The rules of data/employers/listing_noise.csv (or `path`): the cut, the drops, the all-capitals drops."""
    cut: list[str] = []
    drops: dict[str, list[re.Pattern[str]]] = {"drop": [], "drop_if_upper": []}
    for row in read_rows(path or "listing_noise.csv", ("kind", "ignore_case", "pattern"), optional=("ignore_case",)):
        kind = row.choice("kind", _NOISE_KINDS)
        flags = re.IGNORECASE if row.yes_no("ignore_case") else 0
        try:
            compiled = re.compile(row["pattern"], flags)
        except re.error as exc:
            raise row.error("pattern", f"not a regular expression: {exc}") from None
        if kind == "cut":
            # One search for all cut rules: the name is cut at the first that starts anywhere.
            cut.append(row["pattern"] if flags else f"(?-i:{row['pattern']})")
        else:
            drops[kind].append(compiled)
    cut_re = re.compile(r"\s+(?:" + "|".join(cut) + ")", re.IGNORECASE) if cut else re.compile(r"(?!)")
    return cut_re, tuple(drops["drop"]), tuple(drops["drop_if_upper"])


_SECURITY_CUT, _NOISE_END, _NOISE_END_UPPER = load_listing_noise()


def _is_upper(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all(ch.isupper() for ch in letters)


def _drop_repeated_head(text: str) -> str:
    # "FLUIDRA SA FLUIDRA", "PHARMING GROUP NV PHARMING GROU": a listing repeats the name, at times cut short.
    tokens = [t.casefold() for t in text.split()]
    for k in range(len(tokens) // 2, 0, -1):
        if len(tokens) < 2 * k + 1:
            continue
        head, tail = tokens[:k], tokens[-k:]
        if head[:-1] == tail[:-1] and (head[-1] == tail[-1] or (len(tail[-1]) >= 3 and head[-1].startswith(tail[-1]))):
            return " ".join(text.split()[:-k])
    return text


@functools.lru_cache(maxsize=1 << 17)
def strip_listing_noise(name: str) -> str:
    """Remove what an exchange listing adds to a company name: share classes, par values, preferred-stock terms."""
    text = _SPACES.sub(" ", name).strip()
    cut = _SECURITY_CUT.search(text)
    if cut and cut.start() > 0:
        text = text[: cut.start()]
    for _ in range(8):
        before = text
        for pattern in _NOISE_END + (_NOISE_END_UPPER if _is_upper(text) else ()):
            stripped = _tidy(pattern.sub("", text))
            if stripped:
                text = stripped
        text = _drop_repeated_head(text)
        if text == before:
            break
    return text


def strip_legal_form(name: str) -> tuple[str, list[str]]:
    """Split a name into its core and the legal forms found ("PT Bank Mandiri (Persero) Tbk" -> "Bank Mandiri")."""
    core, forms = _strip_legal_form(name)
    return core, list(forms)


@functools.lru_cache(maxsize=1 << 17)
def _strip_legal_form(name: str) -> tuple[str, tuple[str, ...]]:
    # Cached: the build asks for the same name's core several times, the resolver for repeated answers.
    text = strip_listing_noise(name)
    found: list[str] = []
    for hit in list(_ANY_RE.finditer(text)):
        found.append(_matched(hit, _ANY_NAMES))
    if found:
        text = _tidy(_ANY_RE.sub(" ", text)) or text
    for _ in range(8):
        match = _END_RE.search(text)
        if match and _tidy(text[: match.start()]):
            found.append(_matched(match, _END_NAMES))
            text = _tidy(text[: match.start()])
            continue
        match = _START_RE.search(text)
        if match and _tidy(text[match.end() :]):
            found.append(_matched(match, _START_NAMES))
            text = _tidy(text[match.end() :])
            continue
        break
    return text, tuple(dict.fromkeys(found))


def country_cues(name: str) -> list[str]:
    """ISO2 countries cued by the legal forms in a name, most specific form first ("Maybank Berhad" -> ["MY"])."""
    _, forms = strip_legal_form(name)
    cues: list[str] = []
    for form in sorted(forms, key=lambda f: len(LEGAL_FORMS[f])):
        cues.extend(c for c in LEGAL_FORMS[form] if c not in cues)
    return cues


# --- match keys and variants -------------------------------------------------------------------------


@functools.cache
def load_letter_folds(path: os.PathLike[str] | None = None) -> dict[int, str]:
    """The str.translate table of data/employers/letter_folds.csv (or `path`): letters Unicode does not decompose."""
    rows = unique(read_rows(path or "letter_folds.csv", ("letter", "ascii")), "letter")
    for row in rows:
        if len(row["letter"]) != 1:
            raise row.error("letter", f"{row['letter']!r} is not one character")
    return str.maketrans({row["letter"]: row["ascii"] for row in rows})


_FOLD = load_letter_folds()
_NON_WORD = re.compile(r"[\W_]+")


@functools.lru_cache(maxsize=1 << 17)
def match_key(text: str) -> str:
    """Case-, accent- and punctuation-free key for names ("Société Générale S.A." -> "societe generale s a")."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " and ").replace("'", "").replace("’", "")
    return _NON_WORD.sub(" ", text).strip()


@functools.cache
def _words(source: Source, *, key: bool = True, single_word: bool = False) -> frozenset[str]:
    # A list compared with match keys must be written as match keys, or an entry would silently never match.
    return frozenset(read_words(source, normal=match_key if key else str.casefold, single_word=single_word))


_STOPWORDS = _words("name_particles.txt", key=False, single_word=True)  # also compared in lower case ("für")
# Words that, left on their own, name no employer: never offered as a variant.
_GENERIC = _words("variant_generic_words.txt")
_GENERIC_TAIL = _words("variant_generic_tails.txt", single_word=True)
_GENERIC_HEAD = _words("variant_generic_heads.txt", key=False, single_word=True)
_PARENS = re.compile(r"\s*\([^()]*\)")


@functools.cache
def _place_keys() -> frozenset[str]:
    # Country and region names: "China Holdings" must not yield the variant "China".
    from autocode.classifiers.codebook import load_codebook

    m49 = load_codebook("m49")
    keys: set[str] = set()
    for code in m49.codes():
        label = m49.get(code)
        keys.update(match_key(n) for n in (label.name, *label.aliases) if len(n) > 3)
    return frozenset(keys)


def _standalone(text: str) -> bool:
    key = match_key(text)
    return len(key) >= 2 and key not in _GENERIC and key not in _STOPWORDS and key not in _place_keys()


def name_variants(name: str) -> list[str]:
    """Shorter forms a person may write ("DBS Group Holdings Ltd" -> "DBS Group Holdings", "DBS Group", "DBS")."""
    out: list[str] = []
    core, _ = strip_legal_form(name)
    candidates = [strip_listing_noise(name), core]
    plain = _tidy(_PARENS.sub("", core)) or core
    candidates.append(plain)
    tokens = plain.split()
    while len(tokens) > 1 and tokens[0].casefold() in _GENERIC_HEAD:
        tokens = tokens[1:]
        candidates.append(" ".join(tokens))
    while len(tokens) > 1 and match_key(tokens[-1]) in _GENERIC_TAIL:
        tokens = tokens[:-1]
        while tokens and tokens[-1] in {"&", "and", ","}:
            tokens = tokens[:-1]
        candidates.append(_tidy(" ".join(tokens)))
    # "DBS Bank" -> "DBS", "Bank Mandiri" -> "Mandiri"; but never "Bank of America" -> "of America".
    if len(tokens) > 1 and match_key(tokens[-1]) == "bank":
        candidates.append(" ".join(tokens[:-1]))
    if len(tokens) > 1 and match_key(tokens[0]) == "bank" and match_key(tokens[1]) not in _STOPWORDS:
        candidates.append(" ".join(tokens[1:]))
    seen = {match_key(name)}
    for candidate in candidates:
        key = match_key(candidate)
        if candidate and key not in seen and _standalone(candidate):
            seen.add(key)
            out.append(candidate)
    return out


def acronym(name: str) -> str | None:
    """Initials of a multi-word name, when it has 3 to 6 ("Tata Consultancy Services Limited" -> "TCS"); else None."""
    core, _ = strip_legal_form(name)
    core = _tidy(_PARENS.sub("", core)) or core
    words = [w.strip(".,'’\"") for w in re.split(r"[\s\-/]+", core)]
    words = [w for w in words if any(ch.isalpha() for ch in w)]
    if not words or any(w[0].isdigit() for w in words):
        return None
    if _is_upper(core):
        # An all-capital listing name has no case to tell words from particles; drop the particles.
        words = [w for w in words if w.casefold() not in _STOPWORDS]
    elif any(len(w) >= 2 and w.isalpha() and w.isupper() for w in words):
        return None  # "DBS Group Holdings" already carries its short form
    while words and words[0].casefold() == "the":
        words = words[1:]
    initials = [w[0] for w in words if w[0].isupper() and w.casefold() not in _STOPWORDS]
    if not 3 <= len(initials) <= 6:
        return None
    return "".join(initials).upper()


_SECOND_LEVEL = _words("domain_second_levels.txt", key=False, single_word=True)
_NOT_STEMS = _words("domain_non_stems.txt", key=False, single_word=True)


def domain_stem(domain: str) -> str | None:
    """The registrable label of a web domain ("nus.edu.sg" -> "nus", "http://www.tcs.com/en" -> "tcs")."""
    host = re.sub(r"^[a-z]+://", "", domain.strip().casefold()).split("/")[0].split(":")[0]
    labels = [label for label in host.split(".") if label]
    if len(labels) < 2:
        return None
    labels = labels[:-1]  # the top-level domain
    while len(labels) > 1 and (labels[-1] in _SECOND_LEVEL or len(labels[-1]) <= 2):
        labels = labels[:-1]
    stem = labels[-1]
    if stem in _NOT_STEMS or len(stem) < 2 or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", stem):
        return None
    return stem


def unique_by_key(texts: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """Keep the first of each match key, dropping empty texts and any whose key is in `exclude`."""
    seen = set(exclude)
    out: list[str] = []
    for text in texts:
        key = match_key(text)
        if key and key not in seen:
            seen.add(key)
            out.append(text)
    return out
