"""Regenerate the console's API types from the server's OpenAPI document (make docs).

    python -m scripts.gen_web_api                 # the app's document, built in-process
    python -m scripts.gen_web_api --url URL       # a running server's /openapi.json

Writes ``web/openapi.json`` (sorted, committed: the input of the types) and runs
openapi-typescript (a pinned dev dependency of ``web/``) to write
``web/src/api/schema.d.ts``, the types the console's fetch wrapper is checked against.
``--check`` only compares ``web/openapi.json`` with the app's document (exit 1 when stale).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx

from netwarden.api.app import create_app
from netwarden.api.auth import ControlPlaneAuthenticator
from netwarden.control.db import open_database, sqlite_url
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.service import FlowService

WEB = Path(__file__).resolve().parent.parent / "web"
DOCUMENT = WEB / "openapi.json"
TYPES = WEB / "src" / "api" / "schema.d.ts"


def app_document() -> dict[str, Any]:
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
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server's /openapi.json")
    parser.add_argument("--check", action="store_true", help="fail when web/openapi.json is stale")
    args = parser.parse_args(argv)
    if args.url:
        document = httpx.get(args.url, timeout=30).raise_for_status().json()
    else:
        document = app_document()
    text = render(document)
    if args.check:
        current = DOCUMENT.read_text() if DOCUMENT.exists() else ""
        if current != text:
            print(f"{DOCUMENT} is stale: run make docs", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(text)
    command = ["npx", "--no-install", "openapi-typescript", str(DOCUMENT), "-o", str(TYPES)]
    return subprocess.run(command, cwd=WEB, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
