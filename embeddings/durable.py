"""Durable writes shared by every layer: fsync a folder after a rename, and the version stamped into saved artefacts.

It lives in the lowest layer (embeddings) so that classifiers/ and service/ can use it without pointing upward.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import uuid
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


def parse_manifest(raw: bytes | str, where: Path, *, kind: str, max_version: int, error: type[Exception]) -> dict:
    """A saved artefact's manifest as a dict, or `error` saying what is wrong (bad JSON, no version, too new)."""
    import json

    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{where} is not valid JSON ({exc}); the {kind} folder is corrupt") from None
    if not isinstance(manifest, dict):
        raise error(f"{where} is not a JSON object; the {kind} folder is corrupt")
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise error(f"{where} has no valid format_version (found {version!r})")
    if version > max_version:
        raise error(
            f"{where.parent} was saved in {kind} format {version} by autocode {manifest.get('autocode_version', '?')}; "
            f"this autocode ({autocode_version()}) reads format {max_version} at most: upgrade autocode"
        )
    return manifest


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False  # kernel or filesystem without exchange: fall back to two renames
    raise OSError(err, f"cannot swap {a} into {b}: {os.strerror(err)}")


def swap_folder_into_place(tmp: Path, path: Path) -> None:
    """Put the finished folder `tmp` at `path` atomically where the OS allows, replacing any older one there."""
    if not path.exists():
        os.rename(tmp, path)
        return
    if _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)  # now holds the old folder
        return
    old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:12]}")
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)
