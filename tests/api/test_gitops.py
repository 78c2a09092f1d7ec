"""GitOps: ``netwarden serve`` follows a real git repository (made with dulwich in a
temporary directory) and applies each new commit through its own HTTP API, on SQLite and
on PostgreSQL. Versions carry the commit, a bad commit applies nothing and keeps the last
good one, syncing a commit twice makes no version, and only org roles see the status."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from dulwich import porcelain
from dulwich.repo import Repo
from typer.testing import CliRunner

from netwarden.api.server import Server, Settings
from netwarden.cli.main import app as cli_app
from netwarden.client.gitops import FollowSettings, GitFollower
from netwarden.client.http import NetwardenClient
from tests.api.conftest import free_port
from tests.control.conftest import database_url  # noqa: F401 (fixture)

PROJECT = """\
apiVersion: netwarden.dev/v1
kind: Project
metadata: {name: shop}
---
apiVersion: netwarden.dev/v1
kind: Cluster
metadata: {name: prod, labels: {env: prod}}
spec: {project: shop}
---
apiVersion: netwarden.dev/v1
kind: Namespace
metadata: {name: web, labels: {team: web}}
spec: {cluster: prod}
"""
BLUEPRINT = """\
apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {name: day0}
spec:
  assign: {clusterSelector: {matchLabels: {env: prod}}}
  namespaceDefaults:
  - name: deny
    exclude: [kube-system]
    policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: default-deny}
      spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""
POLICY = """\
apiVersion: netwarden.dev/v1
kind: Policy
spec:
  cluster: prod
  manifest:
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {{name: {name}, namespace: web}}
    spec:
      podSelector: {{matchLabels: {{app: {name}}}}}
      ingress: [{{ports: [{{port: {port}}}]}}]
"""
BAD_POLICY = """\
apiVersion: netwarden.dev/v1
kind: Policy
spec:
  cluster: prod
  manifest:
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: api, namespace: web}
    spec:
      podSelector: {}
      ingress:
      - ports: [{port: not-a-port!}]
"""


class GitRepo:
    """A repository on disk, committed to with dulwich (branch ``main``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        with porcelain.init(str(path)) as repo:
            repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/main")

    def commit(self, message: str, files: dict[str, str | None]) -> str:
        """Write (text) or remove (None) the files and commit them all."""
        with Repo(str(self.path)) as repo:
            for name, text in files.items():
                file = self.path / name
                if text is None:
                    porcelain.remove(repo, [str(file)])
                    continue
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(text)
                porcelain.add(repo, [str(file)])
            sha = porcelain.commit(
                repo, message=message.encode(), author=b"Dev <dev@x>", committer=b"Dev <dev@x>"
            )
        return sha.decode()


@dataclass
class Running:
    url: str
    admin: str  # the bootstrap admin's token
    follower: GitFollower
    repo: GitRepo

    def client(self, token: str | None = None) -> NetwardenClient:
        return NetwardenClient(self.url, token or self.admin)


def _first_commit(repo: GitRepo) -> str:
    return repo.commit(
        "Day 0: shop on prod\n\nThe first fleet.",
        {
            "README.md": "# fleet\n",
            "fleet/project.yaml": PROJECT,
            "fleet/blueprint.yaml": BLUEPRINT,
            "fleet/policies/api.yaml": POLICY.format(name="api", port=8080),
            "fleet/policies/cache.yaml": POLICY.format(name="cache", port=6379),
        },
    )


@pytest.fixture
def running(
    tmp_path: Path,
    database_url: str,  # noqa: F811
) -> Iterator[Running]:
    """A repository with its first commit, and ``netwarden serve`` following it (the
    background thread syncs once at start, then every hour unless asked)."""
    repo = GitRepo(tmp_path / "repo")
    _first_commit(repo)
    port = free_port()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        port=port,
        org="acme",
        gitops_repo=str(repo.path),
        gitops_path="fleet",
        gitops_interval=3600,
    )
    server = Server(settings)
    assert server.first_start is not None and server.gitops is not None
    config = uvicorn.Config(server.app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        live = Running(f"http://127.0.0.1:{port}", server.first_start.token, server.gitops, repo)
        _wait_attempts(live, 1)
        yield live
    finally:
        uv.should_exit = True
        thread.join(10)
        server.close()


def _wait_attempts(live: Running, n: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        status = live.follower.status()
        if status["attempts"] >= n:
            return status
        assert time.monotonic() < deadline, f"no sync attempt {n}: {status}"
        time.sleep(0.05)


def _policies(live: Running) -> dict[str, dict[str, Any]]:
    with live.client() as client:
        return {p["name"]: p for p in client.list_policies(deleted=True)}


def _versions(live: Running, name: str) -> list[dict[str, Any]]:
    with live.client() as client:
        return client.policy_versions(_policies(live)[name]["id"])


def test_the_server_follows_the_repository(running: Running) -> None:
    live = running
    first = live.follower.status()
    assert first["state"] == "synced", first["errors"]
    sha1 = first["last_synced"]["sha"]
    assert first["last_synced"]["subject"] == "Day 0: shop on prod"
    assert first["plan"] == {"created": 6}  # project, cluster, namespace, blueprint, 2 policies
    with live.client() as client:
        assert [p["name"] for p in client.list_projects()] == ["shop"]
        (cluster,) = client.list_clusters()
        assert cluster["labels"] == {"env": "prod"}
        (blueprint,) = client.list_blueprints()
        (bp_version,) = client.blueprint_versions(blueprint["id"])
        desired = client.desired_state(cluster["id"])
    assert bp_version["git_commit"] == sha1 and bp_version["author"] == "gitops"
    assert bp_version["message"] == f"gitops: {sha1[:12]} Day 0: shop on prod"
    assert {o["metadata"]["name"] for o in desired["objects"]} >= {"default-deny", "api", "cache"}
    for name in ("api", "cache"):
        (version,) = _versions(live, name)
        assert version["git_commit"] == sha1 and version["author"] == "gitops"

    # Second commit: api changes, cache is removed (pruned): new versions with the new sha.
    sha2 = live.repo.commit(
        "api listens on 9090; no more cache",
        {
            "fleet/policies/api.yaml": POLICY.format(name="api", port=9090),
            "fleet/policies/cache.yaml": None,
        },
    )
    second = live.follower.sync()
    assert second["state"] == "synced", second["errors"]
    assert second["last_synced"]["sha"] == sha2
    assert second["plan"] == {"unchanged": 4, "updated": 1, "pruned": 1}
    api, cache = _versions(live, "api"), _versions(live, "cache")
    assert [(v["version"], v["git_commit"]) for v in api] == [(2, sha2), (1, sha1)]
    assert "port: 9090" in api[0]["yaml"]
    assert cache[0]["yaml"] == "" and cache[0]["git_commit"] == sha2
    assert cache[0]["message"].startswith(f"gitops: {sha2[:12]} api listens")
    assert _policies(live)["cache"]["deleted"] is True
    with live.client() as client:
        audit = client.audit(limit=20, actor="gitops")
    assert audit and all(e["after"]["git_commit"] in (sha1, sha2) for e in audit)
    changed = [e for e in audit if e["action"] in ("update", "delete")]
    assert {e["name"] for e in changed} == {"NetworkPolicy web/api", "NetworkPolicy web/cache"}
    assert all(e["after"]["git_commit"] == sha2 for e in changed)

    # Syncing the same commit again (forced, as after a restart) makes no version.
    again = live.follower.sync(force=True)
    assert again["state"] == "synced" and again["plan"] == {"unchanged": 5}
    assert len(_versions(live, "api")) == 2 and len(_versions(live, "cache")) == 2
    skipped = live.follower.sync()  # not forced: the head was synced, nothing is read
    assert skipped["last_attempt"]["skipped"] is True and skipped["state"] == "synced"

    # A bad commit: located error, nothing applied, the last good commit kept.
    live.repo.commit(
        "broken api policy",
        {
            "fleet/policies/api.yaml": BAD_POLICY,
            "fleet/policies/cache.yaml": POLICY.format(name="cache", port=1),
        },
    )
    bad = live.follower.sync()
    assert bad["state"] == "failed" and bad["last_synced"]["sha"] == sha2
    (error,) = bad["errors"]
    assert error["file"] == "fleet/policies/api.yaml" and error["line"] == 12
    assert "ports[0].port" in error["field"]
    assert bad["plan"] == {}
    assert len(_versions(live, "api")) == 2 and _policies(live)["cache"]["deleted"] is True

    # The next good commit applies.
    sha4 = live.repo.commit(
        "fix api", {"fleet/policies/api.yaml": POLICY.format(name="api", port=9091)}
    )
    good = live.follower.sync()
    assert good["state"] == "synced" and good["last_synced"]["sha"] == sha4 and not good["errors"]
    assert [v["git_commit"] for v in _versions(live, "api")][:1] == [sha4]
    assert [v["git_commit"] for v in _versions(live, "cache")][:1] == [sha4]  # re-created


def test_a_plan_error_applies_nothing_and_names_the_file(running: Running) -> None:
    live = running
    live.repo.commit(
        "a cluster of an unknown project",
        {
            "fleet/edge.yaml": (
                "apiVersion: netwarden.dev/v1\nkind: Cluster\nmetadata: {name: edge}\n"
                "spec: {project: nowhere}\n"
            ),
            "fleet/policies/api.yaml": POLICY.format(name="api", port=1234),
        },
    )
    failed = live.follower.sync()
    assert failed["state"] == "failed"
    (error,) = failed["errors"]
    assert error["file"] == "fleet/edge.yaml" and error["field"] == "spec.project"
    assert "nowhere" in error["message"]
    assert len(_versions(live, "api")) == 1  # nothing was applied


def test_status_and_sync_routes(running: Running) -> None:
    live = running
    with live.client() as client:
        users = {u["name"]: u for u in client.list_users()}
        assert "gitops" in users
        project = client.list_projects()[0]
        workspace = client.create_workspace("storefront", project["id"])
        tokens: dict[str, str] = {}
        org = client.me()["org"]
        for role, scope in (("org-viewer", org), ("workspace-admin", workspace["id"])):
            user = client.create_user(role)
            client.create_binding("user", user["id"], role, scope)
            tokens[role] = client.create_user_token(user["id"])["token"]
        status = client.gitops_status()
        assert status["state"] == "synced" and status["repo"].endswith("repo")
        assert status["branch"] == "main" and status["path"] == "fleet"
    with httpx.Client(base_url=live.url) as http:
        assert http.get("/api/v1/gitops").status_code == 401
        assert http.post("/api/v1/gitops/sync").status_code == 401
        viewer = {"Authorization": f"Bearer {tokens['org-viewer']}"}
        ws_admin = {"Authorization": f"Bearer {tokens['workspace-admin']}"}
        assert http.get("/api/v1/gitops", headers=viewer).status_code == 200
        assert http.post("/api/v1/gitops/sync", headers=viewer).status_code == 403
        assert http.get("/api/v1/gitops", headers=ws_admin).status_code == 403
        assert http.post("/api/v1/gitops/sync", headers=ws_admin).status_code == 403
        bad = {"Authorization": f"Bearer {live.admin}", "X-Netwarden-Git-Commit": "nope"}
        assert http.get("/api/v1/gitops", headers=bad).status_code == 422

    # The CLI: sync wakes the server's thread and waits for it; status shows the commit.
    sha = live.repo.commit(
        "api on 7000", {"fleet/policies/api.yaml": POLICY.format(name="api", port=7000)}
    )
    runner = CliRunner()
    env = {
        "NETWARDEN_API": live.url,
        "NETWARDEN_TOKEN": live.admin,
        "NETWARDEN_CONFIG": str(live.repo.path.parent / "client.yaml"),
    }
    synced = runner.invoke(cli_app, ["gitops", "sync"], env=env)
    assert synced.exit_code == 0, synced.output
    assert f"{sha[:12]} api on 7000" in synced.output and "1 updated" in synced.output
    shown = runner.invoke(cli_app, ["gitops", "status", "-o", "json"], env=env)
    assert shown.exit_code == 0 and f'"sha": "{sha}"' in shown.output
    history = runner.invoke(
        cli_app, ["policy", "history", "api", "--cluster", "prod", "-n", "web"], env=env
    )
    assert history.exit_code == 0, history.output
    assert history.output.splitlines()[1].split()[3] == sha[:12]  # the COMMIT column
    refused = runner.invoke(
        cli_app, ["gitops", "sync"], env={**env, "NETWARDEN_TOKEN": tokens["org-viewer"]}
    )
    assert refused.exit_code == 2 and "may not manage-org" in refused.output


def test_a_missing_branch_is_a_failed_sync(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    _first_commit(repo)
    follower = GitFollower(
        FollowSettings(repo=str(repo.path), branch="release"),
        tmp_path / "mirror",
        base_url="http://127.0.0.1:9",
        token="nw_unused",
        org_id="org",
        read_blueprint=lambda cur: None,
    )
    status = follower.sync()
    assert status["state"] == "failed" and status["last_synced"] is None
    assert "branch 'release' not found" in status["errors"][0]["message"]
