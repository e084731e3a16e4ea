"""Fuzzing: schemathesis against a running `autocode serve`'s own OpenAPI, with and without keys of each scope.

The server runs on a free loopback port in a temp AUTOCODE_HOME, with an admin key made by `autocode keys
create` and read/write keys from the key store. Every operation gets generated requests (valid and not);
each is sent with the admin key and checked against the documented schema (no 5xx, status, content type and
body as documented), and the same request is sent again with no key, a made-up key and each key below the
scope the route needs: any of those reaching the handler (a 2xx, or a 404/409 only a handler gives) is a
scope failure. The schema has no OpenAPI links (FastAPI emits none, and no route sets Location), so the
stateful part is done by hand: ids returned by earlier responses (records, jobs, review sessions, uploaded
codebooks) are fed into later path parameters, so GET/PUT/DELETE reach real objects, not only 404s.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_service import _free_port as free_port
from benchmarks.bench_service import _stop as stop
from benchmarks.reliability.common import Check

PART = "fuzzing"
AUTOCODE = Path(sys.executable).with_name("autocode")
SCOPES = ("read", "write", "admin")
OPEN_PATHS = {"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}
READ_POSTS = {"/v1/classify", "/v1/employers/resolve", "/v1/search", "/v1/documents"}
BAD_TOKEN = "ac_0123456789ab_" + "x" * 43  # the token shape, an unknown key


# ------------------------------------------------------------------------------------------ the server


@dataclass
class Server:
    """A running `autocode serve` subprocess: its URL, pid, home, log and a token per scope."""

    url: str
    proc: subprocess.Popen[bytes]
    home: Path
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)
    ready_s: float = 0.0

    def headers(self, scope: str | None) -> dict[str, str]:
        """The Authorization header for a scope's key (none for None)."""
        return {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}

    def output(self) -> str:
        """Everything the server printed so far."""
        return self.log.read_text(errors="replace")


def sg_reference(home: Path) -> Path:
    """Singapore's part of the shipped gazetteer as a reference table: the resolver's start-up stays seconds, not minutes."""
    from autocode.classifiers.employers.gazetteer import load_gazetteer

    g = load_gazetteer()
    path = home / "reference-sg.parquet"
    g[g["country"] == "SG"].reset_index(drop=True).to_parquet(path)
    return path


def create_key_cli(home: Path, scope: str, name: str) -> str:
    """A key made the way a person makes one, `autocode keys create`; the token is the only thing on stdout."""
    env = {**os.environ, "AUTOCODE_HOME": str(home)}
    done = subprocess.run([str(AUTOCODE), "keys", "create", "--scope", scope, "--name", name], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    token = done.stdout.strip()
    if "\n" in token or not token.startswith("ac_"):
        raise RuntimeError(f"`autocode keys create` printed more than a token on stdout: {done.stdout!r}")
    return token


@contextlib.contextmanager
def served(workers: int = 1, env: dict[str, str] | None = None, ready_within: float = 600.0) -> Iterator[Server]:
    """A real `autocode serve` in a temp home with a key per scope (admin via the CLI); stopped on exit."""
    from autocode.service.stores.keys import KeyStore

    with tempfile.TemporaryDirectory(prefix="autocode-rel-serve-") as tmp:
        home = Path(tmp) / "home"  # its parent is ours too, so a file escaping the home can be seen
        home.mkdir()
        tokens = {"admin": create_key_cli(home, "admin", "reliability admin")}
        with KeyStore(home / "keys.sqlite3") as keys:
            for scope in ("read", "write"):
                tokens[scope] = keys.create(scope, name=f"reliability {scope}")[1]
        port = free_port()
        log = home / "server.log"
        full_env = {**os.environ, "AUTOCODE_HOME": str(home), "HF_HUB_OFFLINE": "1",
                    "AUTOCODE_EMPLOYER_REFERENCE": str(sg_reference(home)), **(env or {})}
        t0 = time.perf_counter()
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(AUTOCODE), "serve", "--port", str(port), "--workers", str(workers)], env=full_env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        server = Server(f"http://127.0.0.1:{port}", proc, home, log, tokens,
                        {s: t.split("_")[1] for s, t in tokens.items()})
        try:
            _wait_ready(server, ready_within, workers)
            server.ready_s = time.perf_counter() - t0
            yield server
        finally:
            stop(proc)


def _wait_ready(server: Server, within: float, workers: int = 1) -> None:
    # Each worker loads its own models and answers /readyz for itself: with several, wait until a run of fresh
    # connections (spread over the workers by the kernel) all say ready.
    deadline = time.monotonic() + within
    streak = 0
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.output()[-3000:]}")
        ok = False
        with contextlib.suppress(httpx.HTTPError):
            ok = httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200
        streak = streak + 1 if ok else 0
        if streak >= (1 if workers == 1 else 12 * workers):
            return
        time.sleep(0.2 if not ok else 0.01)
    raise TimeoutError(f"server not ready in {within:.0f} s:\n{server.output()[-3000:]}")


# ------------------------------------------------------------------------------------------ scopes


def needed_scope(method: str, path: str) -> str | None:
    """The scope a route must demand, from the README's rules (not from the code under test); None: open."""
    method = method.upper()
    if path in OPEN_PATHS:
        return None
    if path == "/v1/codebooks" and method == "POST":
        return "admin"
    if method in ("GET", "HEAD") or (method == "POST" and path in READ_POSTS):
        return "read"
    return "write"


def identities_below(scope: str | None) -> list[str | None]:
    """The identities that must be turned away from a route needing `scope`: no key, an unknown key, lower scopes."""
    if scope is None:
        return []
    return [None, "bad", *SCOPES[: SCOPES.index(scope)]]


def reached_handler(status: int) -> bool:
    """A status only the handler (past the auth check) gives: success, or a not-found / conflict about the object."""
    return 200 <= status < 300 or status in (404, 409)


# ------------------------------------------------------------------------------------------ the fuzzer


@dataclass
class Tally:
    """Counts and the first few failures of each kind."""

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    off_schema: list[str] = field(default_factory=list)
    scope_leaks: list[str] = field(default_factory=list)
    transport: list[str] = field(default_factory=list)
    operations: set[str] = field(default_factory=set)
    linked: int = 0  # requests whose path parameter was an id an earlier response returned
    unauthorised: int = 0  # requests sent without the scope their route needs

    def note(self, status: int) -> None:
        """Count one response."""
        self.requests += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1


_ID_PARAMS = {"record_id": "records", "job_id": "jobs", "session_id": "sessions", "codebook_id": "codebooks"}


def _harvest(path: str, method: str, status: int, body: Any, pool: dict[str, list[Any]]) -> None:
    """Remember ids that responses return, for later path parameters (the hand-made links)."""
    if not isinstance(body, dict) or not 200 <= status < 300:
        return
    for key, kind in (("record_id", "records"), ("job_id", "jobs"), ("session_id", "sessions")):
        if key in body and body[key] is not None and body[key] not in pool[kind]:
            pool[kind].append(body[key])
    if path == "/v1/codebooks" and method == "POST" and "id" in body:
        pool["codebooks"].append(body["id"])
    for hit in body.get("hits", []) or []:
        if isinstance(hit, dict) and "record_id" in hit and hit["record_id"] not in pool["records"]:
            pool["records"].append(hit["record_id"])


def fuzz(server: Server, requests: int, seed: int = 0) -> Tally:
    """About `requests` requests over every operation of the server's schema, with and without keys."""
    import schemathesis
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    loaded = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in loaded.get_all_operations()]  # type: ignore[union-attr]  # an Err raises here, as it should
    # Creating operations first fills the id pool that later operations' path parameters draw from.
    operations.sort(key=lambda op: (op.method.upper() != "POST", "{" in op.path, op.path))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    tally = Tally()
    pool: dict[str, list[Any]] = {kind: [] for kind in _ID_PARAMS.values()}
    rng = random.Random(seed)
    # Each example is sent once with the admin key and once per identity below the route's scope.
    cost = {op.label: 1 + len(identities_below(needed_scope(op.method, op.path))) for op in operations}
    per_round = max(3, requests // max(1, sum(cost.values())) // 2)
    for round_no in range(20):
        if tally.requests >= requests:
            break
        for op in operations:
            tally.operations.add(op.label)
            try:
                _examples(op, per_round, seed * 1000 + round_no, lambda case, op=op: _one(server, case, op, checks, tally, pool, rng))()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - a generator error is recorded, the other operations still run
                tally.off_schema.append(f"{op.label}: the fuzzer itself failed: {type(exc).__name__}: {str(exc)[:600]}")
    return tally


def _examples(op: Any, examples: int, seed: int, body: Any) -> Any:
    """A Hypothesis test that hands `examples` generated cases of `op` to `body` (no shrinking: failures are recorded)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    @hseed(seed)
    @given(case=op.as_strategy())
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def test(case: Any) -> None:
        body(case)

    return test


def _one(server: Server, case: Any, op: Any, checks: list[Any], tally: Tally, pool: dict[str, list[Any]], rng: random.Random) -> None:
    """One generated case: link ids from earlier answers, send it as admin, then as every identity below the scope."""
    from schemathesis.checks import not_a_server_error

    for name, kind in _ID_PARAMS.items():
        if case.path_parameters and name in case.path_parameters and pool[kind] and rng.random() < 0.6:
            case.path_parameters[name] = rng.choice(pool[kind])
            tally.linked += 1
    _send(server, case, op, "admin", checks, tally, pool)
    for who in identities_below(needed_scope(op.method, op.path)):
        status = _send(server, case, op, who, [not_a_server_error], tally, pool)
        tally.unauthorised += 1
        if status is not None and reached_handler(status):
            tally.scope_leaks.append(f"{op.label} with {who or 'no'} key answered {status}: {case.as_curl_command()}"[:600])


def _send(server: Server, case: Any, op: Any, who: str | None, checks: list[Any], tally: Tally, pool: dict[str, list[Any]]) -> int | None:
    """Send one case as `who` and validate it; None when the request could not be made at all."""
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    case.headers = headers
    auth = {"Authorization": f"Bearer {BAD_TOKEN}"} if who == "bad" else server.headers(who)
    try:
        response = case.call(base_url=server.url, headers=auth, timeout=120)
    except Exception as exc:  # noqa: BLE001 - a refused or reset connection is a finding, not a crash of the fuzzer
        tally.transport.append(f"{op.label} as {who}: {type(exc).__name__}: {exc}"[:400])
        return None
    tally.note(response.status_code)
    try:
        case.validate_response(response, checks=checks)
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - schemathesis's FailureGroup is a BaseExceptionGroup; each is recorded
        text = f"{op.label} as {who or 'no key'} -> {response.status_code}: {str(exc)[:800]}"
        (tally.server_errors if response.status_code >= 500 else tally.off_schema).append(text)
    with contextlib.suppress(ValueError):
        _harvest(op.path, op.method.upper(), response.status_code, response.json(), pool)
    return response.status_code


def run(quick: bool = False) -> list[Check]:
    """Three checks from one fuzzing run: no 5xx, nothing outside the schema, no request past auth without its scope."""
    target = 200 if quick else 2_000
    t0 = time.perf_counter()
    with served() as server:
        tally = fuzz(server, target)
        crashed = [line for line in server.output().splitlines() if "Traceback" in line]
    seconds = time.perf_counter() - t0
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(tally.by_status.items()))
    base = f"{tally.requests:,} requests over {len(tally.operations)} operations ({tally.linked} with ids from earlier responses)"
    first = lambda xs: f"; first: {xs[0][:300]}" if xs else ""
    return [
        Check(PART, "schemathesis on the server's own OpenAPI: no 5xx", tally.requests, len(tally.server_errors) + len(tally.transport),
              f"{base}; statuses {statuses}; {len(tally.server_errors)} 5xx, {len(tally.transport)} broken connections, "
              f"{len(crashed)} tracebacks in the server log{first(tally.server_errors + tally.transport)}", seconds),
        Check(PART, "every response as documented (status, content type, body schema)", tally.requests, len(tally.off_schema),
              f"{len(tally.off_schema)} responses outside the schema{first(tally.off_schema)}", 0.0),
        Check(PART, "no key, an unknown key or a lower scope never reaches a handler", tally.unauthorised, len(tally.scope_leaks),
              f"{len(tally.scope_leaks)} requests answered 2xx/404/409 without the scope{first(tally.scope_leaks)}", 0.0),
    ]


__all__ = ["Server", "Tally", "fuzz", "identities_below", "needed_scope", "run", "served", "stop"]

if __name__ == "__main__":
    for check in run(quick="--quick" in sys.argv):
        print(json.dumps(check.to_dict())[:3000])
