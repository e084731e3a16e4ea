"""durable: files and folders are replaced whole or not at all, and a failed writer leaves no temp behind."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

import autocode.embeddings.durable as durable
from autocode.embeddings.durable import (
    atomic_file,
    staged_folder,
    write_bytes_atomic,
    write_synced,
    write_text_atomic,
)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_new_content_lands_whole_and_no_temp_remains(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.bin"  # the folder is created
    write_bytes_atomic(target, b"first")
    write_bytes_atomic(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert _names(target.parent) == ["f.bin"]
    write_text_atomic(target, "naïve\n")
    assert target.read_bytes() == "naïve\n".encode()


@pytest.mark.parametrize("fail_at", ["writer", "rename"])
def test_a_failure_removes_the_temp_and_keeps_the_old_file(
    fail_at: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "t.csv"
    target.write_text("old", encoding="utf-8")
    if fail_at == "rename":
        monkeypatch.setattr(durable.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk gone")))
    with pytest.raises((RuntimeError, OSError)), atomic_file(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".t.csv.")
        tmp.write_text("half", encoding="utf-8")
        if fail_at == "writer":
            raise RuntimeError("crash")
    assert target.read_text(encoding="utf-8") == "old"
    assert _names(tmp_path) == ["t.csv"]


def test_a_writer_that_never_creates_the_file_fails_and_leaves_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(FileNotFoundError), atomic_file(target):
        pass
    assert target.read_text() == "old" and _names(tmp_path) == ["t.txt"]


def test_a_fixed_tag_reuses_the_temp_a_killed_run_left(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    litter = tmp_path / ".state.json.tmp.partial"
    litter.write_text("from a run killed mid-write")
    with atomic_file(target, "tmp") as tmp:
        assert tmp == litter and not tmp.exists()  # cleared before the writer starts
        tmp.write_text("{}")
    assert _names(tmp_path) == ["state.json"] and target.read_text() == "{}"


@pytest.mark.parametrize("mode", [0o644, 0o600])
def test_mode_is_set_whatever_the_umask(mode: int, tmp_path: Path) -> None:
    old = os.umask(0o077 if mode == 0o644 else 0o022)
    try:
        write_bytes_atomic(tmp_path / "f", b"x", mode=mode)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == mode


def test_the_file_and_then_its_folder_are_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real_fsync_file = durable.fsync_file
    monkeypatch.setattr(durable, "fsync_file", lambda p: (calls.append(("file", Path(p).name)), real_fsync_file(p)))
    monkeypatch.setattr(durable, "fsync_dir", lambda p: calls.append(("dir", Path(p).name)))
    write_bytes_atomic(tmp_path / "a", b"x")
    assert calls[0][0] == "file" and calls[0][1].startswith(".a.") and calls[1:] == [("dir", tmp_path.name)]
    calls.clear()
    write_bytes_atomic(tmp_path / "b", b"x", sync_folder=False)  # the caller syncs the folder once, later
    assert [kind for kind, _ in calls] == ["file"]


def test_a_reader_racing_writes_sees_one_whole_version(tmp_path: Path) -> None:
    target = tmp_path / "big"
    versions = [b"a" * (1 << 20), b"b" * (1 << 19)]
    write_bytes_atomic(target, versions[0])
    stop = threading.Event()
    reads: list[bool] = []

    def reader() -> None:
        while not stop.is_set():
            reads.append(target.read_bytes() in versions)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(40):
            write_bytes_atomic(target, versions[i % 2])
    finally:
        stop.set()
        thread.join()
    assert reads and all(reads)
    assert target.read_bytes() == versions[1] and _names(tmp_path) == ["big"]


def test_write_synced_returns_the_size_it_wrote(tmp_path: Path) -> None:
    assert write_synced(tmp_path / "f", lambda f: f.write(b"12345")) == 5
    assert (tmp_path / "f").read_bytes() == b"12345"


def test_staged_folder_replaces_the_old_folder_whole(tmp_path: Path) -> None:
    target = tmp_path / "model"
    for content in ("one", "two"):
        with staged_folder(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".model.tmp-")
            (tmp / "sub").mkdir()
            (tmp / "sub" / "f").write_text(content)
            if content == "one":
                (tmp / "only-in-one").write_text("x")
    assert (target / "sub" / "f").read_text() == "two" and not (target / "only-in-one").exists()
    assert _names(tmp_path) == ["model"]


def test_staged_folder_failure_keeps_the_old_folder_and_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with staged_folder(target) as tmp:
        (tmp / "f").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(target) as tmp:
        (tmp / "f").write_text("new")
        raise RuntimeError("crash")
    assert (target / "f").read_text() == "old" and _names(tmp_path) == ["model"]


def test_staged_folder_syncs_every_file_on_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    monkeypatch.setattr(durable, "fsync_file", lambda p: synced.append(Path(p).name))
    for sync_files in (False, True):
        with staged_folder(tmp_path / "out", sync_files=sync_files) as tmp:
            (tmp / "a").write_text("a")
            (tmp / "d").mkdir()
            (tmp / "d" / "b").write_text("b")
    assert sorted(synced) == ["a", "b"]


def test_a_save_sweeps_the_stages_of_killed_saves_and_keeps_a_live_ones(tmp_path: Path) -> None:
    # A SIGKILLed save leaves its stage folder (a real child process, killed, plays the killed save).
    import subprocess
    import sys

    from autocode.embeddings.durable import _HOST

    target = tmp_path / "index"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = tmp_path / f".index.tmp-{_HOST}-{child.pid}-0123456789ab"
    live = tmp_path / f".index.tmp-{_HOST}-{os.getpid()}-ba9876543210"
    other_host = tmp_path / f".index.tmp-elsewhere-{child.pid}-0123456789ab"
    for stage in (dead, live, other_host):
        stage.mkdir()
        (stage / "part").write_bytes(b"x")
    with staged_folder(target) as tmp:
        (tmp / "ids.npy").write_bytes(b"new")
    assert (target / "ids.npy").read_bytes() == b"new"
    assert not dead.exists() and live.exists() and other_host.exists()
