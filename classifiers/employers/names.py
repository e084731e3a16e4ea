"""Employer-name rules: legal forms (and the countries they cue), listing noise, variants, acronyms, match keys.

The gazetteer build derives its aliases with these functions and the resolver normalises what people
write with the same ones, so both sides of a match agree.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "LEGAL_FORMS",
    "match_key",
    "strip_listing_noise",
    "strip_legal_form",
    "country_cues",
    "name_variants",
    "acronym",
    "domain_stem",
    "unique_by_key",
]


class _Form(NamedTuple):
    name: str
    countries: tuple[str, ...]
    spellings: tuple[str, ...] = ()
    where: str = "end"  # "end", "start", "both" or "any" (a parenthesised marker anywhere)
    cased: bool | None = None  # None: case-sensitive only for forms of two letters or fewer
    strict_dots: bool = False  # True where "A.S." (TR) must not also match "AS" (NO/EE)


_COMMON_LAW = (
    "GB", "IE", "IN", "HK", "SG", "AU", "NZ", "ZA", "IL", "CA", "MY", "KE", "NG", "PK", "BD", "LK", "CY", "MT", "BM",
    "KY", "VG",
)
_SOCIETE_ANONYME = (
    "ES", "FR", "BE", "LU", "CH", "PT", "PL", "GR", "AR", "BR", "CL", "CO", "MX", "PE", "UY", "MA", "EC", "GT", "PA",
    "VE", "PY", "BO", "DO", "CR",
)
_EAST_ASIA_CO_LTD = ("CN", "JP", "KR", "TW", "TH", "VN", "HK")
_EUROPEAN_SE = ("DE", "FR", "NL", "LU", "AT", "BE", "FI", "IT", "ES", "IE")

# Longest spellings are tried first, so "Public Company Limited" wins over "Company Limited" and "Limited".
_FORMS: tuple[_Form, ...] = (
    _Form("Pte Ltd", ("SG",), ("Pte. Ltd.", "Pte. Limited", "Pte Limited")),
    _Form("Pte", ("SG",), ("Pte.",)),
    _Form("Private Limited", ("IN", "PK", "SG", "BD", "LK"), ("Pvt. Ltd.", "Pvt Ltd", "Pvt. Limited", "Pvt Limited")),
    _Form("Sdn Bhd", ("MY",), ("Sdn. Bhd.",)),
    _Form("Berhad", ("MY",)),
    _Form("Bhd", ("MY",), ("Bhd.",)),
    _Form("Tbk", ("ID",), ("Tbk.",)),
    _Form("PT", ("ID",), ("PT.",), where="start", cased=True),
    _Form("Persero", ("ID",), ("(Persero)",), where="any"),
    _Form("K.K.", ("JP",), ("KK",), cased=True),
    _Form("Kabushiki Kaisha", ("JP",), where="both"),
    _Form("Public Company Limited", ("TH",), ("Public Co., Ltd.", "Public Co. Limited", "Public Co Ltd")),
    _Form("PCL", ("TH",), ("P.C.L.",), cased=True),
    _Form("Co., Ltd.", _EAST_ASIA_CO_LTD, ("Co., Limited", "Co. Ltd.", "Company Ltd.")),
    _Form("Company Limited", _EAST_ASIA_CO_LTD + ("GB", "NG", "KE"), ("Company, Limited",)),
    _Form("Corporation Limited", ("CN", "HK", "IN", "AU"), ("Corp. Ltd.", "Corp., Ltd.", "Corporation Ltd.")),
    _Form("Pty Ltd", ("AU", "ZA"), ("Pty. Ltd.", "Pty Limited", "Pty. Limited", "(Pty) Ltd", "(Pty) Limited")),
    _Form("Pty", ("AU", "ZA"), ("Pty.",)),
    _Form("No Liability", ("AU",)),
    _Form("NL", ("AU",), cased=True),
    _Form("GmbH", ("DE", "AT", "CH"), cased=False),
    _Form("KGaA", ("DE",), cased=False),
    _Form("KG", ("DE", "AT"), cased=True),
    _Form("Aktiengesellschaft", ("DE", "AT", "CH")),
    _Form("AG", ("DE", "CH", "AT"), cased=True),
    _Form("SE", _EUROPEAN_SE, ("S.E.",), cased=True),
    _Form("S.p.A.", ("IT",), ("SpA",), cased=True),
    _Form("S.r.l.", ("IT",), cased=True),
    _Form("Oyj", ("FI",), ("Oyj Abp",)),
    _Form("Oy", ("FI",), cased=True),
    _Form("Abp", ("FI",), cased=True),
    _Form("(publ)", ("SE",), where="any"),
    _Form("AB", ("SE", "FI", "LT"), cased=True),
    _Form("ASA", ("NO",), cased=True),
    _Form("A/S", ("DK", "NO")),
    _Form("AS", ("NO", "EE", "LV"), where="both", cased=True, strict_dots=True),
    _Form("Anonim Sirketi", ("TR",), ("Anonim Şirketi",)),
    _Form("T.A.S.", ("TR",), ("T.A.Ş.",), cased=True, strict_dots=True),
    _Form("A.S.", ("TR",), ("A.S", "A.Ş.", "A.Ş", "AŞ"), cased=True, strict_dots=True),
    _Form("a.s.", ("CZ", "SK"), cased=True, strict_dots=True),
    _Form("N.V.", ("NL", "BE", "CW"), cased=True),
    _Form("B.V.", ("NL", "BE"), cased=True),
    _Form("S.A.B. de C.V.", ("MX",), ("SAB de CV", "S.A. de C.V.", "SA de CV", "de C.V.", "S.A.B."), cased=False),
    _Form("S.A.A.", ("PE",), cased=True),
    _Form("S.A.E.", ("EG",), cased=True),
    _Form("S.A.S.", ("FR", "CO"), cased=True),
    _Form("S.C.A.", ("FR", "LU", "BE"), cased=True),
    _Form("S/A", ("BR",), cased=True),
    _Form("Societe Anonyme", ("FR", "BE", "LU", "CH", "GR"), ("Société Anonyme",)),
    _Form("S.A.", _SOCIETE_ANONYME, cased=True),
    _Form("SOCIMI", ("ES",), cased=True),
    _Form("S.L.", ("ES",), cased=True),
    _Form("Ltda", ("BR", "PT", "CO", "CL"), ("Ltda.",)),
    _Form("Spolka Akcyjna", ("PL",), ("Spółka Akcyjna",)),
    _Form("Sp. z o.o.", ("PL",)),
    _Form("d.d.", ("HR", "SI"), cased=True, strict_dots=True),
    _Form("d.o.o.", ("HR", "SI", "RS", "BA"), cased=True, strict_dots=True),
    _Form("hf.", ("IS",), ("hf", "ehf.", "ehf"), cased=True),
    _Form("AD", ("BG", "RS", "MK"), cased=True),
    _Form("Public Joint Stock Company", ("RU", "UA"), ("Public Joint-Stock Company",), where="both"),
    _Form(
        "Joint Stock Company", ("RU", "KZ", "UA", "VN", "CN"), ("Joint-Stock Company", "Joint Stock Co."), where="both"
    ),
    _Form("PJSC", ("RU", "UA", "AE"), ("P.J.S.C.",), where="both", cased=True),
    _Form("OJSC", ("RU",), where="both", cased=True),
    _Form("JSC", ("RU", "KZ", "UA", "GE", "AZ", "UZ", "VN"), ("J.S.C.",), where="both", cased=True),
    _Form("PAO", ("RU",), where="both", cased=True),
    _Form("OAO", ("RU",), where="both", cased=True),
    _Form("Q.P.S.C.", ("QA",), ("QPSC", "Q.S.C.", "QSC"), cased=True),
    _Form("K.S.C.P.", ("KW",), ("KSCP", "K.S.C.", "KSC"), cased=True),
    _Form("S.A.O.G.", ("OM",), ("SAOG",), cased=True),
    _Form("B.S.C.", ("BH",), ("BSC",), cased=True),
    _Form(
        "PLC",
        ("GB", "IE", "CY", "JE", "GG", "IM", "GI", "MT", "NG", "LK"),
        ("P.L.C.", "Public Limited Company", "Public Ltd Co"),
    ),
    _Form("LLP", ("GB", "US")),
    _Form("LLC", ("US",), ("L.L.C.",)),
    _Form("L.P.", ("US", "CA", "GB"), ("LP",), cased=True),
    _Form("Limited", _COMMON_LAW),
    _Form("Ltd", _COMMON_LAW, ("Ltd.",)),
    _Form("Inc.", ("US", "CA", "JP", "KR", "TW", "PH"), ("Inc", "Incorporated")),
    _Form("Corporation", ("US", "CA", "JP", "TW", "KR")),
    _Form("Corp.", ("US", "CA", "TW", "JP", "KR"), ("Corp",)),
    _Form("Co.", ("US", "GB", "SA", "JP", "KR", "CN", "TW", "DE"), ("Co", "Company")),
)

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

_SECURITY_CUT = re.compile(
    r"\s+(?:Depositary\b|Each\s+Representing\b|\d+(?:\s+\d+/\d+|[.,]\d+)?\s*%|Fixed[- ]to[- ]Floating\b|"
    r"(?:Non-?)?Cumulative\b|Perpetual\b|Redeemable\b|Convertible\b|Preferred\s+(?:Stock|Shares?|Units?)\b|"
    r"Senior\s+Notes\b|Notes\s+due\b|Subordinated\b|Series\s+[A-Z0-9]{1,2}\b)",
    re.IGNORECASE,
)
_NOISE_END = (
    re.compile(r"\s*\(The\)$", re.IGNORECASE),
    re.compile(r"[\s\-]+Class\s+[A-Z0-9]{1,2}(?:\s+(?:Common\s+Stock|Ordinary\s+Shares?|Shares?))?$", re.IGNORECASE),
    re.compile(
        r"\s+(?:Common\s+Stock|Ordinary\s+Shares?|Ord(?:inary)?\.?\s+Shs\.?|Shs|Shares|Units?|Registered\s+Shares|"
        r"Bearer\s+Shares|(?:Subordinate\s+)?Voting\s+Shares|Depositary\s+Receipts?)$",
        re.IGNORECASE,
    ),
    re.compile(r"(?:\s+|(?<=\.))[A-Z]{2}\s?-?\s?(?:,\d+|\d[\d,]*)$"),  # par value: "DL-,01", "EO 1", "YC 1"
    re.compile(r"\s+-,\d+$"),
    re.compile(r"\s+Ord\.?\s*[\d.]+$", re.IGNORECASE),
    re.compile(r"(?:\s+|(?<=\.))(?:SP\.\s*)?AD[RS]S?[\d/ IVX]*$"),
    re.compile(r"(?:\s+(?:NA|INH|ST|VZO|VZ|NAM))*\.?\s+O\.N\.$"),
)
_NOISE_END_UPPER = (  # only in all-capital listing names, where these tokens cannot be words
    re.compile(r"\s+(?:INH|NA|VZO|NAM|NEW|DEL)\.?$"),
    re.compile(r"\s+[ABCHNR]$"),
)


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
    for match in list(_ANY_RE.finditer(text)):
        found.append(_matched(match, _ANY_NAMES))
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

# Letters that Unicode does not decompose into a base letter and an accent.
_FOLD = str.maketrans(
    {"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i",
     "ð": "d", "þ": "th"}
)
_NON_WORD = re.compile(r"[\W_]+")


@functools.lru_cache(maxsize=1 << 17)
def match_key(text: str) -> str:
    """Case-, accent- and punctuation-free key for names ("Société Générale S.A." -> "societe generale s a")."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " and ").replace("'", "").replace("’", "")
    return _NON_WORD.sub(" ", text).strip()


_STOPWORDS = frozenset(
    "of and the for in at on to a an de da do dos das del della di du des la le les el y e et und fur für van von der den zu"
    .split()
)
# Words that, left on their own, name no employer: never offered as a variant.
_GENERIC = frozenset(
    """bank banking group holdings holding company corporation international national global capital resources energy
    industries industrial commercial development investment investments financial finance services trust the state
    central united first city general royal new people peoples pacific asia asian europe european america american
    africa african world china oriental eastern western northern southern east west north south commonwealth federal
    public private savings cooperative merchants mutual community regional metropolitan overseas universal
    technology technologies systems solutions enterprise enterprises properties property real estate""".split()
)
_GENERIC_TAIL = frozenset(
    "holdings holding hldgs hldg group grp groupe gruppe corporation corp company co companies".split()
)
_GENERIC_HEAD = frozenset("the grupo groupe gruppo".split())
_PARENS = re.compile(r"\s*\([^()]*\)")


@functools.cache
def _place_keys() -> frozenset[str]:
    # Country and region names: "China Holdings" must not yield the variant "China".
    from autocode.classifiers.codebook import load_codebook

    m49 = load_codebook("m49")
    keys = set()
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


_SECOND_LEVEL = frozenset("edu ac com co org net gov gob go or ne nic res sch mil int info biz gen ernet".split())
_NOT_STEMS = frozenset("www mail web portal online home site en main ir investor investors corporate group".split())


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
