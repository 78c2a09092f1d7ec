"""YAML shapes that parse fine but rarely mean what their author wanted."""

from __future__ import annotations

from collections.abc import Iterator

from netwarden.engine.lint.base import Finding, LintContext
from netwarden.engine.lint.locate import NETWORK_POLICY, raw_at
from netwarden.model.diagnostics import PathKey


def _selector_text(sel: object) -> str:
    """``{app: web}``-style text of a raw label selector, for messages."""
    if not isinstance(sel, dict):
        return "{}"
    parts = []
    labels = sel.get("matchLabels")
    if isinstance(labels, dict):
        parts += [f"{k}: {v}" for k, v in labels.items()]
    exprs = sel.get("matchExpressions")
    if isinstance(exprs, list):
        for expr in exprs:
            if isinstance(expr, dict):
                text = f"{expr.get('key')} {expr.get('operator')}"
                values = expr.get("values")
                if isinstance(values, list) and values:
                    text += " (" + ",".join(str(v) for v in values) + ")"
                parts.append(text)
    return "{" + ", ".join(parts) + "}"


def _only(item: object, key: str) -> bool:
    return isinstance(item, dict) and list(item) == [key] and isinstance(item[key], dict | None)


def _non_empty(sel: object) -> bool:
    return isinstance(sel, dict) and bool(sel.get("matchLabels") or sel.get("matchExpressions"))


def and_or_confusion(ctx: LintContext) -> Iterator[Finding]:
    """NW201: ``- namespaceSelector`` and ``- podSelector`` as two peers (OR) next to each other.

    The Kubernetes docs call this out: one list item with both selectors means
    "these pods in those namespaces" (AND); two items mean "every pod in those
    namespaces, or these pods in the policy's own namespace" (OR). An empty
    podSelector item is a deliberate "my namespace" and is not reported.
    """
    for policy in ctx.policies:
        if policy.ref.kind != NETWORK_POLICY:
            continue
        for direction, key in (("ingress", "from"), ("egress", "to")):
            rules = raw_at(policy.raw, ("spec", direction))
            for i in range(len(rules) if isinstance(rules, list) else 0):
                peers = raw_at(rules, (i, key))
                if not isinstance(peers, list):
                    continue
                for j in range(len(peers) - 1):
                    found = _pair(("spec", direction, i, key), peers, j)
                    if found is not None:
                        message, path = found
                        yield Finding(message, ctx.locate(policy, path), policy.ref)


def _pair(policy_path: PathKey, peers: list[object], j: int) -> tuple[str, PathKey] | None:
    first, second = peers[j], peers[j + 1]
    if _only(first, "namespaceSelector") and _only(second, "podSelector"):
        ns_item, pod_item = first, second
    elif _only(first, "podSelector") and _only(second, "namespaceSelector"):
        ns_item, pod_item = second, first
    else:
        return None
    assert isinstance(ns_item, dict) and isinstance(pod_item, dict)
    if not _non_empty(pod_item["podSelector"]):
        return None
    key = policy_path[-1]
    ns_text = _selector_text(ns_item["namespaceSelector"])
    pod_text = _selector_text(pod_item["podSelector"])
    message = (
        f"{key}[{j}] and {key}[{j + 1}] are two peers (OR): every pod in namespaces "
        f"{ns_text}, or pods {pod_text} in the policy's own namespace. If you meant "
        f"pods {pod_text} in namespaces {ns_text} (AND), put namespaceSelector and "
        "podSelector in one list item (no '-' before the second selector)"
    )
    return message, (*policy_path, j + 1)
