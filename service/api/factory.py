"""The app factory uvicorn calls in each worker process (settings come from `autocode serve` via the environment)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from autocode.service.api.app import create_app
from autocode.service.api.config import Settings, load_settings


def app_from_environment() -> FastAPI:
    """An app with the settings `autocode serve` resolved, or the environment's when run by uvicorn directly."""
    raw = os.environ.get("AUTOCODE_SERVE_SETTINGS")
    return create_app(Settings.model_validate_json(raw) if raw else load_settings())
