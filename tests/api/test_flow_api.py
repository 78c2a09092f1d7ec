"""The flow API: every route authenticated, ingestion acknowledged and deduplicated,
queries and aggregations within the caller's scope, live tail over SSE, metrics."""

from __future__ import annotations

import gzip
import json
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from netwarden.api.flows import MAX_BATCH_BYTES
from netwarden.flows.flowencode import flow_to_json
from netwarden.model.flow import Flow, Verdict
from tests.api.conftest import auth
from tests.flows.samples import sample_lines
from tests.flows.test_service import TCP_SAMPLE, flow

OPEN_ROUTES = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def lines_of(*flows: Flow) -> str:
    return "\n".join(json.dumps({"flow": flow_to_json(f)}) for f in flows) + "\n"


def fleet() -> dict[str, str]:
    """c1: shop->db, web->db, db->shop (dropped); c2: shop->db."""
    return {
        "c1": lines_of(
            flow(1, "shop", "db"),
            flow(2, "web", "db"),
            flow(3, "db", "shop", verdict=Verdict.DROPPED),
        ),
        "c2": lines_of(flow(4, "shop", "db")),
    }


def push(client: TestClient, cluster: str, body: str | bytes, **headers: str) -> httpx.Response:
    return client.post(
        f"/api/v1/clusters/{cluster}/flows",
        content=body,
        headers={**auth(f"agent-{cluster}"), "Content-Type": "application/x-ndjson", **headers},
    )


@pytest.fixture
def loaded(client: TestClient) -> TestClient:
    for cluster, body in fleet().items():
        assert push(client, cluster, body).status_code == 200
    return client


def uuids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["flow"]["uuid"] for item in response.json()["flows"]]


# --- authentication on every route -------------------------------------------------------


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the API, from its OpenAPI document, but the open ones."""
    paths = app.openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path not in OPEN_ROUTES
        for method in operations
    ]


def test_every_route_rejects_a_caller_without_a_valid_token(app: FastAPI) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    routes = api_routes(app)
    assert len(routes) >= 10
    for method, template in routes:
        path = template.replace("{cluster}", "c1")
        for headers in ({}, auth("forged"), {"Authorization": "Basic abc"}):
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"] == "Bearer"


# --- ingestion ---------------------------------------------------------------------------


def test_agent_pushes_a_real_sample_and_gets_an_ack(client: TestClient) -> None:
    body = "\n".join(sample_lines(TCP_SAMPLE))
    first = push(client, "c1", gzip.compress(body.encode()), **{"Content-Encoding": "gzip"})
    assert first.status_code == 200, first.text
    ack = first.json()
    assert (ack["lines"], ack["stored"], ack["duplicates"], ack["cluster"]) == (400, 400, 0, "c1")
    again = push(client, "c1", body, **{"X-Netwarden-Batch": "b-7"})
    assert (again.json()["stored"], again.json()["duplicates"]) == (0, 400)
    assert again.json()["batch"] == "b-7"


def test_only_the_clusters_own_agent_may_push(client: TestClient) -> None:
    body = lines_of(flow(1, "a", "b"))
    for token in ("agent-c2", "org-admin", "ws-shop"):
        response = client.post("/api/v1/clusters/c1/flows", content=body, headers=auth(token))
        assert response.status_code == 403, token
        assert "c1" in response.json()["detail"]
    everything = client.get("/api/v1/flows", headers=auth("org-admin"))
    assert uuids(everything) == []


def test_bad_batches_get_clear_errors_and_good_lines_are_kept(client: TestClient) -> None:
    assert push(client, "c1", b"\x1f\x8bnot gzip", **{"Content-Encoding": "gzip"}).status_code == (
        400
    )
    assert push(client, "c1", "x", **{"Content-Encoding": "br"}).status_code == 415
    truncated = gzip.compress(lines_of(flow(1, "a", "b")).encode())[:-12]
    assert push(client, "c1", truncated, **{"Content-Encoding": "gzip"}).status_code == 400
    bomb = gzip.compress(b"\n" * (MAX_BATCH_BYTES + 1))  # 64 MiB + 1 of newlines: ~64 KiB
    too_big = push(client, "c1", bomb, **{"Content-Encoding": "gzip"})
    assert too_big.status_code == 413 and "decompressed" in too_big.json()["detail"]
    # Several gzip members (concatenated streams) are one body.
    two = gzip.compress(lines_of(flow(7, "a", "b")).encode()) + gzip.compress(
        lines_of(flow(8, "a", "b")).encode()
    )
    assert push(client, "c1", two, **{"Content-Encoding": "gzip"}).json()["stored"] == 2
    body = lines_of(flow(1, "a", "b")) + '{"flow": {"l4": {"TCP": {"source_port": "x"}}}}\n'
    ack = push(client, "c1", body).json()
    assert (ack["stored"], ack["error_count"]) == (1, 1)
    assert ack["errors"][0]["line"] == 2
    assert ack["errors"][0]["path"].startswith("flow.l4.TCP.source_port")


# --- scoped queries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("org-admin", {"uuid-1", "uuid-2", "uuid-3", "uuid-4"}),
        ("infra-c1", {"uuid-1", "uuid-2", "uuid-3"}),
        ("ws-shop", {"uuid-1", "uuid-3"}),  # shop->db and db->shop in c1, not c2's shop
        ("no-flows", set()),
        ("agent-c1", set()),  # an agent pushes; it reads nothing
    ],
)
def test_each_caller_sees_exactly_its_scope(
    loaded: TestClient, token: str, expected: set[str]
) -> None:
    assert set(uuids(loaded.get("/api/v1/flows", headers=auth(token)))) == expected
    body = {"whitelist": [], "limit": 100}
    found = loaded.post("/api/v1/flows/query", json=body, headers=auth(token))
    assert set(uuids(found)) == expected


def test_filters_cannot_widen_the_scope(loaded: TestClient) -> None:
    wide = json.dumps({"source_pod": ["web/"]})
    response = loaded.get("/api/v1/flows", params={"filter": wide}, headers=auth("ws-shop"))
    assert uuids(response) == []  # web->db is outside shop's scope whatever the filter
    response = loaded.get("/api/v1/flows", params={"filter": wide}, headers=auth("infra-c1"))
    assert uuids(response) == ["uuid-2"]


def test_hubble_filters_blacklist_order_and_last(loaded: TestClient) -> None:
    headers = auth("org-admin")
    dropped = json.dumps({"verdict": ["DROPPED"]})
    assert uuids(loaded.get("/api/v1/flows", params={"filter": dropped}, headers=headers)) == [
        "uuid-3"
    ]
    params: Any = {"exclude": json.dumps({"source_pod": ["shop/"]}), "order": "desc"}
    assert uuids(loaded.get("/api/v1/flows", params=params, headers=headers)) == [
        "uuid-3",
        "uuid-2",
    ]
    last = loaded.get("/api/v1/flows", params={"last": True, "limit": 2}, headers=headers)
    assert uuids(last) == ["uuid-3", "uuid-4"]


def test_bad_queries_are_located_problems(loaded: TestClient) -> None:
    headers = auth("org-admin")
    cases = [
        ({"filter": "{nope"}, "filter[0]"),
        ({"filter": json.dumps({"verdict": ["MAYBE"]})}, "filter[0]"),
        ({"exclude": "[1]"}, "exclude[0]"),
        ({"since": "yesterday"}, "since"),
    ]
    for params, field in cases:
        response = loaded.get("/api/v1/flows", params=params, headers=headers)
        assert response.status_code == 400, params
        problem = response.json()
        assert problem["status"] == 400 and problem["errors"][0]["field"] == field
        assert "Traceback" not in response.text
    response = loaded.get("/api/v1/flows", params={"limit": 0}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.limit"


# --- aggregations ------------------------------------------------------------------------

WINDOW = {"since": "2023-11-14T22:00:00Z", "until": "2023-11-14T23:00:00Z"}


def test_service_map_and_top_talkers_are_scoped(loaded: TestClient) -> None:
    edges = loaded.get("/api/v1/flows/service-map", params=WINDOW, headers=auth("ws-shop"))
    assert edges.status_code == 200, edges.text
    pairs = {
        (e["source"]["namespace"], e["destination"]["namespace"]) for e in edges.json()["edges"]
    }
    assert pairs == {("shop", "db"), ("db", "shop")}
    everything = loaded.get("/api/v1/flows/service-map", params=WINDOW, headers=auth("org-admin"))
    assert sum(e["flows"] for e in everything.json()["edges"]) == 4
    talkers = loaded.get("/api/v1/flows/top-talkers", params=WINDOW, headers=auth("infra-c1"))
    assert sum(t["flows"] for t in talkers.json()["talkers"]) == 3


def test_drops_world_and_policy_hits(loaded: TestClient) -> None:
    headers = auth("org-admin")
    drops = loaded.get("/api/v1/flows/drops", params=WINDOW, headers=headers).json()
    assert drops["by_reason"] == [{"reason": "POLICY_DENIED", "flows": 1}]
    assert drops["by_policy"][0]["flows"] == 1
    world = loaded.get("/api/v1/flows/world", params=WINDOW, headers=headers)
    assert world.json() == {"destinations": []}
    hits = loaded.get("/api/v1/flows/policy-hits", params=WINDOW, headers=headers)
    assert hits.json() == {"policies": []}
    scope = loaded.get("/api/v1/flows/scope", headers=auth("ws-shop")).json()
    assert scope == {"all": False, "clusters": [], "namespaces": ["c1/shop"]}


# --- metrics -----------------------------------------------------------------------------


def test_metrics_for_fleet_readers_only(loaded: TestClient) -> None:
    text = loaded.get("/metrics", headers=auth("org-admin"))
    assert text.status_code == 200
    assert 'hubble_drop_total{cluster="c1",destination_namespace="shop"' in text.text
    assert loaded.get("/metrics", headers=auth("ws-shop")).status_code == 403


# --- live tail over server-sent events ---------------------------------------------------


def read_events(url: str, token: str, want: int, out: list[dict[str, Any]]) -> None:
    with (
        httpx.Client(timeout=10) as http,
        http.stream("GET", url, headers=auth(token)) as response,
    ):
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                out.append({"event": kind, **json.loads(line[6:])})
                if len(out) >= want:
                    return


def test_live_tail_streams_new_flows_within_scope(live_server: str) -> None:
    got: list[dict[str, Any]] = []
    reader = threading.Thread(
        target=read_events, args=(f"{live_server}/api/v1/flows/stream", "ws-shop", 2, got)
    )
    reader.start()
    time.sleep(0.5)  # let the subscription start
    with httpx.Client(base_url=live_server, timeout=10) as http:
        for cluster, body in fleet().items():
            response = http.post(
                f"/api/v1/clusters/{cluster}/flows", content=body, headers=auth(f"agent-{cluster}")
            )
            assert response.status_code == 200
    reader.join(10)
    assert [(e["event"], e["flow"]["uuid"]) for e in got] == [
        ("flow", "uuid-1"),
        ("flow", "uuid-3"),
    ]
    assert got[0]["node_name"] == "c1/node-1"


def test_live_tail_tells_a_slow_reader_what_it_lost(live_server: str) -> None:
    got: list[dict[str, Any]] = []
    url = f"{live_server}/api/v1/flows/stream?buffer=2"
    with httpx.Client(base_url=live_server, timeout=10) as http:
        reader = threading.Thread(target=read_events, args=(url, "org-admin", 3, got))
        reader.start()
        time.sleep(0.5)
        body = lines_of(*(flow(100 + i, "a", "b") for i in range(5)))
        assert http.post("/api/v1/clusters/c1/flows", content=body, headers=auth("agent-c1"))
        reader.join(10)
    assert got[0] == {"event": "lost", "lost": 3}
    assert [e["flow"]["uuid"] for e in got[1:]] == ["uuid-103", "uuid-104"]
