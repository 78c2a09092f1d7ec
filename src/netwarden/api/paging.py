"""Keyset pagination for list routes: ``limit`` items after the key ``after``.

A page is read in key order straight from the database and filtered by what the caller
may see, until ``limit`` visible items are found; ``next`` is the last item's key when
more follow (pass it as ``after``), else null. Keyset (not offset) pages stay correct
when objects are added or removed between requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from netwarden.control.access import Access

T = TypeVar("T")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
After = Annotated[
    str | None, Query(description="The previous page's `next`: items after this key.")
]


def page(
    acc: Access,
    query: Select[T],
    key: InstrumentedAttribute[Any],
    limit: int,
    after: str | None,
    visible: Callable[[T], bool],
) -> tuple[list[T], str | None]:
    acc.checked = True  # ``visible`` is the check (it calls ``Access.allowed``)
    if after is not None:
        query = query.where(key > after)
    out: list[T] = []
    rows = acc.session.scalars(query.order_by(key).execution_options(yield_per=256))
    try:
        for row in rows:
            if not visible(row):
                continue
            if len(out) == limit:
                return out, str(getattr(out[-1], key.key))
            out.append(row)
        return out, None
    finally:
        rows.close()  # a server-side cursor on PostgreSQL when we stop early
