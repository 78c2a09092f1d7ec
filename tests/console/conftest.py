"""The web console against a running demo: the server (serving web/dist), the fleet of
examples/fleet, three simulated clusters behind real agents, the zero-trust blueprint
applied. Browser scenarios run in Debian's Chromium through playwright-core
(web/e2e/console.mjs); `make test` installs Chromium and the npm packages first."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netwarden.agent.sync import Intervals
from netwarden.cli.demo_fleet import EXAMPLES, DemoFleet, DemoSettings
from tests.api.conftest import free_port
from tests.e2e.test_demo_loop import apply, eventually, flows

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
DRIVER = WEB / "e2e" / "console.mjs"
ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCENARIO_TIMEOUT_S = 240


def _require_tools() -> None:
    """Fail (not skip) with the fix: CI must run the browser tests."""
    if not (WEB / "dist" / "index.html").is_file():
        pytest.fail("the console is not built: run `make web` (make test does)")
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        pytest.fail("web/node_modules is missing: run `make web` (npm ci)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed to drive the browser (playwright-core)")


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFleet]:
    _require_tools()
    settings = DemoSettings(
        data_dir=tmp_path_factory.mktemp("console") / "data",
        port=free_port(),
        rate=200.0,
        intervals=Intervals(heartbeat_s=1.0, drift_s=1.0),
    )
    with DemoFleet(settings) as fleet:
        apply(fleet, EXAMPLES / "blueprints" / "zero-trust.yaml")
        drops = {"source_pod": ["tools/scanner"], "verdict": ["DROPPED"]}
        assert eventually(lambda: flows(fleet, drops, "prod-eu", "20s")), (
            "no drop after the blueprint"
        )
        yield fleet


def run_scenario(demo: DemoFleet, name: str, **env: str) -> dict[str, Any]:
    """Run one browser scenario; its checks and figures, or the test fails with them."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "NETWARDEN_URL": demo.url,
        "NETWARDEN_TOKENS": json.dumps(demo.tokens),
        "NETWARDEN_ARTIFACTS": str(ARTIFACTS),
        "CHROMIUM": CHROMIUM,
        **env,
    }
    started = time.monotonic()
    done = subprocess.run(
        ["node", str(DRIVER), name],
        cwd=WEB,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT_S,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"scenario {name} printed no result:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["seconds"] = round(time.monotonic() - started, 1)
    assert result["ok"], (
        f"scenario {name} failed: {result.get('error')}\npassed: {result['checks']}"
    )
    assert done.returncode == 0, done.stderr
    return result
