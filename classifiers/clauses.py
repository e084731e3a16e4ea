"""Split an open answer into the clauses that may each make a point ("too expensive, and my students had no cameras").

Multi-label coding scores each clause on its own as well as the whole answer and keeps, per code, the
best score: a point made in one clause is not diluted by the others. The split is deliberately
conservative (sentence ends, semicolons, and a comma or dash before a joining word): a fragment of
fewer than MIN_WORDS words is glued back to its neighbour, because such fragments ("and also") carry
no point of their own and only add noise.
"""

from __future__ import annotations

import re

# Fewer words than this and a piece is not a clause of its own.
MIN_WORDS = 2
# Where one point ends and the next may start: sentence ends and semicolons, a comma/dash before a
# joining word, or a joining word that announces another point ("and also", "as well as", "plus").
_JOINERS = r"(?:and also|and|but|also|plus|as well as|besides|while|whereas|though|although|or)"
_SPLIT = re.compile(
    rf"(?<=[.!?;])\s+|\s*;\s*|\s*[,\u2013\u2014-]\s+(?={_JOINERS}\b)|\s+(?=(?:and also|as well as|plus)\b)",
    re.IGNORECASE,
)
_LEADING_JOINER = re.compile(rf"^\s*{_JOINERS}\b[\s,]*", re.IGNORECASE)


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def split_clauses(text: str) -> list[str]:
    """The clauses of `text`, joining words stripped; a text with one clause comes back as [text]."""
    pieces = [p.strip() for p in _SPLIT.split(text) if p and p.strip()]
    pieces = [_LEADING_JOINER.sub("", p).strip(" ,;.-") for p in pieces]
    clauses: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if clauses and (_words(piece) < MIN_WORDS or _words(clauses[-1]) < MIN_WORDS):
            clauses[-1] = f"{clauses[-1]} {piece}"
        else:
            clauses.append(piece)
    return clauses if len(clauses) > 1 else [text]


def clause_rows(texts: list[str]) -> tuple[list[str], list[int]]:
    """(clauses, owner) of every text with more than one clause: clause j belongs to texts[owner[j]]."""
    clauses: list[str] = []
    owner: list[int] = []
    for i, text in enumerate(texts):
        parts = split_clauses(text)
        if len(parts) > 1:
            clauses += parts
            owner += [i] * len(parts)
    return clauses, owner
