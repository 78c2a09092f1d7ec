"""Text and JSON renderings of engine results."""

from __future__ import annotations

import json
from collections.abc import Sequence

from netwarden.engine.verdict import DirectionVerdict, Verdict
from netwarden.model.diagnostics import Diagnostic, Severity


def direction_summary(dv: DirectionVerdict) -> str:
    word = "allow" if dv.allowed else "deny"
    tier = dv.tier.value if dv.tier else "default"
    text = f"{word} ({tier}: {dv.reason.value})"
    if dv.rules:
        names = sorted({str(r.policy) for r in dv.rules})
        text += " by " + ", ".join(names)
    return text


def verdict_record(
    v: Verdict, probe_from: str, probe_to: str, extra: dict[str, object]
) -> dict[str, object]:
    record: dict[str, object] = {
        "from": probe_from,
        "to": probe_to,
        "port": v.port,
        "protocol": v.protocol.value,
        "verdict": "allow" if v.allowed else "deny",
    }
    record.update(extra)
    record["egress"] = v.egress.to_dict()
    record["ingress"] = v.ingress.to_dict()
    return record


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def dumps(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=False)


def diagnostics_text(diags: Sequence[Diagnostic]) -> str:
    return "\n".join(str(d) for d in diags)


def lint_table(findings: Sequence[Diagnostic]) -> str:
    """Lint findings as a table, then a one-line summary."""
    counts = {s: sum(1 for d in findings if d.severity is s) for s in Severity}
    summary = (
        f"{len(findings)} finding{'' if len(findings) == 1 else 's'}: "
        f"{counts[Severity.ERROR]} error, {counts[Severity.WARNING]} warning, "
        f"{counts[Severity.INFO]} info"
    )
    if not findings:
        return "no findings"
    rows = []
    for d in findings:
        rows.append([str(d.location), d.severity.value, d.code, d.subject, d.message])
    return table(["LOCATION", "SEVERITY", "CODE", "SUBJECT", "MESSAGE"], rows) + "\n" + summary
