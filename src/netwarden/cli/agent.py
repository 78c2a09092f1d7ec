"""``netwarden agent``: one cluster's agent (see ``netwarden.agent.runtime``)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer

from netwarden.agent.backend import Backend
from netwarden.agent.channel import Fatal
from netwarden.agent.runtime import DEFAULT_SPOOL_MAX_MB, Agent, AgentConfig, connect
from netwarden.cli.offline import fail

SYNC_TIMEOUT_S = 120.0


def agent(
    server: Annotated[
        str, typer.Option("--server", envvar="NETWARDEN_SERVER", help="The server's URL.")
    ],
    cluster_token: Annotated[
        str,
        typer.Option(
            "--cluster-token",
            envvar="NETWARDEN_CLUSTER_TOKEN",
            help="The cluster's agent token ('netwarden token create --cluster NAME').",
        ),
    ],
    simulate: Annotated[
        Path | None,
        typer.Option("--simulate", help="Run a simulated cluster from this topology file."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the simulated traffic.")
    ] = None,
    kubeconfig: Annotated[
        Path | None, typer.Option("--kubeconfig", help="A real cluster through this kubeconfig.")
    ] = None,
    in_cluster: Annotated[
        bool, typer.Option("--in-cluster", help="The cluster this agent runs in.")
    ] = False,
    hubble_relay: Annotated[
        str | None,
        typer.Option("--hubble-relay", help="Hubble Relay address (host:port, tls://host:port)."),
    ] = None,
    spool_dir: Annotated[
        Path | None,
        typer.Option(
            "--spool-dir",
            help="Where unacknowledged flows and the agent's state are kept "
            "[default: ./netwarden-agent/CLUSTER].",
        ),
    ] = None,
    spool_max_mb: Annotated[
        int, typer.Option("--spool-max-mb", min=1, help="The spool's bound (oldest dropped).")
    ] = DEFAULT_SPOOL_MAX_MB,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    """Run a cluster's agent: apply the cluster's desired state, report status,
    inventory and drift, ship flows. Stops on SIGTERM/SIGINT (the spool is kept), and
    with exit status 1 when the token is revoked or the cluster deleted."""
    chosen = [simulate is not None, kubeconfig is not None, in_cluster]
    if sum(chosen) != 1:
        fail("error: choose one of --simulate, --kubeconfig, --in-cluster")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    stop = threading.Event()
    _on_signals(stop)
    base = AgentConfig(server, cluster_token, spool_dir or Path("netwarden-agent"))
    try:
        first = connect(base, stop)
    except Fatal as exc:
        _fatal(str(exc))
    if first is None:
        return
    directory = spool_dir or Path("netwarden-agent") / first.cluster
    config = AgentConfig(
        server, cluster_token, directory, spool_max_bytes=spool_max_mb * 1024 * 1024
    )
    backend = _backend(first.cluster, simulate, seed, kubeconfig, in_cluster, hubble_relay)
    typer.echo(f"Agent of cluster {first.cluster!r} on {server} (spool: {directory})", err=True)
    try:
        runtime = Agent(config, backend, first, stop=stop)
        problem = runtime.run()
    finally:
        backend.close()
    if problem is not None:
        _fatal(problem)
    typer.echo("Agent stopped.", err=True)


def _backend(
    cluster: str,
    simulate: Path | None,
    seed: int | None,
    kubeconfig: Path | None,
    in_cluster: bool,
    hubble_relay: str | None,
) -> Backend:
    try:
        if simulate is not None:
            from netwarden.agent.simulated import load_simulated

            return load_simulated(str(simulate), cluster, seed)
        from netwarden.agent.kubernetes import KubernetesBackend

        backend = KubernetesBackend.from_config(
            cluster, str(kubeconfig) if kubeconfig else None, in_cluster, hubble_relay
        )
    except (OSError, ValueError) as exc:
        fail(f"error: cannot start the cluster backend: {exc}")
    if not backend.wait_synced(SYNC_TIMEOUT_S):
        typer.echo("warning: the cluster's caches are not synced yet; continuing", err=True)
    return backend


def _on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def _fatal(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(agent)
