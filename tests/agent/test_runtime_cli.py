"""``netwarden agent``: argument checks, a refused token, and a clean stop on SIGTERM
(threads stopped, spool and state kept, exit 0). The simulated backend is replaced by the
test backend (the CLI imports ``netwarden.agent.simulated`` lazily)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.cli.main import app
from tests.agent.conftest import ServerProcess, TestBackend, make_cluster, wait_for

runner = CliRunner()


@pytest.fixture
def simulated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, int | None]]]:
    """``load_simulated`` answers a :class:`TestBackend`; yields its calls."""
    calls: list[tuple[str, str, int | None]] = []
    backends: list[TestBackend] = []

    def load_simulated(path: str, cluster: str, seed: int | None) -> TestBackend:
        calls.append((path, cluster, seed))
        backend = TestBackend(cluster)
        backends.append(backend)
        return backend

    module = types.ModuleType("netwarden.agent.simulated")
    module.load_simulated = load_simulated  # type: ignore[attr-defined]
    module.backends = backends  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "netwarden.agent.simulated", module)
    yield calls


def test_exactly_one_backend_is_required() -> None:
    base = ["agent", "--server", "http://127.0.0.1:9", "--cluster-token", "t"]
    for extra in ([], ["--simulate", "t.yaml", "--in-cluster"]):
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2
        assert "choose one of --simulate, --kubeconfig, --in-cluster" in result.output


def test_a_refused_token_exits_non_zero_with_a_message(
    server: ServerProcess, tmp_path: Path, simulated: list[tuple[str, str, int | None]]
) -> None:
    args = ["agent", "--server", server.url, "--cluster-token", "not-a-token",
            "--simulate", "topo.yaml", "--spool-dir", str(tmp_path)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "error: the server refused the cluster token" in result.output
    assert "revoked or expired" in result.output and "Traceback" not in result.output
    assert simulated == []  # stopped before building a backend


def test_sigterm_stops_the_agent_cleanly_and_keeps_the_spool(
    server: ServerProcess, tmp_path: Path, simulated: list[tuple[str, str, int | None]]
) -> None:
    fleet = make_cluster(server)
    spool = tmp_path / "spool"
    args = ["agent", "--server", server.url, "--cluster-token", fleet.token,
            "--simulate", "topo.yaml", "--seed", "7", "--spool-dir", str(spool)]  # fmt: skip
    module = sys.modules["netwarden.agent.simulated"]
    stopped_at: list[float] = []

    def terminate() -> None:
        wait_for(lambda: module.backends and module.backends[0].applies, what="an apply")
        wait_for(lambda: (spool / "agent-state.json").exists(), what="the state file")
        stopped_at.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)

    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    killer = threading.Thread(target=terminate)
    killer.start()
    try:
        result = runner.invoke(app, args)
    finally:
        killer.join(30)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - stopped_at[0] < 5  # no thread waited out a long poll
    assert "Agent stopped." in result.output
    assert simulated == [("topo.yaml", fleet.cluster, 7)]
    assert module.backends[0].closed
    assert (spool / "agent-state.json").exists()
    assert not [t for t in threading.enumerate() if t.name in ("agent-sync", "agent-sender")]
