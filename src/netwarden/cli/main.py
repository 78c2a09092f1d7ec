"""The ``netwarden`` command line."""

from __future__ import annotations

import typer

from netwarden.cli import (
    agent,
    control,
    demo,
    flows,
    gitops,
    offline,
    preview,
    recommend,
    rollout,
    serve,
)

app = typer.Typer(
    name="netwarden",
    help="Zero-trust network policy for Kubernetes fleets running Cilium.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
offline.register(app)
flows.register(app)
serve.register(app)
control.register(app)
rollout.register(app)
recommend.register(app)
gitops.register(app)
agent.register(app)
demo.register(app)
preview.register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
