"""The console in a real headless Chromium against the running demo: what each role sees
(and that the API refuses what it hides), the located error of a bad edit, the
blueprint's rollout, a dropped flow and the policy that dropped it; the fleet page's first
render and the live table's throughput. The scenarios share one demo: their order here
matters (a later one sees what an earlier one changed). Screenshots go to
test-artifacts/console/; the figures to test-artifacts/console/figures.json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netwarden.cli.demo_fleet import EXAMPLES, DemoFleet
from netwarden.client.http import ApiError, NetwardenClient
from tests.console.conftest import ARTIFACTS, run_scenario
from tests.e2e.test_demo_loop import apply, eventually

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


def test_workspace_admin_accepts_a_recommendation_and_stages_then_promotes_a_policy(
    demo: DemoFleet,
) -> None:
    result = run_scenario(demo, "author")
    checks = result["checks"]
    assert "the recommendation is accepted on prod-eu (with the preview's token)" in checks
    assert "the YAML the form writes is valid for the engine" in checks
    assert "YAML the form cannot show keeps the form read-only and says why" in checks
    assert any(c.startswith("flows are marked by the staged version") for c in checks)
    assert "promoted in one step: version 2 is enforced" in checks
    assert "the promoted policy is no longer staged: version 2 by wanda" in checks
    # What the browser did went through the API: the server holds it.
    with demo.client("wanda") as client:
        items = client.json("GET", "/api/v1/policies", params={"namespace": "storefront"})["items"]
    names = {p["name"]: p for p in items}
    assert names["netwarden-rec-catalog"]["version"] >= 1
    promoted = names["frontend-from-ingress"]
    assert promoted["version"] == 2 and not promoted["staged"], promoted


def test_admin_pauses_resumes_and_promotes_a_rollout(demo: DemoFleet, tmp_path: Path) -> None:
    # A new version of the zero-trust blueprint that soaks an hour after each wave: its
    # rollout stays in the first wave until someone releases the next.
    text = (EXAMPLES / "blueprints" / "zero-trust.yaml").read_text()
    slow = text.replace("  rollout:\n", "  rollout:\n    soakSeconds: 3600\n", 1)
    assert slow != text
    path = tmp_path / "zero-trust-soak.yaml"
    path.write_text(slow)
    apply(demo, path)
    with demo.client() as client:
        blueprints = client.json("GET", "/api/v1/blueprints")["items"]
        bp = next(b for b in blueprints if b["name"] == "zero-trust")

        def soaking() -> bool:
            doc = client.json("GET", f"/api/v1/blueprints/{bp['id']}/rollout")
            return bool(doc["state"] == "progressing" and doc["wave"] == "eu")

        assert eventually(soaking), "the soaking rollout did not start"
    result = run_scenario(demo, "rollout")
    assert "the rollout is paused by admin" in result["checks"]
    with demo.client() as client:
        doc = client.json("GET", f"/api/v1/blueprints/{bp['id']}/rollout")
        audit = client.json("GET", "/api/v1/audit", params={"limit": 20})["items"]
    assert doc["wave"] == "rest" or doc["state"] == "completed", doc
    actions = {a["action"] for a in audit}
    assert {"rollout-pause", "rollout-resume", "rollout-promote"} <= actions, actions


# --- each role -------------------------------------------------------------------------

# The console's pages and the demo user of each role with the pages that role may use
# (DESIGN.md's roles table, control/rbac.py): the scenario checks the navigation against
# this, and the test checks it against the API.
ALL_PAGES = (
    "Fleet",
    "Policies",
    "Recommendations",
    "Blueprints",
    "Flows",
    "Service map",
    "Audit log",
)
CLUSTER_WIDE = {"Fleet", "Policies", "Blueprints", "Flows", "Service map"}
NAMESPACED = {"Fleet", "Policies", "Recommendations", "Flows", "Service map"}
ROLES = {
    "admin": ("Org Admin", set(ALL_PAGES)),
    "olga": ("Org Viewer", set(ALL_PAGES)),
    "ivan": ("Infra Admin", CLUSTER_WIDE),
    "iris": ("Infra Viewer", CLUSTER_WIDE),
    "paula": ("Project Admin", NAMESPACED),
    "peter": ("Project Viewer", NAMESPACED),
    "wanda": ("Workspace Admin", NAMESPACED),
    "walter": ("Workspace Viewer", NAMESPACED),
}
WRITES_CLUSTER_WIDE = {"admin", "ivan"}  # policies of cluster-wide kinds, blueprints
WRITES_NAMESPACED = {"admin", "paula", "wanda"}  # storefront's policies
# A stored cluster-wide policy on staging that selects no workload (it changes nothing):
# something for the Infra roles to list and open.
PROBE_CCNP = """apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: console-probe}
spec:
  endpointSelector: {matchLabels: {app: no-such-workload}}
  ingress:
  - fromEntities: [cluster]
"""
STOREFRONT_CNP = """apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: console-probe, namespace: storefront}
spec:
  endpointSelector: {matchLabels: {app: no-such-workload}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: frontend}}]
"""


def status(client: NetwardenClient, method: str, path: str, **kwargs: Any) -> int:
    """The answer's status (the client raises on 4xx/5xx)."""
    try:
        return client.request(method, path, **kwargs).status_code
    except ApiError as error:
        return error.status


class DemoIds:
    """Ids the role checks need, read as admin once."""

    def __init__(self, demo: DemoFleet) -> None:
        with demo.client() as admin:
            self.clusters = {c["name"]: c["id"] for c in admin.list_clusters()}
            self.staging = self.clusters["staging"]
            found = admin.json("GET", "/api/v1/policies", params={"cluster": self.staging})
            existing = {p["name"]: p for p in found["items"]}
            probe = existing.get("console-probe") or admin.create_policy(
                self.staging, PROBE_CCNP, "console role checks: selects no workload"
            )
            self.probe_policy = probe["id"]
            self.storefront_policy = next(
                p["id"] for p in found["items"] if p["name"] == "allow-payment-provider"
            )
            self.zero_trust = next(b for b in admin.list_blueprints() if b["name"] == "zero-trust")
            self.zero_trust_yaml = admin.get_blueprint(self.zero_trust["id"])["yaml"]
            listing = admin.json(
                "GET",
                f"/api/v1/clusters/{self.staging}/namespaces/storefront/recommendations",
                params={"since": "7d", "min_learning": "0s"},
            )
            self.workload = next(
                w["workload"]
                for w in listing["workloads"]
                if w["status"] == "recommendation-available"
            )

    def page_status(self, client: NetwardenClient, page: str) -> int:
        """What the API answers the user for the data of ``page``."""
        rec = f"/api/v1/clusters/{self.staging}/namespaces/storefront/recommendations"
        probes: dict[str, tuple[str, str, dict[str, Any]]] = {
            "Fleet": ("GET", "/api/v1/clusters", {}),
            "Policies": ("GET", "/api/v1/policies", {}),
            "Recommendations": ("GET", rec, {"params": {"since": "1h", "min_learning": "0s"}}),
            "Blueprints": ("GET", f"/api/v1/blueprints/{self.zero_trust['id']}/rollout", {}),
            "Flows": ("POST", "/api/v1/flows/query", {"json": {"since": "1m", "limit": 1}}),
            "Service map": ("GET", "/api/v1/flows/service-map", {"params": {"since": "5m"}}),
            "Audit log": ("GET", "/api/v1/audit", {"params": {"limit": 1}}),
        }
        method, path, kwargs = probes[page]
        return status(client, method, path, **kwargs)


@pytest.fixture(scope="module")
def fleet_ids(demo: DemoFleet) -> Iterator[DemoIds]:
    yield DemoIds(demo)


def _display(policy: dict[str, Any]) -> str:
    return f"{policy['namespace']}/{policy['name']}" if policy["namespace"] else str(policy["name"])


def _expectations(demo: DemoFleet, ids: DemoIds, user: str) -> dict[str, Any]:
    """What the console should list for ``user``: what the API lets the user read."""
    role, pages = ROLES[user]
    with demo.client(user) as client:
        clusters = [c["name"] for c in client.list_clusters()]
        policies = client.json("GET", "/api/v1/policies", params={"limit": 500})["items"]
        blueprints = [b["name"] for b in client.list_blueprints()]
        namespaces = client.json("GET", f"/api/v1/clusters/{ids.staging}/namespaces")["items"]
        shown = [p for p in policies if p["id"] in (ids.probe_policy, ids.storefront_policy)]
        policy = None
        if shown:
            full = client.get_policy(shown[0]["id"])
            check = {"yaml": full["yaml"], "cluster": full["cluster"]}
            may_write = client.json("POST", "/api/v1/policies/validate", json=check)["may_write"]
            policy = {"id": full["id"], "display": _display(full), "may_write": may_write}
    workspace_only = role.startswith("Workspace")
    return {
        "role": role,
        "pages": sorted(pages),
        "clusters": clusters,
        "policies": [_display(p) for p in policies],
        "policy": policy,
        "blueprints": blueprints,
        "blueprint": {"id": ids.zero_trust["id"], "name": "zero-trust"},
        "recommendation": {
            "cluster": "staging",
            "cluster_id": ids.staging,
            "namespace": "storefront",
            "namespaces": [n["name"] for n in namespaces],
            "workload": ids.workload,
        },
        "writes": {
            "policies": user in WRITES_CLUSTER_WIDE | WRITES_NAMESPACED,
            "namespace": user in WRITES_NAMESPACED,
            "blueprints": user in WRITES_CLUSTER_WIDE,
        },
        "flows_touch": "storefront" if workspace_only else None,
    }


@pytest.mark.parametrize("user", list(ROLES))
def test_each_role_sees_what_the_api_allows_and_nothing_it_refuses(
    demo: DemoFleet, fleet_ids: DemoIds, user: str
) -> None:
    """Runs after the rollout scenario: zero-trust's rollout is still in progress (it
    soaks an hour), so the rollout controls are there for writers to be seen."""
    ids = fleet_ids
    expect = _expectations(demo, ids, user)
    # The expectations are the API's: check them against the roles table too, so that a
    # console and an API that both got a role wrong cannot agree.
    role, pages = ROLES[user]
    if role.startswith("Workspace"):
        assert set(expect["recommendation"]["namespaces"]) == {"storefront"}, expect
        assert all(p.startswith("storefront/") for p in expect["policies"]), expect
    if role.startswith("Infra"):
        assert all("/" not in p for p in expect["policies"]), expect  # cluster-wide only
        assert "zero-trust" in expect["blueprints"], expect
    if role.startswith("Project"):
        assert expect["policies"] and all("/" in p for p in expect["policies"]), expect
    assert sorted(expect["clusters"]) == ["prod-eu", "prod-us", "staging"], expect
    assert expect["policy"] is not None, expect

    result = run_scenario(demo, "roles", NETWARDEN_USER=user, NETWARDEN_EXPECT=json.dumps(expect))
    seen = result["metrics"]
    assert set(seen["nav"]) == pages, seen
    assert set(seen["not_available"]) == set(ALL_PAGES) - pages, seen

    # No page reveals what the API would refuse, and what a page shows the API allows.
    with demo.client(user) as client:
        for page in ALL_PAGES:
            answer = ids.page_status(client, page)
            if page in pages:
                assert answer == 200, (user, page, answer)
            else:
                assert answer in (403, 404), (user, page, answer)

        # New policy: a draft of a kind the role writes validates as writable; for the
        # others, creating either kind on staging is refused.
        drafts = {"cluster-wide": PROBE_CCNP.replace("console-probe", "console-draft")}
        drafts["namespace"] = STOREFRONT_CNP.replace("console-probe", "console-draft")
        for scope, text in drafts.items():
            writes = user in (WRITES_CLUSTER_WIDE if scope == "cluster-wide" else WRITES_NAMESPACED)
            body = {"yaml": text, "cluster": ids.staging}
            validated = client.json("POST", "/api/v1/policies/validate", json=body)
            assert validated["may_write"] is writes, (user, scope, validated)
            if not writes:
                create = f"/api/v1/clusters/{ids.staging}/policies"
                answer = status(client, "POST", create, json={"yaml": text, "message": "no"})
                assert answer == 403, (user, scope, answer)
        assert seen["new_policy"] is (user in WRITES_CLUSTER_WIDE | WRITES_NAMESPACED), seen

        # Edit: shown exactly when the server would take a new version.
        policy = expect["policy"]
        if seen["edit_tab"]:
            assert policy["may_write"], (user, policy)
        else:
            current = client.get_policy(policy["id"])
            body = {"yaml": current["yaml"], "message": "refused"}
            answer = status(client, "PUT", f"/api/v1/policies/{policy['id']}", json=body)
            assert answer == 403, (user, policy, answer)

        # Rollout controls: writers may make the change (its preview is theirs to ask);
        # for readers who see the rollout, pausing it is refused.
        if "Blueprints" in pages:
            assert seen["rollout_state"] in ("progressing", "paused"), seen
            bp = ids.zero_trust["id"]
            if seen["rollout_controls"]:
                assert user in WRITES_CLUSTER_WIDE, seen
                preview = {"blueprint_yaml": ids.zero_trust_yaml}
                answer = status(client, "POST", "/api/v1/blueprints/preview", json=preview)
                assert answer == 200, (user, answer)
            else:
                assert user not in WRITES_CLUSTER_WIDE, seen
                answer = status(client, "POST", f"/api/v1/blueprints/{bp}/rollout/pause")
                assert answer == 403, (user, answer)
            # Rollback and deletion: offered exactly to writers; refused to the others.
            assert seen["rollback"] is seen["delete"] is (user in WRITES_CLUSTER_WIDE), seen
            if not seen["delete"]:
                rollback = {"version": 1, "message": "refused"}
                answer = status(client, "POST", f"/api/v1/blueprints/{bp}/rollback", json=rollback)
                assert answer == 403, (user, answer)
                assert status(client, "DELETE", f"/api/v1/blueprints/{bp}") == 403, user

        # Accept a recommendation: disabled exactly when the accept would be refused.
        if "Recommendations" in pages:
            rec = f"/api/v1/clusters/{ids.staging}/namespaces/storefront/recommendations"
            if seen["accept"] == "disabled":
                assert user not in WRITES_NAMESPACED, seen
                body = {"since": "7d", "min_learning": "0s", "format": "cilium"}
                answer = status(client, "POST", f"{rec}/{ids.workload}/accept", json=body)
                assert answer == 403, (user, answer)
            else:
                assert user in WRITES_NAMESPACED, seen
                params = {"since": "7d", "min_learning": "0s"}
                found = client.json("GET", f"{rec}/{ids.workload}", params=params)
                body = {"yaml": found["yaml"], "cluster": ids.staging}
                validated = client.json("POST", "/api/v1/policies/validate", json=body)
                assert validated["may_write"], (user, validated)


# --- publish a blueprint and see the rollout ------------------------------------------

# A blueprint that changes no verdict, so the scenarios after it see the same traffic:
# payments (the only storefront workload every cluster's own allow-payment-provider
# already selects) may reach kube-dns on 53 with the DNS proxy, exactly as that policy
# already allows, and no direction becomes default deny. It reaches production, so
# publishing it needs the preview's token; staging goes first.
PAYMENTS_DNS = """apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {name: payments-dns}
spec:
  assign:
    clusters: [staging, prod-eu, prod-us]
  rollout:
    waves:
    - {name: staging, clusterSelector: {matchLabels: {env: staging}}}
    - {name: prod}
  clusterPolicies:
  - apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {name: payments-dns}
    spec:
      endpointSelector:
        matchLabels: {app: payments, k8s:io.kubernetes.pod.namespace: storefront}
      enableDefaultDeny: {egress: false, ingress: false}
      egress:
      - toEndpoints:
        - matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns}
        toPorts:
        - ports: [{port: "53", protocol: ANY}]
          rules: {dns: [{matchPattern: "*"}]}
"""


def test_admin_publishes_a_blueprint_and_sees_the_rollout(demo: DemoFleet) -> None:
    result = run_scenario(demo, "blueprint", NETWARDEN_BLUEPRINT=PAYMENTS_DNS)
    checks = result["checks"]
    assert any(c.startswith("the error is located at line") for c in checks), checks
    assert "the blueprint denies nothing that flows today" in checks
    assert "staging went first, then prod-eu and prod-us" in checks
    views = result["metrics"]["rollout_v1"]
    assert views[0]["state"] == "progressing" and views[-1]["state"] == "completed", views
    record("blueprint_rollout_s", round((views[-1]["at_ms"] - views[0]["at_ms"]) / 1000, 1))
    # What the browser did went through the API: the server holds it, every cluster has it.
    with demo.client() as client:
        bp = next(b for b in client.list_blueprints() if b["name"] == "payments-dns")
        assert bp["version"] == 2 and bp["released_version"] == 2, bp
        rollout = client.json("GET", f"/api/v1/blueprints/{bp['id']}/rollout")
        assert rollout["state"] == "completed" and rollout["version"] == 2, rollout
        states = {c["cluster"]: c["state"] for w in rollout["waves"] for c in w["clusters"]}
        assert states == dict.fromkeys(("staging", "prod-eu", "prod-us"), "synced"), states
        for name, cluster in client_clusters(client).items():
            desired = client.json("GET", f"/api/v1/clusters/{cluster}/desired-state")
            held = {o["metadata"]["name"] for o in desired["objects"]}
            assert "payments-dns" in held, (name, sorted(held))
        audit = client.json("GET", "/api/v1/audit", params={"limit": 50})["items"]
    mine = [(a["action"], a["actor"]) for a in audit if a["name"] == "payments-dns"]
    assert ("create", "admin") in mine and ("update", "admin") in mine, mine


def test_admin_stages_promotes_rolls_back_and_deletes_a_blueprint(demo: DemoFleet) -> None:
    """After the blueprint scenario (payments-dns at version 2 everywhere): a staged
    version 3, promoted as 4, rolled back to 2 as 5, deleted as 6, each from the console.
    payments-dns changes no verdict, so the scenarios after it see the same traffic."""
    with demo.client() as client:
        bp = next(b for b in client.list_blueprints() if b["name"] == "payments-dns")
        assert bp["version"] == 2 and not bp["staged"], bp
        # What the console's preview step is for: a rollback reaching production without
        # a preview's token is refused, and leaves nothing.
        path = f"/api/v1/blueprints/{bp['id']}/rollback"
        assert status(client, "POST", path, json={"version": 1}) == 428
        assert client.get_blueprint(bp["id"])["version"] == 2
    result = run_scenario(demo, "lifecycle", NETWARDEN_BLUEPRINT_NAME="payments-dns")
    checks = result["checks"]
    assert any(c.startswith("flows are marked by the staged blueprint") for c in checks), checks
    assert "the promoted version went out in the waves: staging, then prod-eu and prod-us" in checks
    assert "the rollback went out in the waves: staging, then prod-eu and prod-us" in checks
    assert any(c.startswith("the deletion names every cluster it reaches") for c in checks)
    assert "staging, prod-eu and prod-us each report the deletion synced" in checks
    rolled = result["metrics"]["rollout_rollback"]
    assert rolled[0]["state"] == "progressing" and rolled[-1]["state"] == "completed", rolled

    # What the browser did went through the API: the server holds it and audited it.
    with demo.client() as client:
        doc = client.get_blueprint(bp["id"])
        assert doc["deleted"] and doc["version"] == 6 and doc["released_version"] == 6, doc
        listed = client.json("GET", f"/api/v1/blueprints/{bp['id']}/versions")["items"]
        texts = {v["version"]: v for v in listed}
        assert texts[3]["yaml"] == texts[4]["yaml"] != texts[2]["yaml"], "promoted as staged"
        assert texts[5]["yaml"] == texts[2]["yaml"], "the rollback restores version 2's YAML"
        assert texts[5]["message"] == "back to version 2: any name through kube-dns", texts[5]
        assert texts[6]["yaml"] == "", texts[6]
        for name, cluster in client_clusters(client).items():
            desired = client.json("GET", f"/api/v1/clusters/{cluster}/desired-state")
            held = {o["metadata"]["name"] for o in desired["objects"]}
            assert "payments-dns" not in held, (name, sorted(held))
            assert not desired["staged"], (name, desired["staged"])
        audit = client.json("GET", "/api/v1/audit", params={"limit": 500})["items"]
    writes = {"create", "update", "promote", "delete"}
    written = {
        a["after"]["version"]: a
        for a in audit
        if (a["kind"], a["name"], a["outcome"]) == ("blueprint", "payments-dns", "allowed")
        and a["action"] in writes
    }
    assert written[3]["action"] == "update" and written[3]["after"].get("staged"), written[3]
    assert "rollout" not in written[3]["after"], "a staged version starts no rollout"
    promoted = written[4]["after"]
    assert written[4]["action"] == "promote" and promoted["promoted_version"] == 3, promoted
    assert promoted["staged_preview"]["flows"]["allow"] > 0, promoted["staged_preview"]
    waves = [{"wave": "staging", "clusters": 1}, {"wave": "prod", "clusters": 2}]
    assert promoted["rollout"] == waves, promoted
    rollback = written[5]
    assert rollback["action"] == "update" and rollback["actor"] == "admin", rollback
    assert rollback["after"]["yaml"] == texts[2]["yaml"] and rollback["after"]["rollout"] == waves
    assert rollback["after"]["clusters_changed"] == 1, "released to the first wave (staging)"
    deletion = written[6]
    assert deletion["action"] == "delete" and deletion["actor"] == "admin", deletion
    assert "rollout" not in deletion["after"], "a deletion reaches every cluster at once"
    assert deletion["after"]["clusters_changed"] == 3, "removed from all three at once"


def test_infra_admin_writes_cluster_wide_kinds_with_the_forms(demo: DemoFleet) -> None:
    result = run_scenario(demo, "forms")
    checks = result["checks"]
    kinds = ("CiliumClusterwideNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy")
    for kind in kinds:
        assert f"the {kind} the form writes is valid for the engine" in checks, checks
    readonly = [c for c in checks if c.startswith("YAML the form cannot show (")]
    assert len(readonly) == 2, checks  # the Cilium and the admin form
    assert "the picture draws each rule's action (allow, deny, pass)" in checks
    # The forms only wrote drafts: nothing of them is stored.
    with demo.client("ivan") as client:
        stored = {p["name"] for p in client.json("GET", "/api/v1/policies")["items"]}
    assert not stored & {"payments-egress", "storefront-guard", "default"}, stored


def client_clusters(client: NetwardenClient) -> dict[str, str]:
    return {c["name"]: c["id"] for c in client.list_clusters()}


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
    # The rates are figures (docs), not thresholds. A reader slower than the flood loses
    # flows on the server by design (bounded buffers never slow ingestion); the page
    # must then say so, which the scenario checks.
    if figures["lost"]:
        assert "the page says how many flows the server dropped" in result["checks"], figures
