"""``netwarden flows import``: load Hubble exports into a flow store.

Into a DuckDB store file directly (``--db``, while no server holds it open), or through
a server's ingestion endpoint (``--api``, with a token allowed to push for the cluster),
in acknowledged batches. Either way a file imported twice is stored once (the store
deduplicates by flow uuid, else by content hash), malformed lines are reported with
their file and line, and the summary says what was stored.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated

import typer

from netwarden.cli.offline import fail
from netwarden.client.http import ApiError, NetwardenClient
from netwarden.flows.decode import decode_lines
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.pushed import stamp_cluster

DEFAULT_BATCH_LINES = 50_000


def import_flows(
    files: Annotated[list[Path], typer.Argument(help="Hubble JSON lines files ('-': stdin).")],
    cluster: Annotated[
        str, typer.Option("--cluster", help="The cluster the flows were observed in.")
    ],
    db: Annotated[
        Path | None, typer.Option("--db", help="DuckDB flow store file (created if missing).")
    ] = None,
    api: Annotated[
        str | None, typer.Option("--api", envvar="NETWARDEN_API", help="Netwarden server URL.")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", envvar="NETWARDEN_TOKEN", help="Token for --api.")
    ] = None,
    batch_lines: Annotated[
        int, typer.Option("--batch-lines", min=1, help="Lines per acknowledged batch.")
    ] = DEFAULT_BATCH_LINES,
) -> None:
    """Store Hubble flow exports (hubble observe -o json, exporter files; .gz read as it
    decompresses) in the flow store, --batch-lines at a time. Errors name the file's line."""
    if (db is None) == (api is None):
        fail("error: give --db FILE (a store file) or --api URL (a running server)")
    totals: Counter[str] = Counter()
    for path in files:
        for number, chunk in enumerate(_chunks(path, batch_lines)):
            first = number * batch_lines + 1  # the chunk's first line in the file
            if db is not None:
                _into_store(db, cluster, path, chunk, first, totals)
            else:
                batch = f"{path.name}#{number}"
                _into_server(api or "", token, cluster, batch, path, chunk, first, totals)
    typer.echo(
        f"{totals['lines']} lines: {totals['stored']} flows stored, "
        f"{totals['duplicates']} already stored, {totals['skipped']} non-flow lines skipped, "
        f"{totals['errors']} malformed"
    )
    if totals["errors"]:
        raise typer.Exit(1)


def _chunks(path: Path, size: int) -> Iterator[list[bytes]]:
    """The file's lines (without their line ends), ``size`` at a time, read as they are
    needed (an export may not fit in memory); at least one chunk, empty for an empty file.
    Lines stay bytes: one that is not UTF-8 is a located error of its own."""
    try:
        if str(path) == "-":
            source: IO[bytes] | gzip.GzipFile = typer.get_binary_stream("stdin")
        elif path.suffix == ".gz":
            source = gzip.open(path, "rb")
        else:
            source = path.open("rb")
    except OSError as exc:
        fail(f"error: {path}: {exc}")
    chunk: list[bytes] = []
    sent = False
    try:
        with source:
            for line in source:
                chunk.append(line.rstrip(b"\r\n"))
                if len(chunk) == size:
                    yield chunk
                    chunk, sent = [], True
    except (OSError, EOFError) as exc:  # a truncated or corrupt .gz, a read error
        fail(f"error: {path}: {exc} (the batches of --batch-lines before it were imported)")
    if chunk or not sent:
        yield chunk


def _into_store(
    db: Path, cluster: str, path: Path, chunk: list[bytes], first: int, totals: Counter[str]
) -> None:
    decoded = decode_lines(chunk, file=str(path), first_line=first)
    for diag in decoded.errors:
        typer.echo(str(diag), err=True)
    try:
        with DuckDBFlowStore(db) as store:
            result = store.append(
                [stamp_cluster(f, cluster) for f in decoded.flows], cluster=cluster
            )
    except Exception as exc:  # duckdb.IOException (locked by a server), disk full, ...
        fail(f"error: {db}: {exc}")
    totals.update(
        lines=decoded.lines,
        stored=result.stored,
        duplicates=result.duplicates,
        skipped=sum(decoded.skipped.values()),
        errors=len(decoded.errors),
    )


def _into_server(
    api: str,
    token: str | None,
    cluster: str,
    batch: str,
    path: Path,
    chunk: list[bytes],
    first: int,
    totals: Counter[str],
) -> None:
    body = gzip.compress(b"\n".join(chunk) + b"\n")
    try:
        with NetwardenClient(api, token) as client:
            ack = client.push_flows(cluster, body, batch=batch, gzipped=True)
    except ApiError as exc:
        fail(f"error: {api}: {exc}")
    for error in ack.get("errors", []):
        # The server numbers the batch's lines: here they are the file's again.
        line = first + int(error.get("line") or 1) - 1
        typer.echo(f"{path}:{line}: {error.get('message')}", err=True)
    skipped = ack.get("skipped", {})
    totals.update(
        lines=int(ack.get("lines", 0)),
        stored=int(ack.get("stored", 0)),
        duplicates=int(ack.get("duplicates", 0)),
        skipped=sum(int(v) for v in skipped.values()),
        errors=int(ack.get("error_count", 0)),
    )


def register(group: typer.Typer) -> None:
    group.command("import")(import_flows)
