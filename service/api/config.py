"""Server settings: defaults, then an optional TOML file, then AUTOCODE_* environment variables, then flags.

Every field can be set as `AUTOCODE_<FIELD>` (upper case), e.g. AUTOCODE_MAX_TEXTS=512, or in a TOML file
named by AUTOCODE_CONFIG / `autocode serve --config` with the same names in lower case.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autocode.errors import InvalidError

__all__ = ["ConfigError", "Settings", "load_settings"]


class ConfigError(InvalidError):
    """A configuration file or variable that cannot be used; the message names which."""


class Settings(BaseModel):
    """What `autocode serve` runs with."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    no_auth: bool = False  # only for local use; the server warns loudly at start
    encoder: str = "minilm"
    preload_codebooks: list[str] = Field(default_factory=lambda: ["employer-support"])
    employers: bool = True  # load the employer resolver at start (the gazetteer's name index)
    employer_reference: str | None = None  # a table replacing the shipped gazetteer (same columns)
    max_body_bytes: int = Field(1_048_576, ge=1_024)
    max_texts: int = Field(256, ge=1)
    max_text_chars: int = Field(10_000, ge=1)
    max_job_bytes: int = Field(200 * 1_048_576, ge=1_024)
    max_codebook_labels: int = Field(5_000, ge=1)
    max_document_bytes: int = Field(20 * 1_048_576, ge=1_024)  # each file of POST /v1/documents
    max_document_pages: int = Field(500, ge=1)
    max_documents: int = Field(20, ge=1)  # files in one POST /v1/documents
    batch_window_ms: float = Field(5.0, ge=0.0, le=1_000.0)
    max_batch: int = Field(256, ge=1)
    job_chunk_rows: int = Field(2_000, ge=1)
    llm_url: str | None = None  # an OpenAI-compatible server: review items go to it (see README: LLM adjudicator)
    llm_model: str = "default"
    llm_api_key_env: str = "AUTOCODE_LLM_API_KEY"
    llm_timeout: float = Field(30.0, gt=0)
    llm_concurrency: int = Field(4, ge=1)
    llm_accept: float = Field(0.9, ge=0.0, le=1.0)
    llm_mode: str = "auto"


def _from_env(env: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        raw = env.get(f"AUTOCODE_{name.upper()}")
        if raw is None:
            continue
        if field.annotation is bool:
            values[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        elif name == "preload_codebooks":
            values[name] = [part.strip() for part in raw.split(",") if part.strip()]
        else:
            values[name] = raw
    return values


def load_settings(config: Path | None = None, env: dict[str, str] | None = None, **flags: Any) -> Settings:
    """Settings from the TOML file (if any), the environment and explicit flags (None flags are ignored)."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    path = config or (Path(env["AUTOCODE_CONFIG"]) if env.get("AUTOCODE_CONFIG") else None)
    if path is not None:
        try:
            values.update(tomllib.loads(Path(path).read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    values.update(_from_env(env))
    values.update({k: v for k, v in flags.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        where = str(path) if path else "environment"
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{where}: bad setting(s): " + "; ".join(problems)) from None
