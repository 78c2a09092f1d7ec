"""Drift: how the cluster's managed policy objects differ from the desired state the agent
applied last. Pure functions over plain data, so the rules are tested without a cluster.

An object drifted when it is

- ``missing``: desired, but no managed object with its kind, namespace and name exists
  (deleted, or its ownership label removed: it then shows up as unmanaged as well);
- ``changed``: a field the agent set no longer holds the agent's value. The agent owns
  the fields it sets (server-side apply semantics): every field of the desired object
  must hold the desired value, lists must hold exactly the desired items (an added or
  removed rule is drift), and a whole section at the top of the body that the agent did
  not set is drift (someone added ``egress`` to a policy that had none), except the
  sections the API server fills in by default (``NetworkPolicy.spec.policyTypes``). The
  desired labels and annotations (ownership, source) must be present with their values;
  other labels and annotations, ``status`` and server metadata are ignored;
- ``extra``: managed (it carries the ownership label) but not desired: the agent
  should have pruned it, or someone created it with the agent's label.

Unmanaged objects are never drift: they are reported as such and never touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from netwarden.agent.backend import ObjectRef

DriftKind = Literal["missing", "changed", "extra"]
IGNORED_TOP = frozenset({"apiVersion", "kind", "metadata", "status"})
DEFAULTED: Mapping[str, frozenset[str]] = {"NetworkPolicy": frozenset({"policyTypes"})}


@dataclass(frozen=True, slots=True, order=True)
class Drift:
    ref: ObjectRef
    kind: DriftKind
    detail: str

    def to_dict(self, *, restored: bool = False) -> dict[str, str]:
        """The drift entry of the status report (``detail`` says what and, after a
        restore, that it was restored)."""
        detail = f"{self.kind}: {self.detail}" if self.detail else self.kind
        return {**self.ref.to_dict(), "detail": f"restored, {detail}" if restored else detail}


def compare(
    desired: Sequence[Mapping[str, Any]], live: Mapping[ObjectRef, Mapping[str, Any]]
) -> list[Drift]:
    """The drift of the live managed objects from the desired ones, sorted by object."""
    out: list[Drift] = []
    wanted = {ObjectRef.of(obj): obj for obj in desired}
    for ref, obj in wanted.items():
        found = live.get(ref)
        if found is None:
            out.append(Drift(ref, "missing", "not in the cluster"))
            continue
        difference = object_difference(obj, found)
        if difference is not None:
            out.append(Drift(ref, "changed", difference))
    for ref in live:
        if ref not in wanted:
            out.append(Drift(ref, "extra", "managed by netwarden but not desired"))
    return sorted(out)


def object_difference(desired: Mapping[str, Any], live: Mapping[str, Any]) -> str | None:
    """The first difference (a field path and what differs) of ``live`` from
    ``desired`` in what the agent owns; None when they agree."""
    meta = desired.get("metadata") or {}
    live_meta = live.get("metadata") or {}
    for part in ("labels", "annotations"):
        ours: Mapping[str, Any] = meta.get(part) or {}
        theirs: Mapping[str, Any] = live_meta.get(part) or {}
        for key in sorted(ours):
            if theirs.get(key) != ours[key]:
                return f"metadata.{part}.{key} is {_show(theirs.get(key))}, want {_show(ours[key])}"
    kind = str(desired.get("kind", ""))
    for key in sorted(set(desired) - IGNORED_TOP):
        if key not in live:
            return f"{key} is missing"
        defaulted = DEFAULTED.get(kind, frozenset())
        found = _difference(desired[key], live[key], key, top=True, defaulted=defaulted)
        if found is not None:
            return found
    for key in sorted(set(live) - IGNORED_TOP - set(desired)):
        if not _empty(live[key]):
            return f"{key} was added"
    return None


def _difference(
    want: Any, have: Any, path: str, *, top: bool = False, defaulted: frozenset[str] = frozenset()
) -> str | None:
    """At the ``top`` of the body (``spec``), a section the agent did not set is drift
    unless the API server fills it in (``defaulted``); deeper, extra keys are defaults."""
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return f"{path} is {_show(have)}, want an object"
        for key in sorted(want):
            if key not in have:
                return f"{path}.{key} is missing"
            found = _difference(want[key], have[key], f"{path}.{key}")
            if found is not None:
                return found
        if top:
            for key in sorted(set(have) - set(want) - defaulted):
                if not _empty(have[key]):
                    return f"{path}.{key} was added"
        return None
    if isinstance(want, list):
        if not isinstance(have, list):
            return f"{path} is {_show(have)}, want a list"
        if len(want) != len(have):
            return f"{path} has {len(have)} items, want {len(want)}"
        for i, (w, h) in enumerate(zip(want, have, strict=True)):
            found = _difference(w, h, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if want != have or isinstance(want, bool) != isinstance(have, bool):
        return f"{path} is {_show(have)}, want {_show(want)}"
    return None


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == []


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
