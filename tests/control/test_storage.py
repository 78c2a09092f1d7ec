"""Control-plane storage on SQLite and PostgreSQL: migrations, tokens, bootstrap, and the
authenticator that turns tokens into principals with grants and flow scopes."""

from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from netwarden.api.auth import ControlPlaneAuthenticator
from netwarden.control.bootstrap import bootstrap
from netwarden.control.db import Database, migrate, open_database
from netwarden.control.models import (
    ApiToken,
    Base,
    Cluster,
    Group,
    GroupMember,
    Namespace,
    Org,
    Project,
    Role,
    RoleBinding,
    ScopeKind,
    User,
    Workspace,
    utcnow,
)
from netwarden.control.tokens import hash_secret, issue_token, resolve
from netwarden.flows.scope import FlowScope


def test_migrations_create_exactly_the_models(db: Database, database_url: str) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert set(inspect(db.engine).get_table_names()) >= set(Base.metadata.tables)
    migrate(db.engine)  # idempotent
    open_database(database_url).close()


def test_bootstrap_once_and_its_token_is_stored_hashed(db: Database) -> None:
    with db.session() as s:
        first = bootstrap(s, "acme")
        assert first is not None and first.token.startswith("nw_")
    with db.session() as s:
        assert bootstrap(s, "acme") is None
        (token,) = s.scalars(select(ApiToken)).all()
        assert token.secret_hash == hash_secret(first.token) and first.token not in (
            token.prefix + token.secret_hash
        )
        identity = resolve(s, first.token)
        assert identity is not None and identity.grants is not None
        assert identity.grants.org_admin


def test_expired_revoked_unknown_and_disabled_tokens_are_refused(db: Database) -> None:
    with db.session() as s:
        boot = bootstrap(s)
        assert boot is not None
        org_id, user_id = boot.org.id, boot.admin.id
        _, expired = issue_token(s, org_id, user_id=user_id, ttl=timedelta(seconds=-1))
        revoked_row, revoked = issue_token(s, org_id, user_id=user_id)
        revoked_row.revoked_at = utcnow()
        _, valid = issue_token(s, org_id, user_id=user_id, ttl=timedelta(hours=1))
    with db.session() as s:
        assert resolve(s, expired) is None
        assert resolve(s, revoked) is None
        assert resolve(s, "nw_" + "x" * 43) is None
        assert resolve(s, "not-a-token") is None
        assert resolve(s, valid) is not None
        s.get(User, user_id).disabled = True  # type: ignore[union-attr]
    with db.session() as s:
        assert resolve(s, valid) is None


def fleet(db: Database) -> dict[str, str]:
    """An org with two projects; p1 has clusters c1 (shop, web namespaces) and p2 has c2."""
    with db.session() as s:
        boot = bootstrap(s, "acme")
        assert boot is not None
        org = boot.org.id
        p1, p2 = Project(org_id=org, name="p1"), Project(org_id=org, name="p2")
        s.add_all([p1, p2])
        s.flush()
        c1 = Cluster(org_id=org, project_id=p1.id, name="c1", labels={"env": "prod"})
        c2 = Cluster(org_id=org, project_id=p2.id, name="c2")
        ws = Workspace(org_id=org, project_id=p1.id, name="shop-team")
        s.add_all([c1, c2, ws])
        s.flush()
        s.add_all(
            [
                Namespace(
                    org_id=org, cluster_id=c1.id, name="shop", project_id=p1.id, workspace_id=ws.id
                ),
                Namespace(org_id=org, cluster_id=c1.id, name="web", project_id=p1.id),
                Namespace(org_id=org, cluster_id=c2.id, name="shop", project_id=p2.id),
            ]
        )
        tokens = {"admin": boot.token}
        for role, scope_kind, scope_id in [
            (Role.INFRA_ADMIN, ScopeKind.PROJECT, p1.id),
            (Role.PROJECT_VIEWER, ScopeKind.PROJECT, p1.id),
            (Role.WORKSPACE_ADMIN, ScopeKind.WORKSPACE, ws.id),
        ]:
            user = User(org_id=org, name=role.value)
            s.add(user)
            s.flush()
            s.add(
                RoleBinding(
                    org_id=org,
                    subject_kind="user",
                    subject_id=user.id,
                    role=role.value,
                    scope_kind=scope_kind.value,
                    scope_id=scope_id,
                )
            )
            tokens[role.value] = issue_token(s, org, user_id=user.id)[1]
        group = Group(org_id=org, name="sre")
        member = User(org_id=org, name="grace")
        s.add_all([group, member])
        s.flush()
        s.add(GroupMember(group_id=group.id, user_id=member.id))
        s.add(
            RoleBinding(
                org_id=org,
                subject_kind="group",
                subject_id=group.id,
                role=Role.ORG_VIEWER.value,
                scope_kind="org",
                scope_id=org,
            )
        )
        tokens["group-member"] = issue_token(s, org, user_id=member.id)[1]
        tokens["agent-c1"] = issue_token(s, org, cluster_id=c1.id)[1]
        nobody = User(org_id=org, name="nobody")
        s.add(nobody)
        s.flush()
        tokens["nobody"] = issue_token(s, org, user_id=nobody.id)[1]
    return tokens


def test_authenticator_gives_each_role_its_flow_scope(db: Database) -> None:
    tokens = fleet(db)
    auth = ControlPlaneAuthenticator(db)
    scopes = {name: auth.authenticate(token) for name, token in tokens.items()}
    assert all(p is not None for p in scopes.values())
    assert scopes["admin"].flow_scope == FlowScope.all()  # type: ignore[union-attr]
    assert scopes["group-member"].flow_scope == FlowScope.all()  # type: ignore[union-attr]
    assert scopes["infra-admin"].flow_scope == FlowScope.of(clusters=["c1"])  # type: ignore[union-attr]
    assert scopes["project-viewer"].flow_scope == FlowScope.of(  # type: ignore[union-attr]
        namespaces=[("c1", "shop"), ("c1", "web")]
    )
    assert scopes["workspace-admin"].flow_scope == FlowScope.of(  # type: ignore[union-attr]
        namespaces=[("c1", "shop")]
    )
    assert scopes["nobody"].flow_scope == FlowScope.nothing()  # type: ignore[union-attr]
    agent = scopes["agent-c1"]
    assert agent is not None and agent.agent_cluster == "c1" and agent.flow_scope.empty
    assert scopes["admin"].fleet_reader and not scopes["infra-admin"].fleet_reader  # type: ignore[union-attr]
    assert auth.authenticate("nw_unknown") is None
    with db.session() as s:
        assert s.scalar(select(Org.name)) == "acme"
