"""Where autocode keeps state: AUTOCODE_HOME, or the user's data directory."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir


def autocode_home() -> Path:
    """The directory for every stateful file (models, indexes, stores); created on first use."""
    env = os.environ.get("AUTOCODE_HOME")
    home = Path(env).expanduser() if env else Path(user_data_dir("autocode", appauthor=False))
    home.mkdir(parents=True, exist_ok=True)
    return home
