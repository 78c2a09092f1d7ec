"""The Blueprint manifest: parsed with line numbers, every embedded policy validated by
the engine's loader with its errors located in the blueprint's own text.

```yaml
apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {name: day0}
spec:
  extends: golden                      # optional: a blueprint whose content comes first
  assign:                              # which clusters get it (OR of the two)
    clusterSelector: {matchLabels: {env: prod}}
    clusters: [edge-1]
  settings: {enforcementMode: enforce, policyEnforcement: default, drift: notify}
  clusterPolicies: [<CiliumClusterwideNetworkPolicy | AdminNetworkPolicy | ...>]
  namespaceDefaults:
  - name: baseline                     # stamped into every matching namespace
    namespaceSelector: {matchLabels: {team: shop}}   # {} or absent: every namespace
    exclude: [kube-system]
    policies: [<NetworkPolicy | CiliumNetworkPolicy without a namespace>]
  rollout:                             # optional: new versions reach the fleet in waves
    waves:
    - {name: staging, clusterSelector: {matchLabels: {env: staging}}}
    - {name: prod-canary, clusterSelector: {matchLabels: {env: prod}}, percent: 10}
    - {name: prod}                     # no selector: every assigned cluster left
    pauseOnFailure: true               # default true
    soakSeconds: 60                    # wait after a wave is synced (default 0)
```
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from netwarden.control.access import Invalid
from netwarden.model.diagnostics import Diagnostic, Location, PathKey, Severity, path_text
from netwarden.model.labels import LabelSelector
from netwarden.sources.common import parse_label_selector
from netwarden.sources.loader import PolicyInput, finalize, load_documents_into
from netwarden.sources.yamldoc import Cursor, SourceDoc, load_documents

CLUSTER_WIDE = (
    "CiliumClusterwideNetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
    "ClusterNetworkPolicy",
)
NAMESPACED = ("NetworkPolicy", "CiliumNetworkPolicy")
MODES = {
    "enforcementMode": ("enforce", "audit"),
    "policyEnforcement": ("default", "always", "never"),
    "drift": ("notify", "restore"),
}


@dataclass(frozen=True, slots=True)
class NamespaceDefault:
    name: str
    selector: LabelSelector
    exclude: frozenset[str]
    policies: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class WaveSpec:
    name: str
    selector: LabelSelector | None = None  # None: every cluster no earlier wave took
    percent: int | None = None  # of the clusters the selector leaves, rounded up


@dataclass(frozen=True, slots=True)
class RolloutSpec:
    waves: tuple[WaveSpec, ...] = ()
    pause_on_failure: bool = True
    soak_seconds: int = 0


@dataclass(frozen=True, slots=True)
class BlueprintSpec:
    name: str
    extends: str | None = None
    cluster_selector: LabelSelector | None = None
    clusters: frozenset[str] = frozenset()
    settings: dict[str, str] = field(default_factory=dict)
    cluster_policies: tuple[dict[str, Any], ...] = ()
    namespace_defaults: tuple[NamespaceDefault, ...] = ()
    rollout: RolloutSpec = RolloutSpec()


def parse_blueprint(text: str, file: str = "blueprint.yaml") -> BlueprintSpec:
    """The spec, or :class:`Invalid` with every error located (line, field path)."""
    docs, diags = load_documents(text, file)
    if not diags and len(docs) != 1:
        raise Invalid("a blueprint document holds exactly one Blueprint object")
    spec: BlueprintSpec | None = None
    if not diags:
        doc = docs[0]
        root = Cursor.root(doc, diags)
        spec = _spec(root, doc, diags)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if errors or spec is None:
        raise Invalid(
            f"{len(errors)} error(s) in the blueprint: {errors[0].message}",
            [_error(d) for d in errors],
        )
    return spec


def read_spec(cur: Cursor) -> BlueprintSpec | None:
    """The spec of a Blueprint object inside a larger document (``netwarden apply``):
    errors go to the cursor's diagnostics, located in that document."""
    return _spec(cur, cur.doc, cur.diagnostics)


def _error(d: Diagnostic) -> dict[str, Any]:
    return {"field": d.location.path, "line": d.location.line, "message": d.message, "code": d.code}


def _spec(root: Cursor, doc: SourceDoc, diags: list[Diagnostic]) -> BlueprintSpec | None:
    if not root.is_map("a Blueprint object"):
        return None
    if root.get("kind").string() != "Blueprint":
        root.get("kind").error("expected kind Blueprint")
    name = root.get("metadata").get("name").string()
    if not name:
        root.get("metadata").get("name").error("a blueprint needs metadata.name")
    spec = root.get("spec")
    assign = spec.get("assign")
    selector = (
        parse_label_selector(assign.get("clusterSelector"))
        if assign.get("clusterSelector").present
        else None
    )
    clusters = frozenset(c.string() or "" for c in assign.get("clusters").items())
    settings = _settings(spec.get("settings"))
    cluster_policies = _policies(spec.get("clusterPolicies"), doc, diags, CLUSTER_WIDE)
    defaults = tuple(_default(item, doc, diags) for item in spec.get("namespaceDefaults").items())
    rollout = _rollout(spec.get("rollout"))
    return BlueprintSpec(
        name=name or "",
        extends=spec.get("extends").string(),
        cluster_selector=selector,
        clusters=clusters,
        settings=settings,
        cluster_policies=cluster_policies,
        namespace_defaults=defaults,
        rollout=rollout,
    )


def _rollout(cur: Cursor) -> RolloutSpec:
    if not cur.present or not cur.is_map("the rollout"):
        return RolloutSpec()
    for key in cur.keys():
        if key not in ("waves", "pauseOnFailure", "soakSeconds"):
            cur.get(key).error(
                f"unknown rollout field {key!r} (waves, pauseOnFailure, soakSeconds)"
            )
    waves: list[WaveSpec] = []
    names: set[str] = set()
    for item in cur.get("waves").items():
        if not item.is_map("a wave"):
            continue
        name = item.get("name").string() or ""
        if not name:
            item.get("name").error("a wave needs a name")
        elif name in names:
            item.get("name").error(f"wave {name!r} is named twice")
        names.add(name)
        sel = item.get("clusterSelector")
        selector = parse_label_selector(sel) if sel.present else None
        percent = _int(item.get("percent"), 1, 100) if item.get("percent").present else None
        waves.append(WaveSpec(name, selector, percent))
    pause = cur.get("pauseOnFailure")
    if pause.present and not isinstance(pause.value, bool):
        pause.error("pauseOnFailure is true or false")
    soak = cur.get("soakSeconds")
    return RolloutSpec(
        waves=tuple(waves),
        pause_on_failure=pause.value if isinstance(pause.value, bool) else True,
        soak_seconds=_int(soak, 0, 86_400) if soak.present else 0,
    )


def _int(cur: Cursor, low: int, high: int) -> int:
    value = cur.value
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        cur.error(f"expected a whole number from {low} to {high}")
        return low
    return value


def _settings(cur: Cursor) -> dict[str, str]:
    out: dict[str, str] = {}
    if not cur.present or not cur.is_map():
        return out
    for key in cur.keys():
        allowed = MODES.get(key)
        item = cur.get(key)
        if allowed is None:
            item.error(f"unknown setting {key!r} (one of {', '.join(MODES)})")
            continue
        value = item.string()
        if value not in allowed:
            item.error(f"{key} is one of {', '.join(allowed)}")
        else:
            out[key] = value
    return out


def _default(item: Cursor, doc: SourceDoc, diags: list[Diagnostic]) -> NamespaceDefault:
    name = item.get("name").string() or ""
    if not name:
        item.get("name").error("a namespace default needs a name")
    sel_cur = item.get("namespaceSelector")
    selector = parse_label_selector(sel_cur) if sel_cur.present else LabelSelector()
    exclude = frozenset(e.string() or "" for e in item.get("exclude").items())
    policies = _policies(item.get("policies"), doc, diags, NAMESPACED, namespaced=True)
    return NamespaceDefault(name, selector, exclude, policies)


def _policies(
    cur: Cursor,
    doc: SourceDoc,
    diags: list[Diagnostic],
    kinds: tuple[str, ...],
    *,
    namespaced: bool = False,
) -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    for item in cur.items():
        if not item.is_map("a policy object"):
            continue
        kind = item.get("kind").string()
        if kind not in kinds:
            item.get("kind").error(f"here a policy is one of {', '.join(kinds)}")
            continue
        if namespaced and item.get("metadata").get("namespace").present:
            item.get("metadata").get("namespace").error(
                "namespace defaults are stamped into each namespace: leave metadata.namespace out"
            )
            continue
        obj = copy.deepcopy(item.value)
        if _valid(obj, item.path, doc, diags, namespaced):
            out.append(obj)
    return tuple(out)


def _valid(
    obj: dict[str, Any], at: PathKey, doc: SourceDoc, diags: list[Diagnostic], namespaced: bool
) -> bool:
    """Check one embedded object with the engine's loader, errors mapped to this text."""
    probe = copy.deepcopy(obj)
    if namespaced:
        probe.setdefault("metadata", {})["namespace"] = "blueprint-check"
    n = len(at)
    lines = {path[n:]: line for path, line in doc.lines.items() if path[:n] == at}
    sub = SourceDoc(doc.file, doc.index, probe, lines)
    result = PolicyInput()
    load_documents_into(result, [sub], None)
    finalize(result)
    errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    for d in errors:
        inner = d.location.path
        where = path_text(at) + ("." + inner if inner and not inner.startswith("[") else inner)
        diags.append(
            Diagnostic(
                d.code,
                d.severity,
                d.message,
                Location(doc.file, doc.index, d.location.line, where),
                d.subject,
            )
        )
    return not errors
