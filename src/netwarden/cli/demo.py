"""``netwarden demo``: the whole loop on one machine (the README's first command).

Starts the server on embedded storage in a fresh data directory, applies the demo fleet
(examples/fleet: a project, three clusters, the storefront workspace, a user per role),
starts one agent per cluster with a simulated storefront (examples/topologies), writes a
client configuration with a context per user, and prints what to try. Runs until
interrupted (or for ``--exit-after`` seconds).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from netwarden.cli.demo_fleet import DemoError, DemoFleet, DemoSettings
from netwarden.cli.offline import fail

ROLES = {
    "admin": "Org Admin: everything",
    "olga": "Org Viewer: reads everything admin may change, the audit log",
    "ivan": "Infra Admin of project shop: its clusters, blueprints, all their flows",
    "iris": "Infra Viewer of project shop: reads what ivan may change",
    "paula": "Project Admin of project shop: namespace policies, the project's flows",
    "peter": "Project Viewer of project shop: reads what paula may change",
    "wanda": "Workspace Admin of storefront: its policies, flows touching storefront",
    "walter": "Workspace Viewer of storefront: reads what wanda may change",
}


def guide(fleet: DemoFleet) -> str:
    config = fleet.config_path.resolve()
    users = "\n".join(f"  {name:<7} {what}" for name, what in ROLES.items())
    return f"""
Netwarden demo: server {fleet.url}
Clusters: {", ".join(fleet.clusters)} (simulated, each running the storefront app)
Users (one login context each, in {config}):
{users}

Try, in another shell (same directory):
  export NETWARDEN_CONFIG={config}
  netwarden flows --since 1m --last 20                  # the fleet's traffic
  netwarden flows --follow --verdict DROPPED            # live drops (none yet)
  netwarden get clusters; netwarden rollout status
  netwarden apply -f examples/blueprints/zero-trust.yaml --dry-run
  netwarden apply -f examples/blueprints/zero-trust.yaml  # default deny on env=prod
  netwarden rollout waves zero-trust                    # prod-eu first, then prod-us
  netwarden flows --since 30s --drops -o compact        # the scanner and catalog's
                                                        # exfiltration now DROPPED
  netwarden flows --since 30s --drops -o json | head -1 # egress_denied_by: the policy
  NETWARDEN_CONTEXT=wanda netwarden flows --since 1m    # only flows touching storefront
  netwarden --help                                      # everything else
  netwarden recommend --cluster prod-eu -n storefront  # least privilege, from traffic
  netwarden preview -f my-policy.yaml --cluster prod-eu # what a change would break

Console: {fleet.url}/ (sign in with a user's token from {config.name}: each role sees its own)
API: {fleet.url}/docs   Metrics: {fleet.url}/metrics   Stop: Ctrl-C
"""


def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the demo keeps its data (wiped first).")
    ] = Path("netwarden-demo"),
    port: Annotated[int, typer.Option("--port", help="The server's port.")] = 8080,
    rate: Annotated[
        float | None,
        typer.Option("--rate", min=1, help="Flows per second per cluster [topology's own]."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated traffic.")] = 7,
    exit_after: Annotated[
        float | None,
        typer.Option("--exit-after", min=0, help="Stop after this many seconds."),
    ] = None,
) -> None:
    """Start the server, three simulated clusters with agents, and demo users."""
    settings = DemoSettings(data_dir=data_dir, port=port, seed=seed, rate=rate)
    fleet = DemoFleet(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    typer.echo(f"Starting the demo in {data_dir}/ ...")
    started = time.monotonic()
    try:
        fleet.start()
    except (DemoError, OSError, ValueError) as exc:
        fleet.stop()
        fail(f"error: the demo could not start: {exc}")
    typer.echo(f"Ready in {time.monotonic() - started:.1f} s.")
    typer.echo(guide(fleet))
    try:
        stop.wait(exit_after)
    finally:
        typer.echo("Stopping the agents and the server ...")
        fleet.stop()


def register(app: typer.Typer) -> None:
    app.command()(demo)
