"""The console in a real headless Chromium against the running demo: what each role sees,
the located error of a bad edit, the blueprint's rollout, a dropped flow and the policy
that dropped it; the fleet page's first render and the live table's throughput.
Screenshots go to test-artifacts/console/; the figures to test-artifacts/console/figures.json."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netwarden.cli.demo_fleet import DemoFleet
from tests.console.conftest import ARTIFACTS, run_scenario

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FIGURES: dict[str, Any] = {}
FLOOD_PER_CLUSTER = 2000.0  # flows/s each simulated cluster generates during the measurement


def record(name: str, value: Any) -> None:
    FIGURES[name] = value
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "figures.json").write_text(json.dumps(FIGURES, indent=2) + "\n")


def test_admin_sees_every_page_the_rollout_and_who_dropped_a_flow(demo: DemoFleet) -> None:
    result = run_scenario(demo, "admin")
    assert "admin does not see" not in " ".join(result["checks"])
    assert "default-deny (from the blueprint) dropped it" in result["checks"]
    first_render = result["metrics"]["fleet_first_render_ms"]
    record("fleet_first_render_ms", first_render)
    assert max(first_render) < 3000, first_render


def test_workspace_admin_sees_her_scope_only_and_gets_located_errors(demo: DemoFleet) -> None:
    result = run_scenario(demo, "wanda")
    checks = result["checks"]
    assert "wanda does not see Blueprints" in checks
    assert "wanda does not see Audit log" in checks
    assert "/audit is not available to wanda" in checks
    assert any(c.startswith("the error is located at line") for c in checks)
    assert "the field is marked" in checks
    assert any(c.startswith("every live flow wanda sees touches storefront") for c in checks)


def test_the_live_table_keeps_up_with_a_flood(demo: DemoFleet) -> None:
    for running in demo.agents.values():
        running.backend.set_rate(FLOOD_PER_CLUSTER)
    try:
        result = run_scenario(demo, "throughput", NETWARDEN_WINDOW_S="10")
    finally:
        for running in demo.agents.values():
            running.backend.set_rate(200.0)
    figures = result["metrics"]
    record("live_table", {**figures, "generated_per_s": FLOOD_PER_CLUSTER * len(demo.agents)})
    assert figures["lost"] == 0, figures
    assert figures["rendered_per_s"] >= 0.95 * figures["received_per_s"], figures
