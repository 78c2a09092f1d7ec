"""The policy linter: misconfigurations users really hit, as located diagnostics.

``lint(world)`` runs every registered check (registry.py) and returns
``Diagnostic`` values sorted by file and line. It prints nothing: the CLI and
the API render the result.

A policy can silence checks for itself with the annotation
``netwarden.io/lint-ignore: "NW301,NW702"`` (short codes or full codes).
"""

from __future__ import annotations

from collections.abc import Collection

from netwarden.engine.lint.base import Check, Finding, LintContext, subject_text
from netwarden.engine.lint.registry import CHECKS
from netwarden.engine.world import World
from netwarden.model.diagnostics import Diagnostic, Severity
from netwarden.model.rule import NormalizedPolicy, PolicyRef

IGNORE_ANNOTATION = "netwarden.io/lint-ignore"
SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}

__all__ = [
    "CHECKS",
    "IGNORE_ANNOTATION",
    "SEVERITY_RANK",
    "Check",
    "Finding",
    "LintContext",
    "lint",
    "sort_key",
]


def lint(world: World, select: Collection[str] | None = None) -> list[Diagnostic]:
    """Run the checks (all, or those whose code or short code is in ``select``)."""
    ctx = LintContext(world)
    ignored = {p.ref: _ignored_codes(p) for p in ctx.policies}
    out: list[Diagnostic] = []
    for check in CHECKS:
        if select is not None and check.code not in select and check.number not in select:
            continue
        for finding in check.run(ctx):
            if _is_ignored(check, finding.policy, ignored):
                continue
            out.append(_diagnostic(check, finding))
    return sorted(set(out), key=sort_key)


def sort_key(d: Diagnostic) -> tuple[str, int, int, str, str, str]:
    loc = d.location
    doc = loc.document if loc.document is not None else -1
    line = loc.line if loc.line is not None else 0
    return (loc.file, doc, line, d.code, loc.path, d.message)


def _diagnostic(check: Check, finding: Finding) -> Diagnostic:
    subject = subject_text(finding.policy) if finding.policy is not None else ""
    severity = finding.severity or check.severity
    return Diagnostic(check.code, severity, finding.message, finding.location, subject)


def _ignored_codes(policy: NormalizedPolicy) -> frozenset[str]:
    raw = policy.raw if isinstance(policy.raw, dict) else {}
    meta = raw.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    text = annotations.get(IGNORE_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(text, str):
        return frozenset()
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def _is_ignored(
    check: Check, ref: PolicyRef | None, ignored: dict[PolicyRef, frozenset[str]]
) -> bool:
    codes = ignored.get(ref, frozenset()) if ref is not None else frozenset()
    return check.code in codes or check.number in codes
