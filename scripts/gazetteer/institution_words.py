"""Learn institution words ("universiti", "krankenhaus", "大学", "ministerio") -> ISIC section from reference names.

Each record of the gazetteer part votes once for every word of its name and aliases (all languages). A word is
kept when enough records in enough countries use it and nearly all of them share one ISIC section (the
frequency/purity rule below). Scripts written without spaces (Chinese, Japanese, Korean) give their trailing
2 to 4 characters as words, where their institution words stand (東京大学, 서울대학교).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from autocode.classifiers.employers.names import match_key

MIN_RECORDS = 25  # records using the word
MIN_COUNTRIES = 3  # a word of one company group or one country's registry is no institution word
MIN_PURITY = 0.85  # share of those records in the word's top section
MIN_LIFT = 2.0  # top section's share among the word's records over its share among all records
DIVISION_SHARE = 0.7  # the top division is named only when it holds this share of the section's records
MIN_LATIN_LENGTH = 3
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
HEADER = ("word", "section", "division", "records", "purity", "countries", "top_countries")


def words_of(text: str) -> set[str]:
    """The candidate words of one name: match-key words, and the trailing characters of unspaced scripts."""
    out: set[str] = set()
    for word in match_key(text).split():
        if _UNSPACED.fullmatch(word):
            out.update(word[-n:] for n in (2, 3, 4) if len(word) > n)
        elif len(word) >= MIN_LATIN_LENGTH and not word.isdigit():
            out.add(word)
    return out


def learn(records: Iterable[dict[str, Any]], stop: Iterable[str] = ()) -> list[dict[str, str]]:
    """Institution-word rows (see HEADER) from records with name, aliases, isic_section, isic_division, country."""
    stop = set(stop)
    by_word: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    countries: dict[str, Counter[str]] = defaultdict(Counter)
    sections: Counter[str] = Counter()
    for record in records:
        if not record["isic_section"]:
            continue
        sections[record["isic_section"]] += 1
        words: set[str] = set()
        for text in (record["name"], *record["aliases"]):
            words |= words_of(text)
        for word in words - stop:
            by_word[word][(record["isic_section"], record["isic_division"])] += 1
            if record["country"]:
                countries[word][record["country"]] += 1
    total = sum(sections.values())
    rows = []
    for word, counts in by_word.items():
        n = sum(counts.values())
        if n < MIN_RECORDS or len(countries[word]) < MIN_COUNTRIES:
            continue
        per_section: Counter[str] = Counter()
        for (section, _), c in counts.items():
            per_section[section] += c
        section, top = per_section.most_common(1)[0]
        purity = top / n
        if purity < MIN_PURITY or purity / (sections[section] / total) < MIN_LIFT:
            continue
        divisions = Counter({d: c for (s, d), c in counts.items() if s == section and d})
        division, share = divisions.most_common(1)[0] if divisions else ("", 0)
        spread = countries[word]
        rows.append({
            "word": word, "section": section, "division": division if share / top >= DIVISION_SHARE else "",
            "records": str(n), "purity": f"{purity:.3f}", "countries": str(len(spread)),
            "top_countries": " ".join(f"{c}:{k / sum(spread.values()):.2f}" for c, k in spread.most_common(3)),
        })
    rows.sort(key=lambda r: (r["section"], -int(r["records"]), r["word"]))
    return rows


def render(rows: list[dict[str, str]], rule: str) -> str:
    """The CSV text of the learnt words, with a comment saying how they were learnt (the build regenerates it)."""
    lines = [
        "# Institution words learnt from the reference names (all languages) by scripts/build_gazetteer.py; do not",
        "# edit: the build regenerates this file. Rule: " + rule,
        "# word: a match-key word (or the last 2-4 characters of a Chinese/Japanese/Korean name). section/division:",
        "# ISIC Rev.4 (division empty where the section's records spread over several). records: gazetteer-part",
        "# records whose names use the word; purity: the share of them in the section; countries: how many",
        "# countries they are in; top_countries: the three most common, with their shares.",
        ",".join(HEADER),
    ]
    for row in rows:
        lines.append(",".join(row[h] for h in HEADER))
    return "\n".join(lines) + "\n"


RULE = (f"at least {MIN_RECORDS} records in at least {MIN_COUNTRIES} countries, {MIN_PURITY:.0%} of them in one "
        f"section, {MIN_LIFT:g}x that section's share of all records.")
