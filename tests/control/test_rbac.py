"""The roles table of DESIGN.md, tried for every role against every capability, inside
and outside its scope and in another org."""

from __future__ import annotations

import pytest

from netwarden.control.models import Role, ScopeKind
from netwarden.control.rbac import (
    Action,
    Binding,
    Fleet,
    Grants,
    Target,
    decide,
    flow_scope,
    role_scope,
)
from netwarden.flows.scope import FlowScope

ORG, OTHER_ORG = "org-1", "org-2"
P1, P2, WS1, WS2 = "p1", "p2", "ws1", "ws2"  # ws1 in p1, ws2 in p2

IN_P1 = {"org_id": ORG, "project_id": P1}
IN_WS1 = {"org_id": ORG, "project_id": P1, "workspace_id": WS1}
IN_WS2 = {"org_id": ORG, "project_id": P2, "workspace_id": WS2}
IN_P2 = {"org_id": ORG, "project_id": P2}
ELSEWHERE = {"org_id": OTHER_ORG, "project_id": P1, "workspace_id": WS1}

A = Action
# role -> actions allowed at (in p1, in ws1 (of p1), in p2/ws2); another org: never.
EXPECTED: dict[Role, dict[Action, tuple[bool, bool, bool]]] = {
    Role.INFRA_ADMIN: {
        A.WRITE_CLUSTER_POLICY: (True, True, False),
        A.READ_CLUSTER_POLICY: (True, True, False),
        A.MANAGE_CLUSTER: (True, True, False),
        A.READ_ORG: (True, True, False),
    },
    Role.INFRA_VIEWER: {
        A.READ_CLUSTER_POLICY: (True, True, False),
        A.READ_ORG: (True, True, False),
    },
    Role.PROJECT_ADMIN: {
        A.WRITE_NAMESPACE_POLICY: (True, True, False),
        A.READ_NAMESPACE_POLICY: (True, True, False),
        A.MANAGE_WORKSPACE: (True, True, False),
        A.BIND_ROLES: (True, True, False),
        A.READ_ORG: (True, True, False),
    },
    Role.PROJECT_VIEWER: {
        A.READ_NAMESPACE_POLICY: (True, True, False),
        A.READ_ORG: (True, True, False),
    },
    Role.WORKSPACE_ADMIN: {
        A.WRITE_NAMESPACE_POLICY: (False, True, False),
        A.READ_NAMESPACE_POLICY: (False, True, False),
        A.READ_ORG: (False, True, False),
    },
    Role.WORKSPACE_VIEWER: {
        A.READ_NAMESPACE_POLICY: (False, True, False),
        A.READ_ORG: (False, True, False),
    },
}


def grants_for(role: Role) -> Grants:
    scope_id = {ScopeKind.ORG: ORG, ScopeKind.PROJECT: P1, ScopeKind.WORKSPACE: WS1}
    kind = role_scope(role)
    return Grants.from_bindings(ORG, [Binding(role, kind, scope_id[kind])])


@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize("action", [a for a in Action if a is not Action.READ_FLOWS])
def test_scoped_roles(role: Role, action: Action) -> None:
    grants = grants_for(role)
    want = EXPECTED[role].get(action, (False, False, False))
    got = tuple(decide(grants, action, Target(**t)) for t in (IN_P1, IN_WS1, IN_WS2))
    assert got == want
    assert not decide(grants, action, Target(**IN_P2)) or want[2]
    assert not decide(grants, action, Target(**ELSEWHERE))


@pytest.mark.parametrize("action", list(Action))
def test_org_roles(action: Action) -> None:
    admin, viewer = grants_for(Role.ORG_ADMIN), grants_for(Role.ORG_VIEWER)
    for target in (IN_P1, IN_WS1, IN_WS2):
        assert decide(admin, action, Target(**target))
        reads = action.value.startswith("read")
        assert decide(viewer, action, Target(**target)) is reads
    assert not decide(admin, action, Target(**ELSEWHERE))
    assert not decide(viewer, action, Target(**ELSEWHERE))


def test_a_binding_over_the_wrong_kind_of_scope_grants_nothing() -> None:
    grants = Grants.from_bindings(ORG, [Binding(Role.ORG_ADMIN, ScopeKind.PROJECT, P1)])
    assert not grants.org_admin


FLEET = Fleet(
    cluster_names={"id-c1": "c1", "id-c2": "c2"},
    cluster_project={"id-c1": P1, "id-c2": P2},
    namespaces=(
        ("id-c1", "shop", P1, WS1),
        ("id-c1", "web", P1, None),
        ("id-c2", "shop", P2, WS2),
        ("id-c2", "free", None, None),
    ),
)


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        (Role.ORG_ADMIN, FlowScope.all()),
        (Role.ORG_VIEWER, FlowScope.all()),
        (Role.INFRA_ADMIN, FlowScope.of(clusters=["c1"])),
        (Role.INFRA_VIEWER, FlowScope.of(clusters=["c1"])),
        (Role.PROJECT_ADMIN, FlowScope.of(namespaces=[("c1", "shop"), ("c1", "web")])),
        (Role.PROJECT_VIEWER, FlowScope.of(namespaces=[("c1", "shop"), ("c1", "web")])),
        (Role.WORKSPACE_ADMIN, FlowScope.of(namespaces=[("c1", "shop")])),
        (Role.WORKSPACE_VIEWER, FlowScope.of(namespaces=[("c1", "shop")])),
    ],
)
def test_flow_scope_per_role(role: Role, scope: FlowScope) -> None:
    assert flow_scope(grants_for(role), FLEET) == scope
