"""Server settings: defaults < TOML file < AUTOCODE_* environment < flags; bad values name where they came from."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from autocode.service.api.config import ConfigError, Settings, load_settings
from autocode.service.cli import app


def test_defaults_are_local_and_authenticated() -> None:
    settings = load_settings(env={})
    assert settings == Settings()
    assert (settings.host, settings.port, settings.no_auth) == ("127.0.0.1", 8000, False)


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "autocode.toml"
    config.write_text('port = 9000\nmax_texts = 50\npreload_codebooks = ["isic4"]\nemployers = false\n', encoding="utf-8")
    env = {"AUTOCODE_CONFIG": str(config), "AUTOCODE_MAX_TEXTS": "60", "AUTOCODE_PRELOAD_CODEBOOKS": "isic4, m49",
           "AUTOCODE_NO_AUTH": "yes"}
    settings = load_settings(env=env, port=9100)
    assert settings.port == 9100  # flag beats file
    assert settings.max_texts == 60  # environment beats file
    assert settings.preload_codebooks == ["isic4", "m49"]
    assert settings.employers is False and settings.no_auth is True


def test_bad_settings_name_the_source_and_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"environment: bad setting\(s\): max_texts"):
        load_settings(env={"AUTOCODE_MAX_TEXTS": "lots"})
    config = tmp_path / "bad.toml"
    config.write_text("port = 70000\ncolour = 'blue'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml.*port.*colour"):
        load_settings(config, env={})
    config.write_text("port = = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml", env={})


def test_serve_refuses_a_bad_config_before_starting(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("workers = 0\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code != 0
    assert "workers" in result.output
