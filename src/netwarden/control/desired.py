"""Desired state: the exact Kubernetes objects each cluster should hold.

For a cluster, the objects are: the cluster-wide policies of every blueprint assigned to
it (a blueprint's ``extends`` chain first), its namespace defaults stamped into every
namespace that matches (by labels, including ``kubernetes.io/metadata.name``) and is not
excluded, and the cluster's own policies (namespace and cluster-wide, current versions).
Every object carries the ownership label ``app.kubernetes.io/managed-by: netwarden`` and
the annotation ``netwarden.dev/source`` (``blueprint/NAME@vN`` or ``policy/ID@vN``), so
the agent can prune only its own objects and report where each came from.

Two sources producing the same object (kind, namespace, name) is a *conflict*: the first
in a stable order (blueprints by name and chain, then the cluster's own policies) is
kept, and the conflict is reported with the desired state rather than hidden.

Staged versions (a policy or blueprint version deployed as ``staged``) are never among the
objects: a policy contributes its ``enforced_version`` (the latest one not staged), a
blueprint the versions the clusters hold (``released_version``, rollout releases). Each
staged version that reaches a cluster is listed in the desired state's ``staged`` instead
(:func:`staged_for`), with the objects that would change if it alone were promoted, for
the flow pipeline to evaluate flows with (``docs/design/staged-policies.md``).

:func:`recompute` stores the result per cluster and bumps the cluster's generation only
when the objects or settings changed (a SHA-256 digest of their canonical JSON), so a
change touching one blueprint only rewrites the clusters it reaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import weakref
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from netwarden.control.access import Invalid
from netwarden.control.blueprint_spec import BlueprintSpec, NamespaceDefault, parse_blueprint
from netwarden.control.models import (
    Blueprint,
    BlueprintRelease,
    BlueprintVersion,
    Cluster,
    DesiredState,
    Namespace,
    Policy,
    PolicyVersion,
    utcnow,
)

MANAGED_BY = "app.kubernetes.io/managed-by"
SOURCE = "netwarden.dev/source"
NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True, slots=True)
class SourcedBlueprint:
    name: str
    version: int
    spec: BlueprintSpec


@dataclass(frozen=True, slots=True)
class ClusterFacts:
    name: str
    labels: Mapping[str, str]
    namespaces: Mapping[str, Mapping[str, str]]  # name -> labels


@dataclass(slots=True)
class Desired:
    objects: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    blueprints: list[str] = field(default_factory=list)

    def digest(self) -> str:
        payload = json.dumps([self.objects, self.settings], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


def assigned(spec: BlueprintSpec, cluster: ClusterFacts) -> bool:
    if cluster.name in spec.clusters:
        return True
    return spec.cluster_selector is not None and spec.cluster_selector.matches(cluster.labels)


def chain(name: str, blueprints: Mapping[str, SourcedBlueprint]) -> list[SourcedBlueprint]:
    """``name`` and its ``extends`` ancestors, root first (Invalid on a cycle or gap)."""
    out: list[SourcedBlueprint] = []
    seen: set[str] = set()
    current: str | None = name
    while current is not None:
        if current in seen:
            raise Invalid(f"blueprint {name}: 'extends' loops through {current}")
        found = blueprints.get(current)
        if found is None:
            raise Invalid(f"blueprint {name}: extends {current!r}, which does not exist")
        seen.add(current)
        out.append(found)
        current = found.spec.extends
    return out[::-1]


def desired_for(
    cluster: ClusterFacts,
    blueprints: Mapping[str, SourcedBlueprint],
    policies: Sequence[tuple[str, int, dict[str, Any]]],
) -> Desired:
    """The desired objects of one cluster (``policies``: (id, version, object))."""
    out = Desired()
    placed: dict[tuple[str, str, str], str] = {}
    for name in sorted(blueprints):
        if not assigned(blueprints[name].spec, cluster):
            continue
        try:
            ancestors = chain(name, blueprints)
        except Invalid as error:
            # A rollout in progress can leave a cluster without the version of a parent
            # its blueprint needs (the parent's first version not released here yet).
            out.conflicts.append(f"blueprint {name} skipped: {error}")
            continue
        out.blueprints.append(name)
        for bp in ancestors:
            source = f"blueprint/{bp.name}@v{bp.version}"
            for key, value in bp.spec.settings.items():
                _setting(out, key, value, source)
            for obj in bp.spec.cluster_policies:
                _place(out, placed, obj, "", source)
            for default in bp.spec.namespace_defaults:
                for ns in _matching(default, cluster):
                    for obj in default.policies:
                        _place(out, placed, obj, ns, f"{source}#{default.name}")
    for policy_id, version, obj in policies:
        namespace = obj.get("metadata", {}).get("namespace", "")
        _place(out, placed, obj, namespace, f"policy/{policy_id}@v{version}")
    out.objects.sort(key=_identity)
    return out


@dataclass(frozen=True, slots=True)
class StagedPolicy:
    """A policy whose current version is staged (its enforced version is in ``policies``)."""

    id: str
    version: int
    obj: dict[str, Any]

    @property
    def label(self) -> str:
        kind, namespace, name = _identity(self.obj)
        return f"{kind}/{namespace}/{name}"


def staged_for(
    cluster: ClusterFacts,
    blueprints: Mapping[str, SourcedBlueprint],
    policies: Sequence[tuple[str, int, dict[str, Any]]],
    staged_policies: Sequence[StagedPolicy],
    staged_blueprints: Mapping[str, tuple[str, SourcedBlueprint]],
    enforced: Desired,
) -> list[dict[str, Any]]:
    """The staged versions reaching ``cluster``: per version, what promoting it alone would
    change in ``enforced`` (the cluster's desired state): ``add`` the objects it would add
    or change (stamped with its source), ``remove`` the (kind, namespace, name) of those
    it would take away. ``staged_blueprints``: name -> (blueprint id, staged version)."""
    out: list[dict[str, Any]] = []
    for staged in staged_policies:
        replaced = [p for p in policies if p[0] != staged.id]
        replaced.append((staged.id, staged.version, staged.obj))
        replaced.sort(key=lambda p: _identity(p[2]))
        hypothetical = desired_for(cluster, blueprints, replaced)
        out.append(
            _staged_entry("policy", staged.id, staged.label, staged.version, enforced, hypothetical)
        )
    for name, (bp_id, sourced) in sorted(staged_blueprints.items()):
        held = blueprints.get(name)
        if not assigned(sourced.spec, cluster) and (
            held is None or not assigned(held.spec, cluster)
        ):
            continue
        hypothetical = desired_for(cluster, {**blueprints, name: sourced}, policies)
        entry = _staged_entry(
            "blueprint", bp_id, f"Blueprint//{name}", sourced.version, enforced, hypothetical
        )
        out.append(entry)
    return out


def _staged_entry(
    kind: str, source_id: str, label: str, version: int, enforced: Desired, hypothetical: Desired
) -> dict[str, Any]:
    before = {_identity(o): _unsourced(o) for o in enforced.objects}
    after = {_identity(o): o for o in hypothetical.objects}
    add = [o for key, o in after.items() if before.get(key) != _unsourced(o)]
    remove = [list(key) for key in before if key not in after]
    return {
        "kind": kind,
        "id": source_id,
        "policy": label,
        "version": version,
        "add": add,
        "remove": remove,
    }


def _unsourced(obj: Mapping[str, Any]) -> Any:
    """The object without its ``netwarden.dev/source`` annotation (which names the
    version): two versions with the same content are the same object."""
    meta = dict(obj.get("metadata") or {})
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k != SOURCE}
    return {**obj, "metadata": meta}


def staged_objects(
    enforced: Sequence[Mapping[str, Any]], entry: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The objects of a cluster if the staged version of ``entry`` were promoted."""
    gone = {tuple(key) for key in entry.get("remove", [])}
    added = list(entry.get("add", []))
    gone |= {_identity(o) for o in added}
    return [o for o in enforced if _identity(o) not in gone] + added


def _setting(out: Desired, key: str, value: str, source: str) -> None:
    previous = out.settings.get(key)
    if previous is not None and previous != value:
        out.conflicts.append(f"setting {key}: {value} from {source} ignored, {previous} kept")
        return
    out.settings[key] = value


def _matching(default: NamespaceDefault, cluster: ClusterFacts) -> list[str]:
    names = []
    for ns, labels in sorted(cluster.namespaces.items()):
        if ns in default.exclude:
            continue
        if default.selector.matches({**labels, NAME_LABEL: ns}):
            names.append(ns)
    return names


def _identity(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return (str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))


def _place(
    out: Desired,
    placed: dict[tuple[str, str, str], str],
    obj: Mapping[str, Any],
    namespace: str,
    source: str,
) -> None:
    # New dicts down to the labels and annotations; ``spec`` is shared with the source
    # object (nothing mutates it afterwards): stamping 100k objects stays cheap.
    meta = dict(obj.get("metadata") or {})
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY: "netwarden"}
    meta["annotations"] = {**(meta.get("annotations") or {}), SOURCE: source}
    stamped = {**obj, "metadata": meta}
    key = _identity(stamped)
    if key in placed:
        out.conflicts.append(
            f"{'/'.join(k for k in key if k)} from {source} ignored: {placed[key]} has it"
        )
        return
    placed[key] = source
    out.objects.append(stamped)


# --- storage -------------------------------------------------------------------------


@lru_cache(maxsize=512)
def parsed_blueprint(text: str) -> BlueprintSpec:
    """Blueprint versions are immutable: parse (and validate) each text once. The result
    is shared between callers, which never mutate it (``_place`` copies metadata)."""
    return parse_blueprint(text)


@lru_cache(maxsize=65_536)
def parsed_object(text: str) -> Any:
    """A stored policy version's YAML, parsed once (shared, never mutated)."""
    return yaml.safe_load(text)


def load_blueprints(session: Session, org_id: str) -> dict[str, SourcedBlueprint]:
    rows = session.execute(
        select(Blueprint.name, Blueprint.version, BlueprintVersion.yaml)
        .join(BlueprintVersion, BlueprintVersion.blueprint_id == Blueprint.id)
        .where(
            Blueprint.org_id == org_id,
            Blueprint.deleted.is_(False),
            BlueprintVersion.version == Blueprint.version,
        )
    ).all()
    return {
        name: SourcedBlueprint(name, version, parsed_blueprint(text))
        for name, version, text in rows
    }


@dataclass(frozen=True, slots=True)
class Released:
    """The blueprint versions the clusters hold: ``base`` (each blueprint's
    ``released_version``) unless a rollout in progress released another to a cluster."""

    base: Mapping[str, SourcedBlueprint]
    overrides: Mapping[str, Mapping[str, SourcedBlueprint | None]]  # cluster id -> name ->

    def for_cluster(self, cluster_id: str) -> Mapping[str, SourcedBlueprint]:
        extra = self.overrides.get(cluster_id)
        if not extra:
            return self.base
        merged = {**self.base, **extra}
        return {name: bp for name, bp in merged.items() if bp is not None}


def load_released(session: Session, org_id: str) -> Released:
    rows = session.execute(
        select(Blueprint.id, Blueprint.name, Blueprint.released_version, Blueprint.deleted).where(
            Blueprint.org_id == org_id
        )
    ).all()
    names = {bp_id: name for bp_id, name, _, _ in rows}
    wanted: set[tuple[str, int]] = {(bp_id, v) for bp_id, _, v, _ in rows if v}
    releases = session.execute(
        select(BlueprintRelease.blueprint_id, BlueprintRelease.cluster_id, BlueprintRelease.version)
        .join(Blueprint, Blueprint.id == BlueprintRelease.blueprint_id)
        .where(Blueprint.org_id == org_id)
    ).all()
    wanted |= {(bp_id, v) for bp_id, _, v in releases}
    texts: dict[tuple[str, int], str] = {}
    for bp_id, version, text in session.execute(
        select(
            BlueprintVersion.blueprint_id, BlueprintVersion.version, BlueprintVersion.yaml
        ).where(BlueprintVersion.blueprint_id.in_(list(names)))
    ):
        if (bp_id, version) in wanted:
            texts[(bp_id, version)] = text

    def sourced(bp_id: str, version: int) -> SourcedBlueprint | None:
        text = texts.get((bp_id, version), "")
        return SourcedBlueprint(names[bp_id], version, parsed_blueprint(text)) if text else None

    base: dict[str, SourcedBlueprint] = {}
    for bp_id, name, version, _ in rows:
        found = sourced(bp_id, version) if version else None
        if found is not None:
            base[name] = found
    overrides: dict[str, dict[str, SourcedBlueprint | None]] = defaultdict(dict)
    for bp_id, cluster_id, version in releases:
        overrides[cluster_id][names[bp_id]] = sourced(bp_id, version)
    return Released(base, overrides)


def recompute(
    session: Session, org_id: str, cluster_ids: Iterable[str] | None = None
) -> dict[str, int]:
    """Recompute and store the desired state of the org's clusters (or of ``cluster_ids``);
    returns the clusters whose generation changed, with their new generation."""
    query = select(Cluster).where(Cluster.org_id == org_id)
    if cluster_ids is not None:
        query = query.where(Cluster.id.in_(list(cluster_ids)))
    clusters = list(session.scalars(query))
    if not clusters:
        return {}
    ids = [c.id for c in clusters]
    released = load_released(session, org_id)
    namespaces = _namespaces(session, ids)
    policies = _policies(session, ids)
    staged_policies = _staged_policies(session, ids)
    staged_blueprints = load_staged_blueprints(session, org_id)
    known = _known(session, ids)
    changed: dict[str, int] = {}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    now = utcnow()
    for cluster in clusters:
        facts = ClusterFacts(cluster.name, cluster.labels or {}, namespaces.get(cluster.id, {}))
        blueprints = released.for_cluster(cluster.id)
        own = policies.get(cluster.id, [])
        desired = desired_for(facts, blueprints, own)
        digest = desired.digest()
        generation, old_digest = known.get(cluster.id, (0, None))
        staged = staged_for(
            facts, blueprints, own, staged_policies.get(cluster.id, []), staged_blueprints, desired
        )
        row: dict[str, Any] = {
            "cluster_id": cluster.id,
            "conflicts": desired.conflicts,
            "staged": staged,  # not in the digest: the agent never sees staged versions
            "computed_at": now,
        }
        if old_digest != digest:
            generation += 1
            changed[cluster.id] = generation
            row |= {
                "generation": generation,
                "digest": digest,
                "objects": desired.objects,
                "settings": desired.settings,
            }
        if cluster.id in known:
            updates.append(row)
        else:
            inserts.append({"org_id": org_id, "generation": 0, **row})
    # Bulk statements, and only the digest of existing states is read: rewriting the
    # desired state of a thousand clusters stays a handful of round trips.
    if inserts:
        session.execute(insert(DesiredState), inserts)
    if updates:
        session.execute(update(DesiredState), updates)
    if changed:
        session.info.setdefault(_CHANGED, set()).update(changed)
    return changed


# --- change notification ---------------------------------------------------------------

_CHANGED = "netwarden.desired.changed"
_watchers: weakref.WeakSet[GenerationWatch] = weakref.WeakSet()


class GenerationWatch:
    """Wakes the long polls of agents (``GET /agent/desired-state``) when a transaction of
    this process that changed desired states commits, instead of their re-reading the
    database every half second. Changes committed by another server process are seen by
    the pollers' periodic re-check. ``notify`` may be called from any thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self.closed = False  # the server is shutting down: waiters return at once
        _watchers.add(self)

    def close(self) -> None:
        self.closed = True
        self.notify()

    async def wait(self, timeout: float) -> None:
        """Until the next change, or ``timeout`` seconds (at once after ``close``)."""
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        if self._event is None or self._loop is not loop:  # first wait, or a new loop
            self._loop, self._event = loop, asyncio.Event()
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def notify(self) -> None:
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return

        def wake() -> None:
            event.set()
            self._event = asyncio.Event()  # later waiters wait for the next change

        loop.call_soon_threadsafe(wake)


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_CHANGED, None):
        for watch in list(_watchers):
            watch.notify()


@sa_event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def _known(session: Session, cluster_ids: list[str]) -> dict[str, tuple[int, str | None]]:
    rows = session.execute(
        select(DesiredState.cluster_id, DesiredState.generation, DesiredState.digest).where(
            DesiredState.cluster_id.in_(cluster_ids)
        )
    )
    return {cid: (generation, digest) for cid, generation, digest in rows}


def _namespaces(
    session: Session, cluster_ids: list[str]
) -> dict[str, dict[str, Mapping[str, str]]]:
    out: dict[str, dict[str, Mapping[str, str]]] = defaultdict(dict)
    rows = session.execute(
        select(Namespace.cluster_id, Namespace.name, Namespace.labels).where(
            Namespace.cluster_id.in_(cluster_ids)
        )
    )
    for cluster_id, name, labels in rows:
        out[cluster_id][name] = labels or {}
    return out


def _policies(
    session: Session, cluster_ids: list[str]
) -> dict[str, list[tuple[str, int, dict[str, Any]]]]:
    """The enforced version of each policy (a staged current version is not in force)."""
    out: dict[str, list[tuple[str, int, dict[str, Any]]]] = defaultdict(list)
    rows = session.execute(
        select(Policy.cluster_id, Policy.id, Policy.enforced_version, PolicyVersion.yaml)
        .join(PolicyVersion, PolicyVersion.policy_id == Policy.id)
        .where(
            Policy.cluster_id.in_(cluster_ids),
            Policy.deleted.is_(False),
            PolicyVersion.version == Policy.enforced_version,
        )
        .order_by(Policy.kind, Policy.namespace, Policy.name)
    )
    for cluster_id, policy_id, version, text in rows:
        obj = parsed_object(text)
        if isinstance(obj, dict):
            out[cluster_id].append((policy_id, version, obj))
    return out


def _staged_policies(session: Session, cluster_ids: list[str]) -> dict[str, list[StagedPolicy]]:
    out: dict[str, list[StagedPolicy]] = defaultdict(list)
    rows = session.execute(
        select(Policy.cluster_id, Policy.id, Policy.version, PolicyVersion.yaml)
        .join(PolicyVersion, PolicyVersion.policy_id == Policy.id)
        .where(
            Policy.cluster_id.in_(cluster_ids),
            Policy.staged.is_(True),
            Policy.deleted.is_(False),
            PolicyVersion.version == Policy.version,
        )
        .order_by(Policy.kind, Policy.namespace, Policy.name)
    )
    for cluster_id, policy_id, version, text in rows:
        obj = parsed_object(text)
        if isinstance(obj, dict):
            out[cluster_id].append(StagedPolicy(policy_id, version, obj))
    return out


def load_staged_blueprints(
    session: Session, org_id: str
) -> dict[str, tuple[str, SourcedBlueprint]]:
    """The org's blueprints whose current version is staged: name -> (id, that version)."""
    rows = session.execute(
        select(Blueprint.id, Blueprint.name, Blueprint.version, BlueprintVersion.yaml)
        .join(BlueprintVersion, BlueprintVersion.blueprint_id == Blueprint.id)
        .where(
            Blueprint.org_id == org_id,
            Blueprint.staged.is_(True),
            Blueprint.deleted.is_(False),
            BlueprintVersion.version == Blueprint.version,
        )
    ).all()
    return {
        name: (bp_id, SourcedBlueprint(name, version, parsed_blueprint(text)))
        for bp_id, name, version, text in rows
        if text
    }
