"""The key a text is deduplicated and cached under: same words, ignoring case and spacing."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def normalise_key(text: str) -> str:
    """Unicode-normalise, casefold and collapse whitespace, so 'DBS  bank' and 'dbs bank' share a key."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()
