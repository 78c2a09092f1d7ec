"""The demo's loop, end to end, in one process: the server, the fleet applied from
examples/fleet, three simulated clusters behind real agents. Applying the zero-trust
blueprint turns the unexpected traffic on prod into drops named by the blueprint's
policy within seconds, while the storefront's own traffic stays forwarded; staging (not
assigned) is untouched; the storefront's Workspace Admin sees only the flows that touch
the storefront."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from netwarden.agent.sync import Intervals
from netwarden.cli.demo_fleet import EXAMPLES, DemoFleet, DemoSettings
from netwarden.client.manifests import load_manifests
from netwarden.client.names import Names
from netwarden.client.planning import build_plan, execute
from netwarden.control.blueprint_spec import read_spec
from tests.api.conftest import free_port

EXFIL = {"source_pod": ["storefront/catalog"], "destination_ip": ["203.0.113.66"]}
SHOP = {"source_pod": ["storefront/frontend"], "destination_pod": ["storefront/catalog"]}
INGRESS = {"source_pod": ["ingress-nginx/"], "destination_pod": ["storefront/frontend"]}
PAYMENTS = {"source_pod": ["storefront/payments"], "destination_fqdn": ["api.stripe.com"]}
SCAN = {"source_pod": ["tools/scanner"]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFleet]:
    settings = DemoSettings(
        data_dir=tmp_path_factory.mktemp("demo") / "data",
        port=free_port(),
        rate=300.0,
        intervals=Intervals(heartbeat_s=1.0, drift_s=1.0),
    )
    with DemoFleet(settings) as fleet:
        yield fleet


def flows(fleet: DemoFleet, where: dict[str, list[str]], cluster: str, since: str,
          user: str = "admin") -> list[dict[str, Any]]:  # fmt: skip
    body = {"whitelist": [{**where, "node_name": [f"{cluster}/*"]}], "since": since,
            "limit": 200, "last": True}  # fmt: skip
    with fleet.client(user) as client:
        found: list[dict[str, Any]] = client.json("POST", "/api/v1/flows/query", json=body)["flows"]
    return [f["flow"] for f in found]


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def apply(fleet: DemoFleet, path: Path) -> None:
    loaded = load_manifests([str(path)], read_spec)
    assert not loaded.errors
    with fleet.client() as client:
        plan = build_plan(Names(client), loaded.resources, prune=False)
        assert not plan.errors
        execute(plan, dry_run=False)


def test_the_blueprint_turns_unexpected_traffic_into_named_drops(demo: DemoFleet) -> None:
    for cluster in demo.clusters:
        seen = eventually(lambda c=cluster: flows(demo, EXFIL, c, "1m"))
        assert seen and {f["verdict"] for f in seen} == {"FORWARDED"}, cluster
    applied_at = time.time()
    apply(demo, EXAMPLES / "blueprints" / "zero-trust.yaml")

    def dropped(cluster: str) -> list[dict[str, Any]]:
        recent = flows(demo, {**EXFIL, "verdict": ["DROPPED"]}, cluster, "20s")
        return [f for f in recent if f.get("egress_denied_by")]

    for cluster in ("prod-eu", "prod-us"):  # the EU wave first, then the rest
        drops = eventually(lambda c=cluster: dropped(c))
        assert drops, f"no named drop on {cluster}"
        names = {p["name"] for f in drops for p in f["egress_denied_by"]}
        assert "default-deny" in names
        assert drops[0]["drop_reason_desc"] == "POLICY_DENIED"
    took = time.time() - applied_at
    assert took < 30
    enforced = datetime.now(UTC).isoformat()  # both clusters hold the blueprint now
    time.sleep(4)
    for cluster in ("prod-eu", "prod-us"):
        for allowed in (SHOP, INGRESS, PAYMENTS):  # the blueprint allows these
            seen = flows(demo, allowed, cluster, enforced)
            assert seen and {f["verdict"] for f in seen} == {"FORWARDED"}, (cluster, allowed)
        scans = flows(demo, SCAN, cluster, enforced)
        assert scans and {f["verdict"] for f in scans} == {"DROPPED"}, cluster
    staging = eventually(lambda: flows(demo, EXFIL, "staging", "20s"))  # not in the waves
    assert staging and {f["verdict"] for f in staging} == {"FORWARDED"}
    with demo.client() as client:
        waves = client.json("GET", "/api/v1/rollout")["items"]
    assert {w["cluster"]: w["state"] for w in waves}["prod-eu"] == "synced"


def test_the_workspace_admin_sees_only_the_storefront(demo: DemoFleet) -> None:
    body = {"since": "1m", "limit": 500, "last": True}
    with demo.client("wanda") as client:
        seen = client.json("POST", "/api/v1/flows/query", json=body)["flows"]
    assert seen
    for doc in seen:
        flow = doc["flow"]
        namespaces = {flow.get("source", {}).get("namespace"),
                      flow.get("destination", {}).get("namespace")}  # fmt: skip
        assert "storefront" in namespaces, flow
    with demo.client() as client:
        everything = client.json("POST", "/api/v1/flows/query", json=body)["flows"]
    assert any(
        "storefront" not in {d["flow"].get("source", {}).get("namespace"),
                             d["flow"].get("destination", {}).get("namespace")}
        for d in everything
    )  # fmt: skip
