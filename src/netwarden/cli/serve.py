"""``netwarden serve``: the API (and later the console) on embedded storage."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError

from netwarden.api.server import Server, Settings
from netwarden.cli.offline import fail

GRACEFUL_S = 3  # seconds a stop waits for requests in flight


class AgentAwareServer(uvicorn.Server):
    """uvicorn's server that, when a stop begins, ends the agents' long polls first: they
    answer "unchanged" at once (``GenerationWatch.close``) and the agents reconnect to the
    next server with backoff, so the graceful drain has nothing to cancel (it used to
    cancel them after ``GRACEFUL_S`` and log a traceback for each)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        watch = getattr(getattr(self.config.app, "state", None), "generations", None)
        if watch is not None:
            watch.close()
        await super().shutdown(sockets)


def serve(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Embedded storage directory [env NETWARDEN_DATA_DIR]."),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen port.")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML settings file [env NETWARDEN_SERVER_CONFIG]."),
    ] = None,
) -> None:
    """Start the Netwarden server. The first start creates an org and prints a one-time
    admin token."""
    given: dict[str, Any] = {
        "data_dir": data_dir,
        "host": host,
        "port": port,
        "config_file": config,
    }
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        fail(
            "\n".join(
                f"error: setting {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
        )
    try:
        server = Server(settings)
    except Exception as exc:  # unreachable database, unwritable data directory, ...
        fail(f"error: cannot open storage: {exc}")
    if server.first_start is not None:
        typer.echo(
            f"First start: created org {server.first_start.org.name!r} and user "
            f"{server.first_start.admin.name!r} (Org Admin).\n"
            f"Admin token (shown once, store it now): {server.first_start.token}"
        )
    typer.echo(f"Netwarden listening on http://{settings.host}:{settings.port}")
    try:
        listen = uvicorn.Config(
            server.app,
            host=settings.host,
            port=settings.port,
            log_level="info",
            timeout_graceful_shutdown=GRACEFUL_S,
        )
        AgentAwareServer(listen).run()
    finally:
        server.close()


def register(app: typer.Typer) -> None:
    app.command()(serve)
