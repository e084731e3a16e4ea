"""An OpenAI-compatible chat-completions client (llama.cpp, vLLM, Ollama, hosted APIs) with schema-constrained answers.

The answer is constrained by `response_format: json_schema` (the OpenAI form, also vLLM, Ollama and recent
llama.cpp); a server that refuses it gets `response_format: json_object` with the schema (llama-cpp-python's
form), then a GBNF `grammar` built from the schema (llama.cpp's own). The first form a server accepts is
remembered. The API key is read from an environment variable, never from a flag or a file.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

import httpx

from autocode.classifiers.adjudicator import LLMError

__all__ = ["MODES", "OpenAIChat", "schema_grammar"]

MODES = ("json_schema", "json_object", "grammar")
DEFAULT_KEY_ENV = "AUTOCODE_LLM_API_KEY"


class OpenAIChat:
    """`chat(messages, schema) -> dict`: one constrained chat completion, parsed; LLMError when there is none."""

    def __init__(self, base_url: str, model: str, *, api_key_env: str = DEFAULT_KEY_ENV, timeout: float = 30.0,
                 mode: str = "auto", max_tokens: int = 200) -> None:
        if mode != "auto" and mode not in MODES:
            raise ValueError(f"unknown constraint mode {mode!r}; choose auto or one of {', '.join(MODES)}")
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"  # people paste the server's root; the OpenAI routes live under /v1
        self.model, self.max_tokens = model, max_tokens
        self.mode: str | None = None if mode == "auto" else mode
        key = os.environ.get(api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), headers=headers)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def models(self) -> list[str]:
        """The model ids the server lists (GET /v1/models)."""
        response = self._send("GET", "/models", None)
        return [str(m.get("id")) for m in response.json().get("data", []) if isinstance(m, dict)]

    def __call__(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> dict[str, Any]:
        """One answer constrained to `schema`, parsed from JSON (not yet checked against it)."""
        modes = [self.mode] if self.mode else list(MODES)
        refused: list[str] = []
        for mode in modes:
            body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens,
                    **_constraint(mode, schema)}
            try:
                response = self._send("POST", "/chat/completions", body)
            except LLMError as exc:
                if exc.kind == "refused" and self.mode is None:
                    refused.append(f"{mode}: {exc}")
                    continue  # this server does not take this form of constraint: try the next
                raise
            with self._lock:
                self.mode = self.mode or mode
            return _parse(response)
        raise LLMError("http", "the server refused every form of constrained output: " + "; ".join(refused))

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        try:
            response = self._http.request(method, self.base_url + path, json=body)
        except httpx.TimeoutException as exc:
            raise LLMError("timeout", f"{self.base_url} did not answer in time ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise LLMError("unreachable", f"{self.base_url}: {type(exc).__name__}: {exc}") from None
        # llama-cpp-python answers an unknown response_format with a 500 that names it, others with 400/422.
        if response.status_code in (400, 422, 500) and body is not None and _about_format(response.text):
            raise LLMError("refused", f"HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code >= 400:
            raise LLMError("http", f"HTTP {response.status_code} from {self.base_url}{path}: {response.text[:200]}")
        return response


def _about_format(text: str) -> bool:
    return bool(re.search(r"response_format|json_schema|grammar|schema", text, re.IGNORECASE))


def _constraint(mode: str, schema: dict[str, Any]) -> dict[str, Any]:
    if mode == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": schema}}}
    if mode == "json_object":
        return {"response_format": {"type": "json_object", "schema": schema}}
    return {"grammar": schema_grammar(schema)}


def _parse(response: httpx.Response) -> dict[str, Any]:
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMError("invalid", f"not a chat completion: {response.text[:200]}") from None
    text = (content or "").strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.DOTALL)  # some models wrap JSON in a code fence
    try:
        answer = json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        raise LLMError("invalid", f"the answer is not JSON: {text[:120]!r}") from None
    if not isinstance(answer, dict):
        raise LLMError("invalid", f"the answer is not a JSON object: {text[:120]!r}")
    return answer


def _literal(value: str) -> str:
    return '"' + json.dumps(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def schema_grammar(schema: dict[str, Any]) -> str:
    """A GBNF grammar for the adjudicator's answer schema (an object of enum, enum array, number 0..1 and text)."""
    rules: list[str] = []
    members: list[str] = []
    for name, spec in schema["properties"].items():
        rule = re.sub(r"[^a-z]", "-", name.lower())
        if spec.get("type") == "array":
            choices = " | ".join(_literal(v) for v in spec["items"]["enum"])
            rules.append(f"{rule}-item ::= {choices}")
            rules.append(f'{rule} ::= "[" ws {rule}-item (ws "," ws {rule}-item)* ws "]"')
        elif "enum" in spec:
            rules.append(f"{rule} ::= " + " | ".join(_literal(v) for v in spec["enum"]))
        elif spec.get("type") == "number":
            rules.append(f'{rule} ::= "0" ("." [0-9] [0-9]?)? | "1" (".0")?')
        else:
            rules.append(f'{rule} ::= "\\"" char{{0,{int(spec.get("maxLength", 300))}}} "\\""')
        members.append(f'{_literal(name)} ws ":" ws {rule}')
    root = 'root ::= "{" ws ' + ' ws "," ws '.join(members) + ' ws "}"'
    return "\n".join([root, *rules, 'char ::= [^"\\\\\\x00-\\x1f] | "\\\\" ["\\\\/bfnrt]', "ws ::= [ \\t\\n]{0,3}"]) + "\n"
