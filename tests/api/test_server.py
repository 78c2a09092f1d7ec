"""`netwarden serve`: settings, first start, restart, and tokens from the control plane."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_a_stop_ends_the_agents_long_polls_before_draining(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``AgentAwareServer.shutdown`` closes the generation watch before uvicorn drains the
    connections: a waiting poll answers "unchanged" at once instead of being cancelled
    at the end of the drain (with a traceback in the log)."""
    import asyncio

    import uvicorn
    from fastapi import FastAPI

    from netwarden.cli.serve import AgentAwareServer
    from netwarden.control.desired import GenerationWatch

    app = FastAPI()
    app.state.generations = GenerationWatch()
    closed_at_drain: list[bool] = []

    async def drain(self: uvicorn.Server, sockets: Any = None) -> None:
        closed_at_drain.append(app.state.generations.closed)

    monkeypatch.setattr(uvicorn.Server, "shutdown", drain)
    server = AgentAwareServer(uvicorn.Config(app))

    async def poll_then_stop() -> float:
        started = asyncio.get_running_loop().time()
        waiting = asyncio.create_task(app.state.generations.wait(30))
        await asyncio.sleep(0.05)
        await server.shutdown()
        await waiting
        return asyncio.get_running_loop().time() - started

    assert asyncio.run(poll_then_stop()) < 5
    assert closed_at_drain == [True]
