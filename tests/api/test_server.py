"""`netwarden serve`: settings, first start, restart, and tokens from the control plane."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from netwarden.api.server import Server, Settings
from netwarden.cli.main import app
from tests.api.conftest import auth


def test_first_start_prints_a_token_that_works_and_restart_keeps_data(tmp_path: Path) -> None:
    server = Server(Settings(data_dir=tmp_path / "data"))
    try:
        assert server.first_start is not None
        token = server.first_start.token
        with TestClient(server.app) as client:
            assert client.get("/api/v1/flows/scope", headers=auth(token)).json() == {"all": True}
            assert client.get("/api/v1/flows/scope", headers=auth("nw_nope")).status_code == 401
    finally:
        server.close()
    again = Server(Settings(data_dir=tmp_path / "data"))
    try:
        assert again.first_start is None  # the org exists: no second admin token
        with TestClient(again.app) as client:
            assert client.get("/metrics", headers=auth(token)).status_code == 200
    finally:
        again.close()
    assert {p.name for p in (tmp_path / "data").iterdir()} >= {"control.db", "flows.duckdb"}


def test_settings_from_environment_and_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "netwarden.toml"
    config.write_text('port = 9999\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("NETWARDEN_PORT", "7000")
    settings = Settings(config_file=config)
    assert (settings.host, settings.port) == ("0.0.0.0", 7000)  # the environment wins
    assert settings.database().startswith("sqlite:///")


def test_bad_settings_are_reported_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('port = "eighty"\n')
    result = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "error: setting port" in result.output and "Traceback" not in result.output
