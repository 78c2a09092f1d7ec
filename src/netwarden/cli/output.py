"""Output of the server commands: tables, JSON, YAML (several YAML documents for lists,
so that ``get -o yaml`` can be applied again)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
import yaml

from netwarden.cli import render
from netwarden.cli.offline import fail


class Format(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


OutputOpt = Annotated[
    Format,
    typer.Option("-o", "--output", help="table: text; json or yaml: documents."),
]


def emit_documents(documents: Sequence[Any], fmt: Format, *, single: bool = False) -> None:
    """JSON: the object (``single``) or ``{"kind": "List", "items": [...]}``; YAML: one
    document per object."""
    if fmt is Format.json:
        data = documents[0] if single and documents else {"kind": "List", "items": documents}
        typer.echo(json.dumps(data, indent=2))
    elif documents:
        typer.echo(
            yaml.safe_dump_all(documents, sort_keys=False, explicit_start=len(documents) > 1)
        )


def emit_table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> None:
    if rows:
        typer.echo(render.table(headers, rows))
    else:
        typer.echo(empty, err=True)


def labels_text(labels: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "-"


def parse_labels(items: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"error: --label {item!r}: expected KEY=VALUE")
        out[key] = value
    return out
