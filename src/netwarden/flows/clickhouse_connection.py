"""How the ClickHouse flow store reaches ClickHouse: a small seam with two implementations.

- :class:`ChdbConnection`: the engine embedded in this process (chdb, a development
  dependency: tests and benchmarks). A batch is read in place by the ``Python()`` table
  function, without copying it through a format. Each thread has its own session (a
  session's query parameters are not safe to share between threads), and so has every
  streamed query (chdb ends a stream when its session runs another statement).
- :class:`ServerConnection`: a ClickHouse server through clickhouse-connect (HTTP). The
  batch is shipped with ``insert_arrow`` into the store's ``flows_incoming`` staging table,
  then inserted from there (the server has no access to this process's memory).

Both bind parameters the same way (``{name:Type}`` placeholders, values escaped by
clickhouse-connect's ``format_bind_value``), so the SQL the tests run on chdb is the SQL a
server gets. See ``docs/design/flows.md`` ("ClickHouse backend").
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from clickhouse_connect.driver.binding import format_bind_value

Params = Mapping[str, object]
Settings = Mapping[str, int | str]

_BATCH_ROWS = 4_096


class ClickHouseConnection(Protocol):
    """The statements the store runs. SQL uses ``{name:Type}`` parameters (``params``) and
    ``{batch}`` for the Arrow table of ``insert_select``; ``settings`` are ClickHouse query
    settings for that one statement."""

    def command(
        self, sql: str, params: Params | None = None, settings: Settings | None = None
    ) -> None:
        """Run a statement that returns nothing (DDL, INSERT ... SELECT, ALTER)."""
        ...

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        """A small result, as Python values."""
        ...

    def batches(self, sql: str, params: Params | None = None) -> Iterator[Any]:
        """A large result, as Arrow record batches read while the caller iterates."""
        ...

    def insert_select(
        self,
        sql: str,
        batch: Any,
        staging: tuple[str, str],
        params: Params | None = None,
        settings: Settings | None = None,
    ) -> None:
        """Run ``sql`` (an INSERT ... SELECT) reading the Arrow table ``batch`` where it
        says ``{batch}``. ``staging`` (database, table) is an empty table of the batch's
        columns, for a connection that has to ship the batch first."""
        ...

    def close(self) -> None: ...


def _text_params(params: Params | None) -> dict[str, str]:
    """Parameter values as ClickHouse parses them (escaped text), exactly as
    clickhouse-connect sends them to a server."""
    return {name: str(format_bind_value(value)) for name, value in (params or {}).items()}


def _settings_clause(settings: Settings | None) -> str:
    """A SETTINGS clause; values are ours (numbers, tokens of digits and names)."""
    if not settings:
        return ""
    rendered = (f"{k} = {v}" if isinstance(v, int) else f"{k} = '{v}'" for k, v in settings.items())
    return "\nSETTINGS " + ", ".join(rendered)


class ChdbConnection:
    """The chdb engine of this process, at ``path`` (a directory; chdb allows one path per
    process at a time, shared by every session on it)."""

    def __init__(self, path: str | Path) -> None:
        # chdb is a development dependency: imported only when an embedded store is opened.
        self._chdb: Any = importlib.import_module("chdb.session")
        self.path = str(path)
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._sessions_lock = threading.Lock()
        self._session()  # opens the engine now: a wrong path fails here

    def _session(self) -> Any:
        """This thread's session (opened on first use, closed by :meth:`close`)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._chdb.Session(self.path)
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def command(
        self, sql: str, params: Params | None = None, settings: Settings | None = None
    ) -> None:
        self._session().query(sql + _settings_clause(settings), "CSV", params=_text_params(params))

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        table = self._session().query(sql, "ArrowTable", params=_text_params(params))
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True))

    def batches(self, sql: str, params: Params | None = None) -> Iterator[Any]:
        session = self._chdb.Session(self.path)  # a stream of its own (see the module doc)
        try:
            with session.send_query(sql, "Arrow", params=_text_params(params)) as stream:
                yield from stream.record_batch(rows_per_batch=_BATCH_ROWS)
        finally:
            session.close()

    def insert_select(
        self,
        sql: str,
        batch: Any,
        staging: tuple[str, str],
        params: Params | None = None,
        settings: Settings | None = None,
    ) -> None:
        # Python() finds the table by name in the calling frames: this local.
        _netwarden_batch = batch
        statement = sql.replace("{batch}", "Python(_netwarden_batch)")
        self._session().query(
            statement + _settings_clause(settings), "CSV", params=_text_params(params)
        )

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


class ServerConnection:
    """A ClickHouse server through a clickhouse-connect client (``clickhouse_connect.
    get_client(...)``, or :meth:`connect`). Settings for every statement go to the client
    (``get_client(settings={"insert_quorum": "auto"})`` for replicated tables, say)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def connect(cls, **client: Any) -> ServerConnection:
        """A connection from ``clickhouse_connect.get_client(**client)`` (host, port,
        username, password, secure, settings, ...)."""
        clickhouse_connect: Any = importlib.import_module("clickhouse_connect")
        return cls(clickhouse_connect.get_client(**client))

    def command(
        self, sql: str, params: Params | None = None, settings: Settings | None = None
    ) -> None:
        self._client.command(sql, parameters=dict(params or {}), settings=dict(settings or {}))

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        result = self._client.query(sql, parameters=dict(params or {}))
        return [tuple(row) for row in result.result_rows]

    def batches(self, sql: str, params: Params | None = None) -> Iterator[Any]:
        with self._client.query_arrow_stream(sql, parameters=dict(params or {})) as stream:
            yield from stream

    def insert_select(
        self,
        sql: str,
        batch: Any,
        staging: tuple[str, str],
        params: Params | None = None,
        settings: Settings | None = None,
    ) -> None:
        database, table = staging
        empty = f"TRUNCATE TABLE `{database}`.`{table}`"
        self._client.command(empty)
        try:
            # Synchronous: an asynchronous insert may not be in the table when it returns.
            sync = {"async_insert": 0}
            self._client.insert_arrow(table, batch, database=database, settings=sync)
            self.command(sql.replace("{batch}", f"`{database}`.`{table}`"), params, settings)
        finally:
            self._client.command(empty)

    def close(self) -> None:
        self._client.close()
