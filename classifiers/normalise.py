"""The key a text is deduplicated and cached under: same words, ignoring case and spacing."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def normalise_key(text: str) -> str:
    """Unicode-normalise, casefold and collapse whitespace, so 'DBS  bank' and 'dbs bank' share a key."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


_WORD_CHAR = re.compile(r"[^\W_]")  # a letter or digit in any script


def has_words(text: str) -> bool:
    """Whether `text` holds any letter or digit (a regex: a Python loop over characters cost ~15 µs a text)."""
    return _WORD_CHAR.search(text) is not None
