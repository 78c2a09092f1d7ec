"""``netwarden flows --api URL``: stored and live flows from a Netwarden server.

Filters travel as Hubble FlowFilter JSON, so the server applies exactly the filters the
flags built; the server applies the caller's scope on top. ``--follow`` prints the
history asked for (``--since``/``--last``) and then the live tail, and says on standard
error when the server dropped flows because this reader was too slow.
"""

from __future__ import annotations

from collections.abc import Iterator

import typer

from netwarden.cli.offline import fail
from netwarden.client.http import ApiError, NetwardenClient
from netwarden.flows.filters import ObserveFilters
from netwarden.model.flow import Flow

DEFAULT_API_LAST = 20  # like hubble observe without --follow or a time range
MAX_API_LIMIT = 10_000


def from_api(
    url: str,
    token: str | None,
    filters: ObserveFilters,
    since: str | None,
    until: str | None,
    last: int | None,
    follow: bool,
) -> Iterator[Flow]:
    if token is None:
        fail("error: --api needs a token: --token, NETWARDEN_TOKEN or netwarden login")
    with NetwardenClient(url, token) as client:
        try:
            yield from _history(client, filters, since, until, last, follow)
            if follow:
                yield from _live(client, filters)
        except ApiError as exc:
            fail(f"error: {url}: {exc}")
        except KeyboardInterrupt:  # pragma: no cover - interactive --follow
            raise typer.Exit(0) from None


def _history(
    client: NetwardenClient,
    filters: ObserveFilters,
    since: str | None,
    until: str | None,
    last: int | None,
    follow: bool,
) -> Iterator[Flow]:
    ranged = since is not None or until is not None
    if follow and last is None and not ranged:
        return
    limit = last if last is not None else (MAX_API_LIMIT if ranged else DEFAULT_API_LAST)
    yield from client.query_flows(
        filters.whitelist,
        filters.blacklist,
        since=since,
        until=until,
        limit=min(limit, MAX_API_LIMIT),
        last=last is not None or not ranged,
    )


def _live(client: NetwardenClient, filters: ObserveFilters) -> Iterator[Flow]:
    for event in client.stream_flows(filters.whitelist, filters.blacklist):
        if event.lost:
            typer.echo(
                f"warning: the server dropped {event.lost} flows: reading too slowly", err=True
            )
        if event.flow is not None:
            yield event.flow
