"""Impact preview: what a draft change would do to the traffic a cluster really carries.

A draft is a new policy version (YAML), a policy deletion (id), or a new blueprint version
(YAML; its assignment included). The cluster's objects are computed twice with
:func:`desired.desired_for`, from what it holds now and with the draft, and turned into
engine worlds over the agent's reported inventory (:func:`inventory.world_for`). The
distinct edges of a window of recorded flows (default 7 days, at most the retention),
limited to the caller's flow scope, are replayed through both (:mod:`engine.replay`):
every connection whose verdict changes is reported, and edges the engine cannot evaluate
without guessing are reported as uncertain.

Authorization: previewing a change needs the right to make it (a policy: the same check
as writing it; a blueprint: ``write-cluster-policy``). A preview answers a stateless
token (:class:`PreviewGate`): an HMAC over the cluster, the change's digest and an expiry,
which a write to a production cluster must carry. See ``docs/design/preview.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from sqlalchemy import select

from netwarden.control import blueprints, policies
from netwarden.control.access import Access, ControlError, Invalid, NotFound
from netwarden.control.blueprint_spec import BlueprintSpec, parse_blueprint
from netwarden.control.desired import (
    ClusterFacts,
    Desired,
    SourcedBlueprint,
    assigned,
    chain,
    desired_for,
    load_blueprints,
    load_released,
    parsed_blueprint,
)
from netwarden.control.inventory import world_for
from netwarden.control.models import (
    Blueprint,
    BlueprintVersion,
    Cluster,
    ClusterInventory,
    Namespace,
    Policy,
    PolicyVersion,
    Project,
)
from netwarden.control.rbac import Action, Target
from netwarden.engine.replay import ChangedConnection, UncertainConnection, replay
from netwarden.engine.world import World
from netwarden.flows.filter_labels import parse_label_selector
from netwarden.flows.scope import FlowScope
from netwarden.flows.service import FlowService
from netwarden.model.observed import EdgeEnd

DEFAULT_WINDOW_NS = 7 * 86_400 * 1_000_000_000
TOKEN_TTL_SECONDS = 30 * 60
DEFAULT_REQUIRED_SELECTOR = "env=prod"
PREVIEW_HEADER = "X-Netwarden-Preview"
LIMIT = 500
SECRET_FILE = "preview.key"
BLUEPRINT_PREVIEW_ROUTE = "POST /api/v1/blueprints/preview"
DraftKind = Literal["policy", "delete", "blueprint", "delete-blueprint"]


class PreviewRequired(ControlError):
    """A write to a production cluster without a valid preview token (428)."""

    status = 428


@dataclass(frozen=True, slots=True)
class Draft:
    """One change to preview: ``policy`` (``yaml``), ``delete`` (``policy_id``),
    ``blueprint`` (``yaml``: a new version, created or changed) or ``delete-blueprint``
    (``blueprint_id``). ``project``, when ``owned``, is the owner of a blueprint that does
    not exist yet (None: org-wide); otherwise a new blueprint is previewed as owned by the
    cluster's project. Not part of the digest."""

    kind: DraftKind
    yaml: str = ""
    policy_id: str = ""
    blueprint_id: str = ""
    project: str | None = field(default=None, compare=False)
    owned: bool = field(default=False, compare=False)

    @property
    def digest(self) -> str:
        """What a token binds: the kind and the YAML (or the deleted policy's or
        blueprint's id)."""
        body = {"delete": self.policy_id, "delete-blueprint": self.blueprint_id}.get(
            self.kind, self.yaml
        )
        return hashlib.sha256(f"{self.kind}\n{body}".encode()).hexdigest()


# --- the token ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreviewGate:
    """Issues and checks preview tokens; says which clusters need one.

    A token is ``v1.<expiry>.<hmac>``: HMAC-SHA256 of ``cluster id``, the draft's digest
    and the expiry (Unix seconds) under the server's secret. Stateless: any server with
    the secret checks it; it expires after ``ttl`` seconds."""

    secret: bytes
    required_selector: str = DEFAULT_REQUIRED_SELECTOR
    ttl: int = TOKEN_TTL_SECONDS

    def __post_init__(self) -> None:
        if self.required_selector:
            parse_label_selector(self.required_selector)  # FilterError on a bad selector

    def required(self, cluster: Cluster) -> bool:
        """Whether writes of policies to ``cluster`` need a preview token."""
        if not self.required_selector:
            return False
        labels = [f"{k}={v}" for k, v in (cluster.labels or {}).items()]
        return parse_label_selector(self.required_selector).matches(labels)

    def issue(self, cluster_id: str, draft: Draft, now: float | None = None) -> tuple[str, int]:
        expiry = int(now if now is not None else time.time()) + self.ttl
        return f"v1.{expiry}.{self._mac(cluster_id, draft.digest, expiry)}", expiry

    def valid(self, token: str, cluster_id: str, draft: Draft, now: float | None = None) -> bool:
        version, _, rest = token.strip().partition(".")
        expiry_text, _, mac = rest.partition(".")
        if version != "v1" or not expiry_text.isdigit():
            return False
        expiry = int(expiry_text)
        if expiry < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(mac, self._mac(cluster_id, draft.digest, expiry))

    def check(self, token: str | None, cluster: Cluster, draft: Draft) -> None:
        """Refuse (428) a write to a cluster that needs a preview without a valid token."""
        if not self.required(cluster):
            return
        route = f"POST /api/v1/clusters/{cluster.id}/preview"
        if not token:
            problem = f"cluster {cluster.name} matches {self.required_selector!r}"
            raise PreviewRequired(
                f"{problem}: preview the change first ({route}) and send its token in "
                f"{PREVIEW_HEADER}",
                [{"field": f"header.{PREVIEW_HEADER.lower()}", "message": f"required: {route}"}],
            )
        if not self.valid(token, cluster.id, draft):
            raise PreviewRequired(
                f"the {PREVIEW_HEADER} token is expired or was issued for another change or "
                f"cluster: preview this change again ({route})",
                [{"field": f"header.{PREVIEW_HEADER.lower()}", "message": "invalid or expired"}],
            )

    def issue_for(
        self, cluster_ids: Iterable[str], draft: Draft, now: float | None = None
    ) -> tuple[str, int]:
        """A token for a change that reaches several clusters (a blueprint's): bound to
        the change and to exactly that set of clusters."""
        return self.issue(clusters_key(cluster_ids), draft, now)

    def check_clusters(self, token: str | None, reached: Sequence[Cluster], draft: Draft) -> None:
        """Refuse (428) a blueprint change that reaches clusters needing a preview without
        the token of a preview of that change over exactly those clusters."""
        production = sorted((c for c in reached if self.required(c)), key=lambda c: c.name)
        if not production:
            return
        names = ", ".join(c.name for c in production)
        field_name = f"header.{PREVIEW_HEADER.lower()}"
        if not token:
            raise PreviewRequired(
                f"the change reaches {names}, matching {self.required_selector!r}: preview "
                f"it first ({BLUEPRINT_PREVIEW_ROUTE}) and send its token in {PREVIEW_HEADER}",
                [{"field": field_name, "message": f"required: {BLUEPRINT_PREVIEW_ROUTE}"}],
            )
        if not self.valid(token, clusters_key(c.id for c in production), draft):
            raise PreviewRequired(
                f"the {PREVIEW_HEADER} token is expired or was issued for another change or "
                f"another set of clusters (now {names}): preview this change again "
                f"({BLUEPRINT_PREVIEW_ROUTE})",
                [{"field": field_name, "message": "invalid or expired"}],
            )

    def _mac(self, cluster_id: str, digest: str, expiry: int) -> str:
        message = f"{cluster_id}\n{digest}\n{expiry}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def clusters_key(cluster_ids: Iterable[str]) -> str:
    """What a multi-cluster token binds instead of one cluster id (never a cluster id)."""
    return "clusters:" + ",".join(sorted(set(cluster_ids)))


def load_secret(data_dir: Path) -> bytes:
    """The server's preview secret, generated into the data directory on first use."""
    path = data_dir / SECRET_FILE
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret.hex())
    return secret


# --- the cluster's objects before and after -----------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    before: Desired
    after: Desired
    description: dict[str, Any]


def draft_change(acc: Access, cluster: Cluster, draft: Draft) -> Change:
    """The cluster's objects now and with the draft, once the caller is allowed to make
    the change (Forbidden otherwise; Invalid with located errors for bad YAML)."""
    namespaces = _namespaces(acc, cluster)
    facts = ClusterFacts(cluster.name, cluster.labels or {}, namespaces)
    blueprints = dict(load_released(acc.session, acc.actor.org_id).for_cluster(cluster.id))
    own = _cluster_policies(acc, cluster)
    before = desired_for(facts, blueprints, own)
    description: dict[str, Any]
    if draft.kind == "policy":
        parsed = policies.parse(draft.yaml)
        target = policies.target_of(acc, cluster, parsed.namespace)
        write = Action.WRITE_NAMESPACE_POLICY if parsed.namespace else Action.WRITE_CLUSTER_POLICY
        what = f"policy {parsed.kind} {parsed.namespace}/{parsed.name}".replace(" /", " ")
        acc.require(write, target, f"preview {what} on {cluster.name}")
        obj = yaml.safe_load(draft.yaml)
        same = (parsed.kind, parsed.namespace, parsed.name)
        kept = [p for p in own if _key(p[2]) != same]
        after = desired_for(facts, blueprints, [*kept, ("draft", 0, obj)])
        description = {
            "kind": "policy",
            "policy": f"{parsed.kind}/{parsed.namespace}/{parsed.name}",
        }
    elif draft.kind == "delete":
        policy, policy_cluster = policies.load(acc, draft.policy_id, write=True)
        if policy_cluster.id != cluster.id:
            raise NotFound(f"policy {draft.policy_id} is not a policy of cluster {cluster.name}")
        after = desired_for(facts, blueprints, [p for p in own if p[0] != policy.id])
        description = {
            "kind": "delete",
            "policy": f"{policy.kind}/{policy.namespace}/{policy.name}",
            "id": policy.id,
        }
    elif draft.kind == "delete-blueprint":
        gone = acc.get(Blueprint, draft.blueprint_id, "blueprint")
        acc.require(
            Action.WRITE_CLUSTER_POLICY,
            Target(acc.actor.org_id, project_id=gone.project_id),
            f"preview deleting blueprint {gone.name} on {cluster.name}",
        )
        blueprints.pop(gone.name, None)
        after = desired_for(facts, blueprints, own)
        description = {
            "kind": "delete-blueprint",
            "blueprint": gone.name,
            "version": gone.version + 1,
        }
    else:
        spec = parse_blueprint(draft.yaml)
        existing = _blueprint_named(acc, spec.name)
        if existing is not None:
            project = existing.project_id
        else:
            project = draft.project if draft.owned else cluster.project_id
        acc.require(
            Action.WRITE_CLUSTER_POLICY,
            Target(acc.actor.org_id, project_id=project),
            f"preview blueprint {spec.name} on {cluster.name}",
        )
        version = (existing.version if existing is not None else 0) + 1
        blueprints[spec.name] = SourcedBlueprint(spec.name, version, spec)
        after = desired_for(facts, blueprints, own)
        description = {"kind": "blueprint", "blueprint": spec.name, "version": version}
    return Change(before, after, description)


def _blueprint_named(acc: Access, name: str) -> Blueprint | None:
    found: Blueprint | None = acc.session.scalars(
        select(Blueprint).filter_by(org_id=acc.actor.org_id, name=name)
    ).first()
    return found


# --- blueprints: the clusters a change reaches, its preview over them -------------------


def blueprint_reach(
    acc: Access, name: str, project: str | None, after: BlueprintSpec | None
) -> list[Cluster]:
    """The clusters a new version ``after`` (None: a deletion) of blueprint ``name``
    changes, as a write computes them: those its current version, the version the clusters
    hold and ``after`` are assigned to, within the owner's clusters (the existing
    blueprint's project, else ``project``; None: the org), and those of the blueprints
    that extend it. Read before the write (no authorization check: callers make one)."""
    existing = _blueprint_named(acc, name)
    owner = existing.project_id if existing is not None else project
    specs = [after] if after is not None else []
    if existing is not None:
        numbers = {existing.released_version} | (
            {existing.version} if not existing.deleted else set()
        )
        for text in acc.session.scalars(
            select(BlueprintVersion.yaml).where(
                BlueprintVersion.blueprint_id == existing.id,
                BlueprintVersion.version.in_([n for n in numbers if n]),
            )
        ):
            if text:
                specs.append(parsed_blueprint(text))
    query = select(Cluster).where(Cluster.org_id == acc.actor.org_id)
    if owner is not None:
        query = query.where(Cluster.project_id == owner)
    reached = {
        c.id: c
        for c in acc.session.scalars(query)
        if any(assigned(spec, ClusterFacts(c.name, c.labels or {}, {})) for spec in specs)
    }
    everything = load_blueprints(acc.session, acc.actor.org_id)
    rows = {
        b.name: b for b in acc.session.scalars(select(Blueprint).filter_by(org_id=acc.actor.org_id))
    }
    for other, sourced in everything.items():
        if other == name or other not in rows:
            continue
        try:
            ancestors = {b.name for b in chain(other, everything)}
        except Invalid:  # another blueprint's broken chain is not this change's business
            continue
        if name in ancestors:
            reached |= {c.id: c for c in blueprints.reach(acc, rows[other], sourced.spec)}
    return sorted(reached.values(), key=lambda c: c.name)


def blueprint_draft(
    acc: Access, yaml_text: str | None, delete_blueprint: str | None, project: str | None
) -> tuple[Draft, str, list[Cluster]]:
    """The draft a blueprint preview request names (exactly one of a YAML and the id of a
    blueprint to delete), once the caller may make it (``write-cluster-policy`` over the
    owner's project), its blueprint's name and the clusters it reaches."""
    if bool(yaml_text) == bool(delete_blueprint):
        raise Invalid(
            "give exactly one of blueprint_yaml, delete_blueprint",
            [{"field": "body", "message": "one change expected"}],
        )
    if yaml_text:
        spec: BlueprintSpec | None = parse_blueprint(yaml_text)
        assert spec is not None
        name = spec.name
        existing = _blueprint_named(acc, name)
        if existing is None and project is not None:
            acc.get(Project, project, "project")
        draft = Draft("blueprint", yaml=yaml_text)
    else:
        assert delete_blueprint is not None
        existing = acc.get(Blueprint, delete_blueprint, "blueprint")
        spec, name = None, existing.name
        draft = Draft("delete-blueprint", blueprint_id=existing.id)
    owner = existing.project_id if existing is not None else project
    acc.require(
        Action.WRITE_CLUSTER_POLICY,
        Target(acc.actor.org_id, project_id=owner),
        f"preview blueprint {name}",
    )
    return replace(draft, project=owner, owned=True), name, blueprint_reach(acc, name, owner, spec)


def preview_blueprint(
    acc: Access,
    flows: FlowService,
    scope: FlowScope,
    gate: PreviewGate,
    draft: Draft,
    reached: Sequence[Cluster],
    *,
    since: int | None = None,
    until: int | None = None,
) -> dict[str, Any]:
    """The preview of a blueprint change on every production cluster it reaches (those
    ``gate`` requires a preview for), each as :func:`preview` answers it, with their
    totals and one token bound to the change and that set of clusters."""
    production = [c for c in reached if gate.required(c)]
    docs = [preview(acc, flows, scope, c, draft, since=since, until=until) for c in production]
    totals: dict[str, int] = {}
    for doc in docs:
        for key, value in doc["summary"].items():
            totals[key] = totals.get(key, 0) + int(value)
    token, expiry = gate.issue_for([c.id for c in production], draft)
    return {
        "change": docs[0]["change"] if docs else _blueprint_change(acc, draft),
        "reached": [{"id": c.id, "name": c.name, "previewed": c in production} for c in reached],
        "clusters": docs,
        "summary": totals,
        "token": {
            "header": PREVIEW_HEADER,
            "value": token,
            "expires": expiry,
            "required": bool(production),
            "clusters": sorted(c.id for c in production),
        },
    }


def _blueprint_change(acc: Access, draft: Draft) -> dict[str, Any]:
    if draft.kind == "delete-blueprint":
        gone = acc.get(Blueprint, draft.blueprint_id, "blueprint")
        return {"kind": draft.kind, "blueprint": gone.name, "version": gone.version + 1}
    name = parse_blueprint(draft.yaml).name
    existing = _blueprint_named(acc, name)
    version = (existing.version if existing is not None else 0) + 1
    return {"kind": "blueprint", "blueprint": name, "version": version}


def _key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name", ""))


def _namespaces(acc: Access, cluster: Cluster) -> dict[str, Mapping[str, str]]:
    rows = acc.session.scalars(select(Namespace).filter_by(cluster_id=cluster.id))
    return {ns.name: dict(ns.labels or {}) for ns in rows}


def _cluster_policies(acc: Access, cluster: Cluster) -> list[tuple[str, int, dict[str, Any]]]:
    rows = acc.session.execute(
        select(Policy.id, Policy.version, PolicyVersion.yaml)
        .join(PolicyVersion, PolicyVersion.policy_id == Policy.id)
        .where(
            Policy.cluster_id == cluster.id,
            Policy.deleted.is_(False),
            PolicyVersion.version == Policy.version,
        )
        .order_by(Policy.kind, Policy.namespace, Policy.name)
    )
    out = []
    for policy_id, version, text in rows:
        obj = yaml.safe_load(text) if text else None
        if isinstance(obj, dict):
            out.append((policy_id, version, obj))
    return out


# --- the preview ------------------------------------------------------------------------


def preview(
    acc: Access,
    flows: FlowService,
    scope: FlowScope,
    cluster: Cluster,
    draft: Draft,
    *,
    since: int | None = None,
    until: int | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """The preview document of ``draft`` on ``cluster`` over the window (ns), with the
    edges the caller's flow ``scope`` shows."""
    change = draft_change(acc, cluster, draft)
    now = now if now is not None else time.time_ns()
    until = until if until is not None else now
    earliest = now - retention_ns(flows, cluster.name)
    since = max(since if since is not None else until - DEFAULT_WINDOW_NS, earliest)
    inventory = acc.session.get(ClusterInventory, cluster.id)
    namespaces = _namespaces(acc, cluster)

    edges = flows.edges(scope, cluster=cluster.name, since=since, until=until)
    before, after = worlds(cluster.name, namespaces, inventory, change.before, change.after)
    result = replay(edges, before, after, cluster.name)
    allowed_to_denied = [c for c in result.changes if c.change == "allowed->denied"]
    return {
        "cluster": {"id": cluster.id, "name": cluster.name},
        "change": change.description,
        "window": {"since": _iso(since), "until": _iso(until)},
        "inventory": inventory is not None,
        "edges": result.edges,
        "flows": result.flows,
        "evaluations": result.evaluations,
        "unchanged": result.unchanged,
        "summary": {
            "allowed_to_denied": len(allowed_to_denied),
            "allowed_to_denied_flows": sum(c.flows for c in allowed_to_denied),
            "denied_to_allowed": len(result.changes) - len(allowed_to_denied),
            "denied_to_allowed_flows": sum(
                c.flows for c in result.changes if c.change != "allowed->denied"
            ),
            "uncertain": len(result.uncertain),
            "uncertain_flows": sum(u.flows for u in result.uncertain),
        },
        "changes": [changed_doc(c) for c in result.changes[:LIMIT]],
        "uncertain": [uncertain_doc(u) for u in result.uncertain[:LIMIT]],
        "truncated": len(result.changes) > LIMIT or len(result.uncertain) > LIMIT,
        "conflicts": change.after.conflicts,
    }


def worlds(
    cluster: str,
    namespaces: Mapping[str, Mapping[str, str]],
    inventory: ClusterInventory | None,
    before: Desired,
    after: Desired,
) -> tuple[World, World]:
    """The engine's worlds before and after: one inventory (read once: thousands of pods
    are most of the cost), two sets of policies; settings that differ (the Cilium policy
    enforcement mode of a blueprint) get their own inventory."""
    first = world_for(cluster, namespaces, inventory, before.objects, before.settings)
    if after.settings != before.settings:
        return first, world_for(cluster, namespaces, inventory, after.objects, after.settings)
    policies = world_for(cluster, {}, None, after.objects, after.settings).policies
    return first, World(first.clusters, policies)


def retention_ns(flows: FlowService, cluster: str) -> int:
    """How far back raw flows of ``cluster`` are kept (the longest window a preview reads)."""
    retention = getattr(flows.store, "retention", None)
    if retention is None:
        return DEFAULT_WINDOW_NS
    period = retention.period(cluster)
    return int(period.total_seconds()) * 1_000_000_000


def end_doc(end: EdgeEnd) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": end.kind, "display": end.display()}
    if end.kind == "pod":
        out |= {
            "cluster": end.cluster,
            "namespace": end.namespace,
            "workload": end.workload,
            "labels": dict(end.labels),
        }
    else:
        out |= {"ip": end.ip, "fqdn": end.fqdn}
    if end.identity is not None:
        out["identity"] = end.identity
    return out


def changed_doc(c: ChangedConnection) -> dict[str, Any]:
    return {
        "source": end_doc(c.source),
        "destination": end_doc(c.destination),
        "port": c.port,
        "protocol": c.protocol,
        "change": c.change,
        "flows": c.flows,
        "last_seen": _iso(c.last_seen),
        "edges": c.edges,
        "l7": list(c.l7),
        "recorded": list(c.recorded),
        "deciding": list(c.deciding),
        "reason": c.reason,
        "examples": list(c.examples),
    }


def uncertain_doc(u: UncertainConnection) -> dict[str, Any]:
    return {
        "source": end_doc(u.source),
        "destination": end_doc(u.destination),
        "port": u.port,
        "protocol": u.protocol,
        "flows": u.flows,
        "last_seen": _iso(u.last_seen),
        "edges": u.edges,
        "reason": u.reason,
    }


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def draft_of(yaml_text: str | None, delete_policy: str | None, blueprint_yaml: str | None) -> Draft:
    """The one change a request names (Invalid unless exactly one is given)."""
    given: Sequence[tuple[DraftKind, str | None]] = (
        ("policy", yaml_text),
        ("delete", delete_policy),
        ("blueprint", blueprint_yaml),
    )
    present = [(kind, value) for kind, value in given if value]
    if len(present) != 1:
        raise Invalid(
            "give exactly one of yaml, delete_policy, blueprint_yaml",
            [{"field": "body", "message": f"{len(present)} changes given"}],
        )
    kind, value = present[0]
    assert value is not None
    if kind == "delete":
        return Draft("delete", policy_id=value)
    return Draft(kind, yaml=value)
