"""Staged rollout: a blueprint version reaches the fleet in waves, pausing on failure.

A blueprint whose spec has ``rollout.waves`` does not change every cluster at once.
When a version is written, its clusters (those the new or the previous version reaches)
are split into waves, in order: each wave takes the clusters its selector matches that
no earlier wave took (``percent`` keeps that share of them, rounded up, chosen by a
stable hash of blueprint and cluster name so the same clusters go first every time); a
wave without a selector takes every cluster left, and clusters no wave takes join the
last wave. The plan is fixed when the rollout starts.

Releasing a wave writes a :class:`BlueprintRelease` per cluster (that cluster now holds
the new version; the others keep ``Blueprint.released_version``) and recomputes their
desired state. :func:`advance` runs after every agent report: when every cluster of the
current wave is synced (or drifted: applied, then changed in the cluster) and the soak
time has passed, the next wave is released; after the last wave the version becomes the
blueprint's ``released_version`` and the release rows go. A failed cluster pauses the
rollout (``pauseOnFailure``, the default) with the errors in its message; an agent that
does not report holds its wave (``unknown``), as a wave cannot be known to work without
it. ``pause``, ``resume`` and ``promote`` (release the next wave now, whatever the
current one's state) are the operator's controls. A new version supersedes a rollout in
progress: clusters already released keep the version they hold until the new rollout
reaches them. Deletions, and versions without waves, reach every cluster at once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from netwarden.control import desired
from netwarden.control.access import Conflict
from netwarden.control.blueprint_spec import BlueprintSpec
from netwarden.control.models import (
    Blueprint,
    BlueprintRelease,
    BlueprintRollout,
    Cluster,
    ClusterStatus,
    DesiredState,
    as_utc,
    utcnow,
)
from netwarden.control.rollout import SyncState, sync_state

ACTIVE = ("progressing", "paused")
DONE_STATES = frozenset({"synced", "drifted"})


def plan(bp_name: str, spec: BlueprintSpec, clusters: Sequence[Cluster]) -> list[dict[str, Any]]:
    """``[{"name": wave, "clusters": [cluster ids]}]`` for ``spec.rollout.waves``."""
    left = sorted(clusters, key=lambda c: c.name)
    waves: list[dict[str, Any]] = []
    for wave in spec.rollout.waves:
        matching = [
            c for c in left if wave.selector is None or wave.selector.matches(dict(c.labels or {}))
        ]
        if wave.percent is not None:
            count = math.ceil(len(matching) * wave.percent / 100)
            matching = sorted(matching, key=lambda c: _rank(bp_name, c.name))[:count]
        taken = {c.id for c in matching}
        waves.append({"name": wave.name, "clusters": [c.id for c in left if c.id in taken]})
        left = [c for c in left if c.id not in taken]
    if waves and left:
        waves[-1]["clusters"].extend(c.id for c in left)
    return waves


def _rank(bp_name: str, cluster_name: str) -> str:
    return hashlib.sha256(f"{bp_name}/{cluster_name}".encode()).hexdigest()


def current(session: Session, bp: Blueprint) -> BlueprintRollout | None:
    """The blueprint's latest rollout (any state), if it ever had one."""
    return session.scalars(
        select(BlueprintRollout)
        .where(BlueprintRollout.blueprint_id == bp.id)
        .order_by(BlueprintRollout.version.desc())
        .limit(1)
    ).first()


def start(
    session: Session,
    bp: Blueprint,
    spec: BlueprintSpec | None,
    clusters: Sequence[Cluster],
) -> BlueprintRollout | None:
    """Begin rolling out ``bp.version`` (just written, with ``spec``; ``None`` for a
    deletion) to ``clusters``. Without waves it is released everywhere at once."""
    for old in session.scalars(
        select(BlueprintRollout).where(
            BlueprintRollout.blueprint_id == bp.id, BlueprintRollout.state.in_(ACTIVE)
        )
    ):
        old.state = "superseded"
        old.message = f"superseded by version {bp.version}"
        old.updated_at = utcnow()
    if spec is None or not spec.rollout.waves:
        _complete_release(session, bp, bp.version)
        return None
    now = utcnow()
    rollout = BlueprintRollout(
        org_id=bp.org_id,
        blueprint_id=bp.id,
        version=bp.version,
        state="progressing",
        wave=0,
        waves=plan(bp.name, spec, clusters),
        pause_on_failure=spec.rollout.pause_on_failure,
        soak_seconds=spec.rollout.soak_seconds,
        wave_started_at=now,
        started_at=now,
        updated_at=now,
    )
    session.add(rollout)
    _release(session, bp, rollout.version, rollout.waves[0]["clusters"])
    session.flush()
    return rollout


def _release(session: Session, bp: Blueprint, version: int, cluster_ids: Iterable[str]) -> None:
    ids = list(cluster_ids)
    if not ids:
        return
    session.execute(
        delete(BlueprintRelease).where(
            BlueprintRelease.blueprint_id == bp.id, BlueprintRelease.cluster_id.in_(ids)
        )
    )
    existing = set(session.scalars(select(Cluster.id).where(Cluster.id.in_(ids))))
    now = utcnow()
    session.add_all(
        BlueprintRelease(blueprint_id=bp.id, cluster_id=cid, version=version, released_at=now)
        for cid in ids
        if cid in existing
    )
    session.flush()


def _complete_release(session: Session, bp: Blueprint, version: int) -> None:
    bp.released_version = version
    session.execute(delete(BlueprintRelease).where(BlueprintRelease.blueprint_id == bp.id))
    session.flush()


def advance(session: Session, org_id: str, now: datetime | None = None) -> list[str]:
    """Move every rollout of the org in progress as far as its clusters allow; returns
    what happened (one line per step, for the audit log)."""
    now = now or utcnow()
    steps: list[str] = []
    for rollout in session.scalars(
        select(BlueprintRollout).where(
            BlueprintRollout.org_id == org_id, BlueprintRollout.state == "progressing"
        )
    ).all():
        bp = session.get(Blueprint, rollout.blueprint_id)
        if bp is None:
            continue
        steps.extend(_advance_one(session, bp, rollout, now))
    return steps


def _advance_one(
    session: Session, bp: Blueprint, rollout: BlueprintRollout, now: datetime
) -> list[str]:
    steps: list[str] = []
    while rollout.state == "progressing":
        states = wave_states(session, rollout.waves[rollout.wave]["clusters"], now)
        failed = [s for s in states if s.state == "failed"]
        if failed and rollout.pause_on_failure:
            rollout.state = "paused"
            rollout.message = _failure_message(rollout, failed)
            rollout.updated_at = now
            steps.append(f"blueprint {bp.name} v{rollout.version}: {rollout.message}")
            break
        if any(s.state not in DONE_STATES and s.state != "failed" for s in states):
            break
        if rollout.wave_synced_at is None:
            rollout.wave_synced_at = now
        soak_end = as_utc(rollout.wave_synced_at) + timedelta(seconds=rollout.soak_seconds)
        if states and now < soak_end:
            break
        steps.append(_next_wave(session, bp, rollout, now))
    return steps


def _next_wave(session: Session, bp: Blueprint, rollout: BlueprintRollout, now: datetime) -> str:
    done = rollout.waves[rollout.wave]["name"]
    rollout.updated_at = now
    rollout.message = ""
    if rollout.wave + 1 >= len(rollout.waves):
        rollout.state = "completed"
        _complete_release(session, bp, rollout.version)
        ids = [cid for wave in rollout.waves for cid in wave["clusters"]]
        desired.recompute(session, bp.org_id, ids)
        return f"blueprint {bp.name} v{rollout.version}: wave {done} done, rollout completed"
    rollout.wave += 1
    rollout.wave_started_at = now
    rollout.wave_synced_at = None
    wave = rollout.waves[rollout.wave]
    _release(session, bp, rollout.version, wave["clusters"])
    desired.recompute(session, bp.org_id, wave["clusters"])
    return (
        f"blueprint {bp.name} v{rollout.version}: wave {done} done, "
        f"wave {wave['name']} released to {len(wave['clusters'])} cluster(s)"
    )


def _failure_message(rollout: BlueprintRollout, failed: list[SyncState]) -> str:
    wave = rollout.waves[rollout.wave]["name"]
    parts = []
    for s in failed[:5]:
        errors = "; ".join(
            f"{e.get('kind')} {e.get('namespace') or ''}/{e.get('name')}: {e.get('error')}"
            for e in s.errors[:3]
        )
        parts.append(f"{s.cluster} ({errors})")
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return f"paused: wave {wave} failed on {', '.join(parts)}{more}"


def wave_states(session: Session, cluster_ids: Sequence[str], now: datetime) -> list[SyncState]:
    if not cluster_ids:
        return []
    clusters = session.scalars(select(Cluster).where(Cluster.id.in_(list(cluster_ids)))).all()
    ids = [c.id for c in clusters]
    states = {
        d.cluster_id: d
        for d in session.scalars(select(DesiredState).where(DesiredState.cluster_id.in_(ids)))
    }
    reports = {
        s.cluster_id: s
        for s in session.scalars(select(ClusterStatus).where(ClusterStatus.cluster_id.in_(ids)))
    }
    return [sync_state(c, states.get(c.id), reports.get(c.id), now) for c in clusters]


# --- the operator's controls -----------------------------------------------------------


def _active(session: Session, bp: Blueprint) -> BlueprintRollout:
    rollout = current(session, bp)
    if rollout is None or rollout.state not in ACTIVE:
        raise Conflict(f"blueprint {bp.name} has no rollout in progress")
    return rollout


def pause(session: Session, bp: Blueprint, actor: str) -> BlueprintRollout:
    rollout = _active(session, bp)
    rollout.state = "paused"
    rollout.message = f"paused by {actor}"
    rollout.updated_at = utcnow()
    return rollout


def resume(session: Session, bp: Blueprint) -> BlueprintRollout:
    """Continue a paused rollout: the current wave is checked again (a failure that is
    still there pauses it again)."""
    rollout = _active(session, bp)
    rollout.state = "progressing"
    rollout.message = ""
    rollout.updated_at = utcnow()
    _advance_one(session, bp, rollout, utcnow())
    return rollout


def promote(session: Session, bp: Blueprint) -> BlueprintRollout:
    """Release the next wave now (or complete the rollout), whatever the current wave's
    state, and carry on from there."""
    rollout = _active(session, bp)
    now = utcnow()
    rollout.state = "progressing"
    _next_wave(session, bp, rollout, now)
    if rollout.state == "progressing":
        _advance_one(session, bp, rollout, now)
    return rollout


def rollout_doc(session: Session, rollout: BlueprintRollout) -> dict[str, Any]:
    now = utcnow()
    every = [cid for wave in rollout.waves for cid in wave["clusters"]]
    names = dict(
        session.execute(select(Cluster.id, Cluster.name).where(Cluster.id.in_(every))).all()
    )
    waves = []
    for index, wave in enumerate(rollout.waves):
        if index < rollout.wave or rollout.state == "completed":
            phase = "done"
        elif index == rollout.wave:
            phase = "current"
        else:
            phase = "waiting"
        clusters = (
            [s.to_dict() for s in wave_states(session, wave["clusters"], now)]
            if phase != "waiting"
            else [{"cluster": names.get(cid, cid), "state": "waiting"} for cid in wave["clusters"]]
        )
        waves.append({"name": wave["name"], "phase": phase, "clusters": clusters})
    return {
        "version": rollout.version,
        "state": rollout.state,
        "wave": rollout.waves[rollout.wave]["name"] if rollout.waves else "",
        "message": rollout.message,
        "soak_seconds": rollout.soak_seconds,
        "pause_on_failure": rollout.pause_on_failure,
        "started_at": as_utc(rollout.started_at).isoformat(),
        "updated_at": as_utc(rollout.updated_at).isoformat(),
        "waves": waves,
    }
