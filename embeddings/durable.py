"""Durable writes shared by every layer: one file or one folder replaced whole, and the version stamped into saved artefacts.

It lives in the lowest layer (embeddings) so that classifiers/ and service/ can use it without pointing upward.

One file
    ``atomic_file(path)`` yields a temporary path beside `path` for a writer that needs a path (pyarrow,
    openpyxl, pandas); once it returns, the file is fsynced, renamed over `path` and the folder fsynced,
    so a crash leaves the old file or the new one whole, never a torn one. ``write_bytes_atomic`` and
    ``write_text_atomic`` do the same for content already in memory. If the writer raises, the temporary
    file is removed and `path` is untouched.

One folder
    ``staged_folder(path)`` yields a fresh temporary sibling folder; once it returns, its folders (and,
    with ``sync_files``, its files) are fsynced and it is swapped into place with
    ``swap_folder_into_place``. Files written with ``write_synced`` are on disk already.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


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
    from autocode import __version__  # the package reads it once from its metadata

    return __version__


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


def write_synced(path: Path, write: Callable[[IO[bytes]], object]) -> int:
    """Create file `path` with `write`, flush it to disk, and return its size in bytes."""
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def fsync_file(path: Path) -> None:
    """Flush the bytes of a file another library wrote by name to disk."""
    # Opened for writing: Windows refuses to flush a read-only handle.
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_file(
    path: str | os.PathLike[str], tag: str | None = None, *, mode: int | None = None, sync_folder: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed over `path`, else removed.

    A fixed `tag` gives a predictable temporary name, so a rerun of the same job overwrites what a
    killed one (kill -9 leaves no chance to clean up) left behind instead of piling up litter.
    `mode` sets the file's permission bits whatever the umask; `sync_folder=False` leaves the folder's
    fsync to a caller that writes several files into it and syncs it once.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{tag or secrets.token_hex(4)}.partial"
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        fsync_file(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
        if sync_folder:
            fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(
    path: str | os.PathLike[str], data: bytes, tag: str | None = None, *, mode: int | None = None, sync_folder: bool = True
) -> None:
    """Replace file `path` with `data`: readers and crashes see the old content or the new, whole."""
    with atomic_file(path, tag, mode=mode, sync_folder=sync_folder) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text_atomic(
    path: str | os.PathLike[str],
    text: str,
    tag: str | None = None,
    *,
    encoding: str = "utf-8",
    mode: int | None = None,
    sync_folder: bool = True,
) -> None:
    """Replace file `path` with `text` encoded as `encoding`, atomically like write_bytes_atomic."""
    write_bytes_atomic(path, text.encode(encoding), tag, mode=mode, sync_folder=sync_folder)


# In stage names, so a sweep on a shared disk only judges stages this machine's processes made.
# os.uname, not socket.gethostname: the encoder's no-network test refuses any socket call, this one included.
_HOST = "".join(c for c in os.uname().nodename if c.isalnum())[:32] or "host"


def _sweep_dead_stages(path: Path) -> None:
    """Remove the temporary folders that saves of `path` killed mid-write left behind (their process is gone)."""
    for stage in path.parent.glob(f".{path.name}.tmp-{_HOST}-*-*"):
        pid = stage.name.removeprefix(f".{path.name}.tmp-{_HOST}-").split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(stage, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike[str], *, sync_files: bool = False) -> Iterator[Path]:
    """Yield a new temporary folder beside `path`; on success it is fsynced and swapped into place, else removed.

    `sync_files` fsyncs every file in it first, for folders a library wrote (files written with
    write_synced are on disk already).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_dead_stages(path)
    tmp = path.parent / f".{path.name}.tmp-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        yield tmp
        if sync_files:
            for file in tmp.rglob("*"):
                if file.is_file():
                    fsync_file(file)
        # Deepest first, so each folder's entry in its parent is synced after the folder itself.
        for folder in [*sorted((p for p in tmp.rglob("*") if p.is_dir()), reverse=True), tmp]:
            fsync_dir(folder)
        swap_folder_into_place(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
