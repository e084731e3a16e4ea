"""Security: keys stay secret, compare in constant time and die at once; scopes, limits and paths hold, over real HTTP.

One `autocode serve --workers 2` in a temp AUTOCODE_HOME (so a revocation is tried against a worker process
other than the one that saw the key last), low upload limits so each can be hit with a small request, and the
server's working directory and the home's parent watched for files that should never appear there.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import hmac
import inspect
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.reliability.common import Check
from benchmarks.reliability.fuzz import AUTOCODE, Server, identities_below, needed_scope, served

PART = "security"
CODEBOOK = "employer-support"
LIMITS = {"AUTOCODE_MAX_BODY_BYTES": "65536", "AUTOCODE_MAX_JOB_BYTES": "100000", "AUTOCODE_MAX_DOCUMENT_BYTES": "50000",
          "AUTOCODE_MAX_DOCUMENTS": "2"}
TRAVERSAL = ["../../escaped.csv", "..\\..\\escaped.csv", "/tmp/escaped.csv", "....//....//escaped.csv", "%2e%2e%2fescaped.csv",
             "sub/../../../escaped.csv"]


# ------------------------------------------------------------------------------------------ constant-time compare (in-process)


def check_constant_time() -> Check:
    """verify() compares digests with hmac.compare_digest only (read from its code) and calls it once on every path."""
    from autocode.service.stores import keys as keys_module

    t0 = time.perf_counter()
    source = inspect.getsource(keys_module.KeyStore.verify)
    tree = ast.parse(source.lstrip() if not source.startswith(" ") else "if True:\n" + source)
    plain = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Compare)
             and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops) and "digest" in ast.unparse(node)]
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append(1)
        return real(a, b)

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = keys_module.KeyStore(Path(tmp) / "keys.sqlite3")
        _info, token = store.create("read", "ct")
        wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        cases = {"right": token, "wrong secret": wrong, "unknown id": "ac_000000000000_" + token.split("_", 2)[2],
                 "malformed": "not-a-token", "empty": ""}
        per_case: dict[str, int] = {}
        timings: dict[str, float] = {}
        keys_module.hmac.compare_digest = counting
        try:
            for name, candidate in cases.items():
                calls.clear()
                got = store.verify(candidate)
                per_case[name] = len(calls)
                if (got is not None) != (name == "right"):
                    per_case[name] = -1  # a wrong answer is a failure of its own
        finally:
            keys_module.hmac.compare_digest = real
        for name in ("wrong secret", "unknown id", "malformed"):
            spent = []
            for _ in range(300):
                s = time.perf_counter_ns()
                store.verify(cases[name])
                spent.append(time.perf_counter_ns() - s)
            timings[name] = sorted(spent)[len(spent) // 2] / 1000
        store.close()
    # The digest itself: SHA-256 hex, so compare_digest gets equal-length inputs and its time depends on neither.
    sha_ok = len(hashlib.sha256(b"x").hexdigest()) == 64
    bad = [f"{k}: {v} calls" for k, v in per_case.items() if v != 1] + [f"plain comparison: {p}" for p in plain]
    if not sha_ok:
        bad.append("digest length")
    return Check(PART, "key check compares in constant time (hmac.compare_digest on every path)", len(cases), len(bad),
                 ("; ".join(bad) if bad else "compare_digest called once for a right, wrong, unknown, malformed and empty token; "
                  "no ==/!= on digests in verify()") + "; median verify µs: " +
                 ", ".join(f"{k} {v:.0f}" for k, v in timings.items()) + " (wrong secret and unknown id also read SQLite)",
                 time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------ worker of a connection


def children(pid: int) -> list[int]:
    """uvicorn's worker processes under `pid` (spawned children; not multiprocessing's resource tracker)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    workers = []
    for child in out:
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.append(child)
    return workers or out


def _socket_owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """The worker pid holding the server side of the loopback connection from `client_port`."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote = parts[1], parts[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            inode = parts[9]
    if inode is None:
        return None
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                        return pid
    return None


def raw_get(server: Server, path: str, token: str, pids: list[int]) -> tuple[int, int | None]:
    """GET on a fresh connection; its status and the worker pid that answered it."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        owner = _socket_owner(port, sock.getsockname()[1], pids)
    return int(data.split()[1]), owner


# ------------------------------------------------------------------------------------------ checks over HTTP


def check_revocation(server: Server, trials: int) -> Check:
    """A key revoked with `autocode keys revoke` gets 401 on the very next request, whichever worker answers it."""
    t0 = time.perf_counter()
    from autocode.service.stores.keys import KeyStore

    with KeyStore(server.home / "keys.sqlite3") as keys:
        info, token = keys.create("write", "revoked during the check")
    pids = children(server.proc.pid) or [server.proc.pid]
    before = _spread(server, token, pids, trials)
    env = {**os.environ, "AUTOCODE_HOME": str(server.home)}
    subprocess.run([str(AUTOCODE), "keys", "revoke", info.key_id], env=env, check=True, capture_output=True, timeout=120)
    after = _spread(server, token, pids, trials)
    workers_before = {w for _, w in before if w}
    workers_after = {w for _, w in after if w}
    failures = sum(status != 200 for status, _ in before) + sum(status != 401 for status, _ in after)
    seen = workers_before | workers_after
    if len(workers_after) < 2:
        failures += 1  # the claim "in another worker too" was not exercised
    return Check(PART, f"a revoked key fails at once, in each of {len(seen)} worker processes", len(before) + len(after), failures,
                 f"before revoking: {sum(s == 200 for s, _ in before)}/{len(before)} 200 over workers {sorted(workers_before)}; "
                 f"after `autocode keys revoke`: {sum(s == 401 for s, _ in after)}/{len(after)} 401 over workers {sorted(workers_after)}",
                 time.perf_counter() - t0)


def _spread(server: Server, token: str, pids: list[int], trials: int) -> list[tuple[int, int | None]]:
    """At least `trials` GETs on fresh connections, more (up to 10x) until every worker has answered one."""
    # The kernel hands connections to the workers unevenly: a dozen in a row can all land on one.
    out: list[tuple[int, int | None]] = []
    while len(out) < trials or (len({w for _, w in out if w}) < len(pids) and len(out) < 10 * trials):
        out.append(raw_get(server, "/v1/records?limit=1", token, pids))
    return out


def _minimal_request(op: dict[str, Any], method: str) -> dict[str, Any]:
    """A request shaped enough to pass routing: path parameters filled, an empty JSON body or form."""
    return {"json": {}} if method in ("POST", "PUT", "PATCH") else {}


def _fill_path(path: str) -> str:
    values = {"record_id": "1", "job_id": "0" * 16, "session_id": "0" * 16, "item_id": "0", "codebook_id": CODEBOOK}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)


def check_scopes(server: Server) -> Check:
    """Every operation of the OpenAPI that needs a key answers 401/403 to no key, an unknown key and each lower scope."""
    t0 = time.perf_counter()
    schema = httpx.get(f"{server.url}/openapi.json", timeout=60).json()
    leaks, tried, ops = [], 0, 0
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for path, item in schema["paths"].items():
            for method, op in item.items():
                scope = needed_scope(method, path)
                if scope is None:
                    continue
                ops += 1
                for who in identities_below(scope):
                    token = "ac_0123456789ab_" + "y" * 43 if who == "bad" else (server.tokens[who] if who else None)
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    r = client.request(method.upper(), _fill_path(path), headers=headers, **_minimal_request(op, method.upper()))
                    tried += 1
                    want = 401 if who in (None, "bad") else 403
                    if r.status_code != want:
                        leaks.append(f"{method.upper()} {path} as {who or 'no key'}: {r.status_code} (want {want})")
        page = client.get("/review")
        page_ok = page.status_code == 200 and "<html" in page.text.lower()
        listing = client.get("/v1/review/sessions")
    if listing.status_code != 401:
        leaks.append(f"GET /v1/review/sessions without a key: {listing.status_code}")
    return Check(PART, "every write, admin and review route needs a key of its scope", tried + 1, len(leaks) + (not page_ok),
                 f"{ops} operations × (no key, unknown key, lower scopes): {tried - len(leaks)}/{tried} answered 401/403; the "
                 f"/review page is served without a key (it asks for one) and its data needs one"
                 + (f"; {'; '.join(leaks[:5])}" if leaks else ""), time.perf_counter() - t0)


def _chunked(size: int) -> Any:
    block = b"x" * 8192
    sent = 0
    while sent < size:
        yield block
        sent += len(block)


def check_limits(server: Server) -> Check:
    """Bodies and uploads over their limits answer 413 (declared or streamed without a length), never 5xx or 2xx."""
    t0 = time.perf_counter()
    admin = server.headers("admin")
    big_text = json.dumps({"text": "x" * 70_000, "codebook": CODEBOOK}).encode()
    cases: list[tuple[str, Callable[[httpx.Client], httpx.Response]]] = [
        ("JSON body over max_body_bytes", lambda c: c.post("/v1/classify", content=big_text,
                                                            headers={**admin, "Content-Type": "application/json"})),
        ("chunked body, no Content-Length", lambda c: c.post("/v1/classify", content=_chunked(200_000),
                                                             headers={**admin, "Content-Type": "application/json"})),
        ("job upload over max_job_bytes", lambda c: c.post("/v1/jobs", headers=admin, data={"column": "t", "codebook": CODEBOOK},
                                                           files={"file": ("big.csv", b"t\n" + b"answer\n" * 30_000, "text/csv")})),
        ("review upload over max_body_bytes", lambda c: c.post("/v1/review/sessions", headers=admin, data={"column": "t"},
                                                               files={"file": ("big.csv", b"t\n" + b"answer\n" * 20_000)})),
        ("document over max_document_bytes", lambda c: c.post("/v1/documents", headers=admin, data={"codebook": CODEBOOK},
                                                              files={"files": ("big.txt", b"fees " * 20_000, "text/plain")})),
        ("too many documents", lambda c: c.post("/v1/documents", headers=admin, data={"codebook": CODEBOOK},
                                                files=[("files", (f"{i}.txt", b"paid fees", "text/plain")) for i in range(3)])),
        ("codebook body over max_body_bytes", lambda c: c.post("/v1/codebooks", headers=admin, json={
            "id": "big", "name": "Big", "version": "1", "labels": [{"code": f"c{i}", "name": "n" * 40} for i in range(2000)]})),
    ]
    bad = []
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for name, send in cases:
            try:
                r = send(client)
                status = r.status_code
            except httpx.HTTPError as exc:
                if "chunked" not in name:  # a server that cuts a streamed body off early is also refusing it
                    bad.append(f"{name}: {type(exc).__name__}")
                continue
            if status != 413:
                bad.append(f"{name}: {status}")
    return Check(PART, "request bodies and uploads have limits (413)", len(cases), len(bad),
                 f"{len(cases) - len(bad)}/{len(cases)} answered 413: " + ", ".join(n for n, _ in cases)
                 + (f"; not: {'; '.join(bad)}" if bad else ""), time.perf_counter() - t0)


def _snapshot(root: Path, skip: Path) -> set[str]:
    out: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            dirnames[:] = []
            continue
        out.update(str(Path(dirpath) / f) for f in filenames)
    return out


def check_paths(server: Server, outside: list[Path]) -> Check:
    """Path-like model ids, codebook ids and uploaded file names never read or write outside AUTOCODE_HOME."""
    t0 = time.perf_counter()
    write = server.headers("admin")
    before = {str(p): _snapshot(p, server.home) for p in outside}
    results: list[tuple[str, int, bool]] = []  # (what, status, acceptable)
    csv = b"answer\nmy employer paid the fees\n"
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for given in ["../../etc/passwd", "..", "../models/x", "a/../../b", "%2e%2e", "/etc/passwd", "..\\..\\x", "a" * 65]:
            r = client.post("/v1/classify", json={"text": "x", "model": given}, headers=write)
            results.append((f"model {given!r}", r.status_code, r.status_code in (404, 422)))
            r = client.post("/v1/classify", json={"text": "x", "codebook": given}, headers=write)
            results.append((f"codebook {given!r}", r.status_code, r.status_code in (404, 422)))
            r = client.get(f"/v1/codebooks/{given}", headers=write)
            results.append((f"GET codebook {given!r}", r.status_code, r.status_code in (404, 422)))
            r = client.post("/v1/codebooks", headers=write, json={"id": given, "name": "x", "version": "1", "labels": [{"code": "a", "name": "A"}]})
            results.append((f"upload codebook id {given!r}", r.status_code, r.status_code == 422))
        for name in TRAVERSAL:
            r = client.post("/v1/jobs", headers=write, data={"column": "answer", "codebook": CODEBOOK}, files={"file": (name, csv, "text/csv")})
            results.append((f"job file {name!r}", r.status_code, r.status_code in (202, 422) and ".." not in r.json().get("filename", "")))
            r = client.post("/v1/review/sessions", headers=write, data={"column": "answer", "filename": name, "codebook": CODEBOOK},
                            files={"file": ("coded.csv", csv)})
            results.append((f"review filename {name!r}", r.status_code, r.status_code in (201, 422)))
            r = client.post("/v1/documents", headers=write, data={"codebook": CODEBOOK},
                            files={"files": (name.replace(".csv", ".txt"), b"my employer paid the fees", "text/plain")})
            results.append((f"document name {name!r}", r.status_code, r.status_code in (200, 415, 422)))
    time.sleep(2)  # jobs write their folders in the background
    appeared: list[str] = []
    for p in outside:
        appeared += sorted(_snapshot(p, server.home) - before[str(p)])
    appeared += [str(p) for p in (Path("/tmp/escaped.csv"), Path("/tmp/escaped.txt")) if p.exists()]
    bad = [f"{what}: {status}" for what, status, ok in results if not ok]
    statuses = sorted({s for _, s, _ in results})
    return Check(PART, "path-like ids and file names stay inside AUTOCODE_HOME", len(results), len(bad) + len(appeared),
                 f"{len(results)} requests (statuses {statuses}); files outside the home afterwards: {len(appeared)}"
                 + (f" ({', '.join(appeared[:3])})" if appeared else "") + (f"; unexpected: {'; '.join(bad[:4])}" if bad else ""),
                 time.perf_counter() - t0)


def check_secrets_kept(server: Server) -> Check:
    """No token or secret in the server's log, in any file of AUTOCODE_HOME, in `keys list`, or in an API answer."""
    t0 = time.perf_counter()
    secrets = {scope: token.split("_", 2)[2] for scope, token in server.tokens.items()}
    # Use every key, and fail with a wrong one, so each is on the paths that could log it.
    with httpx.Client(base_url=server.url, timeout=120) as client:
        answers = [client.get("/v1/records?limit=1", headers=server.headers(scope)).text for scope in server.tokens]
        wrong = server.tokens["read"][:-3] + "zzz"
        answers.append(client.get("/v1/records?limit=1", headers={"Authorization": f"Bearer {wrong}"}).text)
        answers.append(client.get("/metrics").text)
    env = {**os.environ, "AUTOCODE_HOME": str(server.home)}
    listed = subprocess.run([str(AUTOCODE), "keys", "list", "--json"], check=False, env=env, capture_output=True, text=True, timeout=120)
    places = {"server log": server.output(), "keys list --json": listed.stdout + listed.stderr, "API answers": "\n".join(answers)}
    found = [f"{scope} key in {where}" for where, text in places.items() for scope, secret in secrets.items() if secret in text]
    found += ["wrong token in server log"] if wrong.split("_", 2)[2] in server.output() else []
    files = 0
    for path in server.home.rglob("*"):
        if path.is_file() and path.name != "server.log":
            files += 1
            data = path.read_bytes()
            found += [f"{scope} key in {path.relative_to(server.home)}" for scope, s in secrets.items() if s.encode() in data]
    return Check(PART, "keys never logged, stored or returned after creation", len(secrets) * (len(places) + files), len(found),
                 f"{len(secrets)} keys used (and a wrong one); searched the server log, `keys list --json`, API answers and "
                 f"{files} files under AUTOCODE_HOME: {len(found)} found" + (f" ({'; '.join(found[:4])})" if found else ""),
                 time.perf_counter() - t0)


def run(quick: bool = False) -> list[Check]:
    """Every security check; one server with two workers serves the HTTP ones."""
    checks = [check_constant_time()]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="autocode-sec-cwd-") as cwd:
        old = os.getcwd()
        os.chdir(cwd)  # the server inherits it: nothing may land in the working directory either
        try:
            with served(workers=2, env=LIMITS) as server:
                os.chdir(old)
                checks.append(check_scopes(server))
                checks.append(check_limits(server))
                checks.append(check_paths(server, [Path(cwd), server.home.parent]))
                checks.append(check_revocation(server, 12 if quick else 40))
                checks.append(check_secrets_kept(server))
        finally:
            os.chdir(old)
    return checks


__all__ = ["check_constant_time", "run"]

if __name__ == "__main__":
    for check in run(quick="--quick" in sys.argv):
        print(json.dumps(check.to_dict()))
