"""Generate docs/reference/api.md from the API's OpenAPI document (run: make docs)."""

from __future__ import annotations

import sys
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from netwarden.api.app import create_app
from netwarden.api.auth import ControlPlaneAuthenticator
from netwarden.control.db import open_database, sqlite_url
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.service import FlowService

OUT = Path(__file__).resolve().parent.parent / "docs" / "reference" / "api.md"

HEADER = """# HTTP API reference

Generated from the server's OpenAPI document by `scripts/gen_api_reference.py`
(`make docs`); a test fails when this file is out of date. The running server serves
the full document at `/openapi.json` (interactive at `/docs`).

Every route but `/healthz` and the documentation needs `Authorization: Bearer <token>`
(a user's token, or for `/api/v1/agent/*` and flow ingestion a cluster agent's token).
Errors are `application/problem+json` (`type`, `title`, `status`, `detail`, and
`errors[]` of `{field, message}` — with `line` for submitted YAML — for located
problems). Objects of another org answer 404. Policies and blueprints carry an `ETag`
(`"v3"`); send it back in `If-Match` to refuse a change made since you read (412).

Flow ingestion acknowledgement (sent after the batch is committed):

```json
{"batch": "node-3#17", "cluster": "prod-eu", "lines": 5000, "offered": 4998,
 "stored": 4998, "duplicates": 0, "skipped": {"lost_events": 2},
 "errors": [], "error_count": 0}
```

A flow document is the GetFlowsResponse shape `hubble observe -o jsonpb` prints:
`{"flow": {...}, "node_name": "prod-eu/node-3", "time": "2026-11-21T08:00:00.000000000Z"}`.
"""


def render() -> str:
    with TemporaryDirectory() as tmp:
        db = open_database(sqlite_url(Path(tmp) / "c.db"))
        try:
            app = create_app(
                flow_service=FlowService(DuckDBFlowStore()),
                authenticator=ControlPlaneAuthenticator(db),
                db=db,
            )
            document: dict[str, Any] = app.openapi()
        finally:
            db.close()
    sections: dict[str, list[str]] = {}
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            tag = (op.get("tags") or ["other"])[0]
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            query = f" (`{'`, `'.join(params)}`)" if params else ""
            row = f"| `{method.upper()} {path}` | {op.get('summary', '')}{query} |"
            sections.setdefault(tag, []).append(row)
    parts = [HEADER]
    for tag in sorted(sections):
        parts.append(f"## {tag}\n")
        parts.append("| operation | what |")
        parts.append("|---|---|")
        parts.extend(sections[tag])
        parts.append("")
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        return 0 if OUT.read_text() == text else 1
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
