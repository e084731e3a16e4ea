"""Durable writes shared by every layer: fsync a folder after a rename, and the version stamped into saved artefacts.

It lives in the lowest layer (embeddings) so that classifiers/ and service/ can use it without pointing upward.
"""

from __future__ import annotations

import errno
import os
from importlib import metadata
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (new files, renames) durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.EACCES):
            raise
    finally:
        os.close(fd)


def autocode_version() -> str:
    """The installed autocode version, stamped into every saved index, model and report."""
    try:
        return metadata.version("autocode")
    except metadata.PackageNotFoundError:
        return "0+unknown"
