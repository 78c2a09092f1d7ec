"""The org's directory: users, groups, their memberships and role bindings.

What the routes of ``api/org.py`` do with them, kept here so the rules live in one place:

- :func:`bind` / :func:`unbind`: a role binding for a user or a group *of the caller's
  org* (another org's id, or a missing one, is 404), authorized by the role and scope it
  grants (:func:`binding_target`, :func:`binding_action`).
- :func:`remove_user`: revokes the user's tokens, removes their bindings and group
  memberships, then the user. :func:`remove_group`: its memberships and bindings, then
  the group. Both are audited with what was removed.
- :func:`keep_an_org_admin`: the invariant every change that can take rights away
  checks after it is made (in the same transaction): the org keeps at least one enabled
  user holding Org Admin, directly or through a group. Otherwise the change is refused
  (409) and rolled back, so nobody can lock the org out of its own administration.

Every change that alters who may do what sets ``Access.identity_changed``: the API's
authenticator forgets its cached principals once the change is committed, so it takes
effect from the next request on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select

from netwarden.control.access import Access, Conflict, Invalid, NotFound
from netwarden.control.models import (
    ApiToken,
    Group,
    GroupMember,
    Project,
    Role,
    RoleBinding,
    ScopeKind,
    User,
    Workspace,
    utcnow,
)
from netwarden.control.rbac import Action, Target, role_scope

SUBJECT_KINDS = ("user", "group")


# --- documents -------------------------------------------------------------------------


def user_doc(u: User) -> dict[str, Any]:
    return {"id": u.id, "name": u.name, "email": u.email, "disabled": u.disabled}


def members_of(acc: Access, group_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    """The members (id, name; by name) of each group, in one query."""
    found: dict[str, list[dict[str, str]]] = {g: [] for g in group_ids}
    if not group_ids:
        return found
    rows = acc.session.execute(
        select(GroupMember.group_id, User.id, User.name)
        .join(User, User.id == GroupMember.user_id)
        .where(GroupMember.group_id.in_(group_ids))
        .order_by(User.name)
    )
    for group_id, user_id, name in rows:
        found[group_id].append({"id": user_id, "name": name})
    return found


def group_doc(g: Group, members: list[dict[str, str]]) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "members": members}


def binding_doc(b: RoleBinding) -> dict[str, Any]:
    return {
        "id": b.id,
        "subject_kind": b.subject_kind,
        "subject": b.subject_id,
        "role": b.role,
        "scope_kind": b.scope_kind,
        "scope": b.scope_id,
    }


def unique_name(acc: Access, model: type[User | Group], what: str, name: str, own: str) -> None:
    """Refuse (409) a name another object of the org already has."""
    query = select(model.id).where(
        model.org_id == acc.actor.org_id, model.name == name, model.id != own
    )
    if acc.session.scalars(query).first() is not None:
        raise Conflict(f"{what} with name={name!r} already exists")


# --- role bindings ---------------------------------------------------------------------


def binding_target(acc: Access, role: Role, scope_id: str) -> tuple[Target, str]:
    """Where a binding of ``role`` over ``scope_id`` grants (404: no such scope in the
    caller's org; 422: an org role over something else than the caller's org)."""
    org = acc.actor.org_id
    kind = role_scope(role)
    if kind is ScopeKind.ORG:
        if scope_id != org:
            raise Invalid(
                "an org role is bound over the caller's org id",
                [{"field": "body.scope", "message": "not this org"}],
            )
        return Target(org), f"role {role.value} over the org"
    if kind is ScopeKind.PROJECT:
        project = acc.get(Project, scope_id, "project")
        return Target(org, project.id), f"role {role.value} in project {project.name}"
    ws = acc.get(Workspace, scope_id, "workspace")
    return Target(org, ws.project_id, ws.id), f"role {role.value} in workspace {ws.name}"


def binding_action(role: Role) -> Action:
    """Org roles and infra roles (which reach whole clusters) are granted by Org Admins;
    project and workspace roles by Project Admins within their project too."""
    if role_scope(role) is ScopeKind.ORG or role in (Role.INFRA_ADMIN, Role.INFRA_VIEWER):
        return Action.MANAGE_ORG
    return Action.BIND_ROLES


def subject_name(acc: Access, subject_kind: str, subject_id: str) -> str:
    """The subject's name (404 when it is not a user or group of the caller's org)."""
    if subject_kind == "group":
        return f"group {acc.get(Group, subject_id, 'group').name}"
    return f"user {acc.get(User, subject_id, 'user').name}"


def bind(acc: Access, subject_kind: str, subject_id: str, role: Role, scope_id: str) -> RoleBinding:
    target, what = binding_target(acc, role, scope_id)
    acc.require(binding_action(role), target, what)
    who = subject_name(acc, subject_kind, subject_id)
    scope_kind = role_scope(role).value
    existing = select(RoleBinding.id).filter_by(
        subject_kind=subject_kind,
        subject_id=subject_id,
        role=role.value,
        scope_kind=scope_kind,
        scope_id=scope_id,
    )
    if acc.session.scalars(existing).first() is not None:
        raise Conflict(f"{who} already holds {what}")
    binding = RoleBinding(
        org_id=acc.actor.org_id,
        subject_kind=subject_kind,
        subject_id=subject_id,
        role=role.value,
        scope_kind=scope_kind,
        scope_id=scope_id,
    )
    acc.session.add(binding)
    acc.session.flush()
    acc.identity_changed = True
    acc.record(
        "create", "role-binding", binding.id, f"{what} for {who}", after=binding_doc(binding)
    )
    return binding


def unbind(acc: Access, binding: RoleBinding) -> None:
    role = Role(binding.role)
    target, what = binding_target(acc, role, binding.scope_id)
    acc.require(binding_action(role), target, what)
    acc.identity_changed = True
    acc.record("delete", "role-binding", binding.id, what, before=binding_doc(binding))
    acc.session.delete(binding)
    acc.session.flush()
    if role is Role.ORG_ADMIN:
        keep_an_org_admin(acc, "removing this binding")


def drop_bindings(acc: Access, query: Any) -> list[dict[str, Any]]:
    """Delete the org's bindings the ``where`` clause selects; their documents."""
    rows = list(acc.session.scalars(select(RoleBinding).where(query)))
    for b in rows:
        acc.session.delete(b)
    acc.session.flush()
    if rows:
        acc.identity_changed = True
    return [binding_doc(b) for b in rows]


def scope_bindings(acc: Access, scope_ids: list[str]) -> list[dict[str, Any]]:
    """Remove the bindings over projects or workspaces that are going away."""
    if not scope_ids:
        return []
    return drop_bindings(
        acc, (RoleBinding.org_id == acc.actor.org_id) & RoleBinding.scope_id.in_(scope_ids)
    )


# --- the last Org Admin ----------------------------------------------------------------


def org_admins(acc: Access) -> list[str]:
    """Names of the org's enabled users holding Org Admin, directly or through a group."""
    org = acc.actor.org_id
    bound = select(RoleBinding.subject_id).where(
        RoleBinding.org_id == org,
        RoleBinding.role == Role.ORG_ADMIN.value,
        RoleBinding.scope_kind == ScopeKind.ORG.value,
        RoleBinding.scope_id == org,
    )
    direct = bound.where(RoleBinding.subject_kind == "user")
    groups = bound.where(RoleBinding.subject_kind == "group")
    via_group = select(GroupMember.user_id).where(GroupMember.group_id.in_(groups))
    query = select(User.name).where(
        User.org_id == org,
        User.disabled.is_(False),
        or_(User.id.in_(direct), User.id.in_(via_group)),
    )
    return list(acc.session.scalars(query.order_by(User.name)))


def keep_an_org_admin(acc: Access, change: str) -> None:
    """Refuse (409, the request rolls back) a change that left the org without an
    enabled Org Admin. Call it after the change was flushed."""
    acc.session.flush()
    if not org_admins(acc):
        raise Conflict(f"{change} would leave the org without an Org Admin")


# --- users -----------------------------------------------------------------------------


def groups_of(acc: Access, user_id: str) -> list[str]:
    query = (
        select(Group.name)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == user_id)
        .order_by(Group.name)
    )
    return list(acc.session.scalars(query))


def not_yourself(acc: Access, user: User, change: str) -> None:
    if user.name == acc.actor.subject:
        raise Conflict(f"you cannot {change} yourself: ask another Org Admin")


def update_user(acc: Access, user: User, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply a PATCH (name, email, disabled) to ``user``; MANAGE_ORG checked by the
    caller. Disabling stops the user's tokens; one cannot disable oneself, nor the last
    Org Admin."""
    before = user_doc(user)
    if "name" in changes:
        unique_name(acc, User, "user", changes["name"], user.id)
    if changes.get("disabled") and not user.disabled:
        not_yourself(acc, user, "disable")
    for key, value in changes.items():
        setattr(user, key, value)
    acc.session.flush()
    if user.disabled:
        keep_an_org_admin(acc, f"disabling user {user.name}")
    if before != user_doc(user):
        acc.identity_changed = True  # names are principals' subjects; disabled users lose access
        acc.record("update", "user", user.id, user.name, before=before, after=user_doc(user))
    return user_doc(user)


def remove_user(acc: Access, user: User) -> None:
    """Delete ``user``: revoke their tokens, remove their bindings and memberships (all
    audited on the user's entry); refuses oneself and the last Org Admin."""
    not_yourself(acc, user, "delete")
    now = utcnow()
    tokens = list(acc.session.scalars(select(ApiToken).filter_by(user_id=user.id)))
    for token in tokens:
        if token.revoked_at is None:
            token.revoked_at = now
    bindings = drop_bindings(
        acc,
        (RoleBinding.org_id == acc.actor.org_id)
        & (RoleBinding.subject_kind == "user")
        & (RoleBinding.subject_id == user.id),
    )
    before = {
        **user_doc(user),
        "groups": groups_of(acc, user.id),
        "role_bindings": bindings,
        "tokens": [t.prefix for t in tokens],
    }
    acc.session.execute(delete(GroupMember).where(GroupMember.user_id == user.id))
    acc.session.delete(user)
    acc.identity_changed = True
    keep_an_org_admin(acc, f"deleting user {user.name}")
    acc.record("delete", "user", user.id, user.name, before=before)


# --- groups ----------------------------------------------------------------------------


def member_ids(acc: Access, group: Group) -> set[str]:
    return set(acc.session.scalars(select(GroupMember.user_id).filter_by(group_id=group.id)))


def add_member(acc: Access, group: Group, user: User) -> bool:
    """Whether the user was added (False: already a member)."""
    if user.id in member_ids(acc, group):
        return False
    acc.session.add(GroupMember(group_id=group.id, user_id=user.id))
    acc.session.flush()
    acc.identity_changed = True
    acc.record(
        "add-member", "group", group.id, group.name, after={"user": user.name, "user_id": user.id}
    )
    return True


def remove_member(acc: Access, group: Group, user: User) -> None:
    membership = acc.session.get(GroupMember, (group.id, user.id))
    if membership is None:
        raise NotFound(f"user {user.name} is not a member of group {group.name}")
    acc.session.delete(membership)
    acc.identity_changed = True
    keep_an_org_admin(acc, f"removing {user.name} from group {group.name}")
    acc.record(
        "remove-member",
        "group",
        group.id,
        group.name,
        before={"user": user.name, "user_id": user.id},
    )


def remove_group(acc: Access, group: Group) -> None:
    """Delete ``group`` with its memberships and role bindings (audited with them)."""
    members = members_of(acc, [group.id])[group.id]
    bindings = drop_bindings(
        acc,
        (RoleBinding.org_id == acc.actor.org_id)
        & (RoleBinding.subject_kind == "group")
        & (RoleBinding.subject_id == group.id),
    )
    acc.session.execute(delete(GroupMember).where(GroupMember.group_id == group.id))
    acc.session.delete(group)
    acc.identity_changed = True
    keep_an_org_admin(acc, f"deleting group {group.name}")
    before = {**group_doc(group, members), "role_bindings": bindings}
    acc.record("delete", "group", group.id, group.name, before=before)
