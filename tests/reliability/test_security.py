"""Security over real HTTP: secrets kept, constant-time compare, instant revocation across workers, scopes, limits, paths."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from benchmarks.reliability import security


class EchoIn(BaseModel):
    """A body model (module level: FastAPI resolves postponed annotations from the module's names)."""

    text: str


def test_key_verification_compares_in_constant_time() -> None:
    check = security.check_constant_time()
    assert check.passed, check.outcome


@pytest.mark.slow
def test_security_checks_against_a_two_worker_server() -> None:
    checks = security.run(quick=True)
    assert len(checks) == 6
    assert all(c.passed for c in checks), "\n".join(f"{c.name}: {c.outcome}" for c in checks if not c.passed)


def test_a_streamed_json_body_over_the_limit_is_413_not_400() -> None:
    """FastAPI answers any error raised while it parses a body model with 400; the limit must still say 413."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from autocode.service.api.limits import BodyLimit

    app = FastAPI()

    @app.post("/echo")
    async def echo(body: EchoIn) -> dict[str, int]:
        return {"chars": len(body.text)}

    app.add_middleware(BodyLimit, limit_for=lambda scope: (100, "request body"))
    client = TestClient(app)
    assert client.post("/echo", json={"text": "short"}).json() == {"chars": 5}

    def chunks():  # no Content-Length: only the streamed count can stop it
        yield b'{"text": "'
        for _ in range(10):
            yield b"y" * 50
        yield b'"}'

    streamed = client.post("/echo", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["error"] == {"code": "body_too_large", "message": "request body over the request body limit of 100 bytes",
                                        "where": "body", "limit": 100}
