"""Groups through the CLI against a real server: `apply` of Group manifests (members are
the whole membership) and of group role bindings, `get groups`, `describe group`,
descriptions and emails updated in place, and `delete group|workspace|user`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.test_cli_control import Live, cli, lines, live, write  # noqa: F401 (fixture)

ORG = """\
apiVersion: netwarden.dev/v1
kind: Project
metadata: {name: shop}
spec: {description: The web shop}
---
apiVersion: netwarden.dev/v1
kind: Workspace
metadata: {name: checkout}
spec: {project: shop}
---
apiVersion: netwarden.dev/v1
kind: Workspace
metadata: {name: spare}
spec: {project: shop}
---
apiVersion: netwarden.dev/v1
kind: Cluster
metadata: {name: prod}
spec: {project: shop}
---
apiVersion: netwarden.dev/v1
kind: Namespace
metadata: {name: payments}
spec: {cluster: prod, workspace: checkout}
"""
# Group and binding first in the file: apply orders users, groups, then bindings.
TEAM = """\
apiVersion: netwarden.dev/v1
kind: RoleBinding
metadata: {name: pay-team-checkout}
spec: {group: pay-team, role: workspace-admin, workspace: checkout}
---
apiVersion: netwarden.dev/v1
kind: Group
metadata: {name: pay-team}
spec:
  members: [wendy, bob]
---
apiVersion: netwarden.dev/v1
kind: User
metadata: {name: wendy}
spec: {email: wendy@example.com}
---
apiVersion: netwarden.dev/v1
kind: User
metadata: {name: bob}
"""


def test_groups_from_manifests_to_deletion(live: Live) -> None:  # noqa: F811
    cli("login", "--server", live.url, "--token", live.admin_token, "--context", "admin")
    root = live.home / "org"
    write(root, "org.yaml", ORG)
    write(root, "team.yaml", TEAM)
    first = lines(cli("apply", "-f", str(root)))
    assert first == [
        "project/shop created",
        "workspace/checkout created",
        "workspace/spare created",
        "cluster/prod created",
        "namespace/prod/payments created",
        "user/wendy created",
        "user/bob created",
        "group/pay-team created",
        "rolebinding/group:pay-team/workspace-admin/workspace/checkout created",
        "9 created",
    ]
    again = lines(cli("apply", "-f", str(root)))
    assert again[-1] == "9 unchanged", again

    groups = lines(cli("get", "groups"))
    assert groups[0].split() == ["NAME", "MEMBERS", "ID"]
    assert groups[1].split()[:3] == ["pay-team", "bob,", "wendy"]
    described = cli("describe", "group", "pay-team").stdout
    assert "kind: Group" in described and "- bob\n" in described
    assert "group:pay-team" in described and "workspace:checkout" in described
    assert "pay-team" in cli("describe", "user", "wendy").stdout.split("Groups:")[1]

    # A Workspace Admin through the group: the token works for the workspace only.
    wendy = cli("token", "create", "--user", "wendy").stdout.strip()
    cli("login", "--server", live.url, "--token", wendy, "--context", "wendy")
    assert [r.split()[0] for r in lines(cli("get", "workspaces"))[1:]] == ["checkout"]
    cli("config", "use-context", "admin")

    # Members are the whole membership; descriptions and emails change in place.
    changed = TEAM.replace("[wendy, bob]", "[bob]").replace("wendy@example", "w@example")
    write(root, "team.yaml", changed)
    write(root, "org.yaml", ORG.replace("The web shop", "The shop"))
    assert "-- wendy" in cli("diff", "-f", str(root), code=1).stdout
    records = {
        r["object"]: r
        for r in json.loads(cli("apply", "-f", str(root), "-o", "json").stdout)["items"]
    }
    assert records["group/pay-team"]["changes"] == ["member -wendy"]
    assert records["project/shop"]["changes"] == ["description"]
    assert records["user/wendy"]["changes"] == ["email"]
    assert lines(cli("apply", "-f", str(root)))[-1] == "9 unchanged"
    exported = cli("get", "group", "pay-team", "-o", "yaml").stdout
    assert "members:\n  - bob\n" in exported
    # Wendy left the group: the next command has no workspace left.
    cli("config", "use-context", "wendy")
    assert lines(cli("get", "workspaces")) == []
    cli("config", "use-context", "admin")

    # Deletions.
    refused = cli("delete", "workspace", "checkout", code=2)
    assert "prod/payments" in refused.output
    cli("delete", "workspace", "spare")
    assert "spare" not in cli("get", "workspaces").stdout
    cli("delete", "group", "pay-team")
    assert "pay-team" not in cli("get", "groups").stdout + cli("get", "rolebindings").stdout
    cli("delete", "user", "wendy")
    assert "wendy" not in cli("get", "users").stdout
    cli("config", "use-context", "wendy")
    assert "401" in cli("get", "workspaces", code=2).output
    cli("config", "use-context", "admin")
    yourself = cli("delete", "user", "admin", code=2)
    assert "yourself" in yourself.output
    assert "cannot delete namespaces" in cli("delete", "ns", "payments", code=2).output


def test_bad_group_manifests_are_located(live: Live, tmp_path: Path) -> None:  # noqa: F811
    cli("login", "--server", live.url, "--token", live.admin_token, "--context", "admin")
    bad = write(
        tmp_path,
        "bad.yaml",
        """\
apiVersion: netwarden.dev/v1
kind: Group
metadata: {name: ops}
spec: {members: [ann, ann]}
---
apiVersion: netwarden.dev/v1
kind: RoleBinding
metadata: {name: x}
spec: {group: ops, user: ann, role: org-viewer}
""",
    )
    out = cli("apply", "-f", str(bad), code=2).output
    assert "bad.yaml:4 (document 1) spec.members" in out and "listed twice" in out
    assert "spec.group" in out and "not both" in out
    unknown = write(
        tmp_path,
        "unknown.yaml",
        """\
apiVersion: netwarden.dev/v1
kind: Group
metadata: {name: ops}
spec: {members: [ghost]}
""",
    )
    shown = cli("apply", "-f", str(unknown), code=2).output
    assert "user 'ghost' is neither on the server nor in the manifests" in shown
    assert "ops" not in cli("get", "groups").output
