"""How the server serves the console (no browser): the SPA fallback never hides an API
404, assets are cached, pages carry the security headers; the dry-run validation routes
(policies, blueprints) answer located errors and are authorized; the console's API types
are current."""

from __future__ import annotations

import httpx
import pytest
from scripts.gen_web_api import main as gen_web_api

from netwarden.cli.demo_fleet import EXAMPLES, DemoFleet
from tests.console.conftest import WEB

BROKEN = """apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: storefront}
spec:
  endpointSelector: {matchLabels: {app: frontend}}
  ingress:
  - toPorts:
    - ports: [{port: "80", protocol: TPC}]
"""
VALID = BROKEN.replace("TPC", "TCP")


def test_deep_links_get_the_app_and_api_paths_stay_problems(demo: DemoFleet) -> None:
    index = (WEB / "dist" / "index.html").read_text()
    for path in ("/", "/fleet", "/policies/some-id", "/flows?x=1"):
        page = httpx.get(demo.url + path)
        assert page.status_code == 200 and page.text == index, path
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-cache"
    for path in ("/api/v1/nothing", "/api", "/metrics/x", "/docs/nope"):
        missing = httpx.get(demo.url + path)
        assert missing.status_code == 404, path
        assert missing.headers["content-type"] == "application/problem+json", path
    asset = next((WEB / "dist" / "assets").glob("*.js")).name
    served = httpx.get(f"{demo.url}/assets/{asset}")
    assert served.status_code == 200
    assert "immutable" in served.headers["cache-control"]
    assert httpx.get(f"{demo.url}/assets/../index.html").status_code in (200, 404)
    assert httpx.get(f"{demo.url}/favicon.svg").headers["content-type"].startswith("image/svg")


def _cluster_id(demo: DemoFleet, name: str) -> str:
    with demo.client() as client:
        found = client.json("GET", "/api/v1/clusters")["items"]
    return str(next(c["id"] for c in found if c["name"] == name))


def _validate(demo: DemoFleet, token: str, yaml: str, cluster: str) -> httpx.Response:
    return httpx.post(
        f"{demo.url}/api/v1/policies/validate",
        json={"yaml": yaml, "cluster": cluster},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_validation_locates_errors_for_the_editor(demo: DemoFleet) -> None:
    prod_eu = _cluster_id(demo, "prod-eu")
    answer = _validate(demo, demo.tokens["wanda"], BROKEN, prod_eu)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert error["line"] == 8
    assert error["field"] == "spec.ingress[0].toPorts[0].ports[0].protocol"
    assert "TPC" in error["message"]
    ok = _validate(demo, demo.tokens["wanda"], VALID, prod_eu).json()
    assert ok["valid"] and ok["may_write"] and ok["namespace"] == "storefront"
    elsewhere = VALID.replace("namespace: storefront", "namespace: kube-system")
    assert _validate(demo, demo.tokens["wanda"], elsewhere, prod_eu).json()["may_write"] is False
    # walter (Workspace Viewer) may validate but not write
    assert _validate(demo, demo.tokens["walter"], VALID, prod_eu).json()["may_write"] is False


@pytest.mark.parametrize(
    ("who", "status"),
    [("nobody", 401), ("agent", 403), ("unknown-cluster", 404)],
)
def test_validation_is_authorized(demo: DemoFleet, who: str, status: int) -> None:
    prod_eu = _cluster_id(demo, "prod-eu")
    if who == "nobody":
        answer = httpx.post(
            f"{demo.url}/api/v1/policies/validate", json={"yaml": VALID, "cluster": prod_eu}
        )
    elif who == "agent":
        with demo.client() as client:
            token = client.create_agent_token(prod_eu, name="validate test")["token"]
        answer = _validate(demo, token, VALID, prod_eu)
    else:
        answer = _validate(demo, demo.tokens["wanda"], VALID, "no-such-cluster")
    assert answer.status_code == status, answer.text


# Validated, never written: a blueprint on every cluster of shop, staging first.
BLUEPRINT = """apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {name: validate-only}
spec:
  assign:
    clusterSelector: {matchLabels: {region: eu}}
    clusters: [prod-us]
  rollout:
    waves:
    - {name: first, clusterSelector: {matchLabels: {env: staging}}}
    - {name: rest}
  clusterPolicies:
  - apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {name: allow-dns}
    spec:
      endpointSelector: {}
      egress:
      - toEndpoints: [{matchLabels: {k8s:k8s-app: kube-dns}}]
        toPorts:
        - ports: [{port: "53", protocol: ANY}]
"""


def _validate_blueprint(demo: DemoFleet, user: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(
        f"{demo.url}/api/v1/blueprints/validate",
        json=body,
        headers={"Authorization": f"Bearer {demo.tokens[user]}"},
    )


def test_blueprint_validation_locates_errors_and_says_where_it_goes(demo: DemoFleet) -> None:
    with demo.client() as client:
        shop = next(p["id"] for p in client.json("GET", "/api/v1/projects")["items"])
        zero_trust = next(b for b in client.list_blueprints() if b["name"] == "zero-trust")
    broken = BLUEPRINT.replace("protocol: ANY", "protocol: TPC")
    answer = _validate_blueprint(demo, "ivan", {"yaml": broken, "project": shop})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert error["field"] == "spec.clusterPolicies[0].spec.egress[0].toPorts[0].ports[0].protocol"
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "TPC" in text)
    assert error["line"] == line, error

    ok = _validate_blueprint(demo, "ivan", {"yaml": BLUEPRINT, "project": shop}).json()
    assert ok["valid"] and ok["may_write"] and ok["name"] == "validate-only", ok
    assert ok["version"] == 1 and ok["blueprint"] is None and ok["cluster_policies"] == 1, ok
    assert [c["name"] for c in ok["assigned"]] == ["prod-eu", "prod-us", "staging"], ok
    assert {c["name"]: c["production"] for c in ok["reached"]} == {
        "prod-eu": True,
        "prod-us": True,
        "staging": False,
    }, ok
    assert ok["waves"] == [
        {"name": "first", "clusters": ["staging"]},
        {"name": "rest", "clusters": ["prod-eu", "prod-us"]},
    ], ok
    assert ok["preview_required"] is True
    # An Infra Viewer may validate but not write; roles without blueprints are refused.
    iris = _validate_blueprint(demo, "iris", {"yaml": BLUEPRINT, "project": shop})
    assert iris.status_code == 200 and iris.json()["may_write"] is False, iris.text
    for user in ("paula", "wanda"):
        refused = _validate_blueprint(demo, user, {"yaml": BLUEPRINT, "project": shop})
        assert refused.status_code == 403, (user, refused.text)
    unknown = _validate_blueprint(demo, "admin", {"yaml": BLUEPRINT, "project": "nope"})
    assert unknown.status_code == 404, unknown.text

    # A new blueprint may not take an existing name; a new version keeps its name.
    taken = (EXAMPLES / "blueprints" / "zero-trust.yaml").read_text()
    answer = _validate_blueprint(demo, "admin", {"yaml": taken, "project": shop})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "metadata.name"
    renamed = {"yaml": BLUEPRINT, "blueprint": zero_trust["id"]}
    answer = _validate_blueprint(demo, "admin", renamed)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "metadata.name"
    again = _validate_blueprint(demo, "admin", {"yaml": taken, "blueprint": zero_trust["id"]})
    assert again.status_code == 200, again.text
    assert again.json()["version"] == zero_trust["version"] + 1, again.text


def test_the_console_api_types_match_the_server() -> None:
    assert gen_web_api(["--check"]) == 0, "run `make docs` to regenerate web/src/api/schema.d.ts"
