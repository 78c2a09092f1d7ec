"""Control-plane storage: engines for SQLite (embedded default) and PostgreSQL, schema
migrations with Alembic, sessions.

``open_database(url)`` migrates the schema to the latest revision before returning, so
a fresh data directory, an old one and a PostgreSQL database all end up on the same
schema. SQLite gets foreign keys enforced and WAL journaling (readers never wait for
the writer) and transactions that take the write lock when they start (writers queue
instead of failing); PostgreSQL connections go through psycopg 3.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def normalize_url(url: str) -> str:
    """``postgresql://`` -> the psycopg 3 driver; anything else unchanged."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


WRITER_WAIT_S = 60.0


def make_engine(url: str, *, immediate: bool = True) -> Engine:
    """An engine; for SQLite, ``immediate`` transactions take the write lock at BEGIN
    (writers), otherwise BEGIN is deferred (readers never wait for writers in WAL)."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            pool_size=20,
            max_overflow=40,
            pool_timeout=60,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        if immediate:
            writers = _WriterQueue()
            event.listen(engine, "begin", writers.begin)
            event.listen(engine, "commit", writers.end)
            event.listen(engine, "rollback", writers.end)
        else:
            event.listen(engine, "begin", _sqlite_deferred)
        return engine
    return create_engine(url, pool_size=20, max_overflow=40, pool_timeout=60, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event starts transactions
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class _WriterQueue:
    """``BEGIN IMMEDIATE``: take the write lock when the transaction starts. A deferred
    transaction that reads and then writes fails at once ("database is locked") when
    another writer committed in between; an immediate one waits its turn. SQLite
    serializes writers anyway; this makes them queue instead of fail.

    Writers of this process queue on a lock first: SQLite's own busy handler polls with
    sleeps of up to 100 ms, so with dozens of waiting writers (a hundred agents reporting
    at once) the write lock sat idle between them and requests timed out; a queue in
    the process hands it over at once. Other processes on the same file still wait
    through the busy timeout."""

    HELD = "netwarden.writer"

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def begin(self, connection: Any) -> None:
        if not self._lock.acquire(timeout=WRITER_WAIT_S):
            raise TimeoutError(f"no write turn on the database in {WRITER_WAIT_S:.0f} s")
        connection.info[self.HELD] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self.end(connection)
            raise

    def end(self, connection: Any) -> None:
        if connection.info.pop(self.HELD, False):
            self._lock.release()


def _sqlite_deferred(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@dataclass
class Database:
    """Sessions for writing (``sessions``) and for reading (``readers``: the same engine
    on PostgreSQL; on SQLite one whose transactions do not take the write lock)."""

    engine: Engine
    sessions: sessionmaker[Session]
    read_engine: Engine | None = None
    readers: sessionmaker[Session] | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads only (rolled back at the end)."""
        factory = self.readers or self.sessions
        with factory() as session:
            try:
                yield session
            finally:
                session.rollback()

    def close(self) -> None:
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()


def open_database(url: str, *, migrate_schema: bool = True) -> Database:
    engine = make_engine(url)
    if migrate_schema:
        migrate(engine)
    if not normalize_url(url).startswith("sqlite"):
        return Database(engine, sessionmaker(engine, expire_on_commit=False))
    reader = make_engine(url, immediate=False)
    return Database(
        engine, sessionmaker(engine, expire_on_commit=False), reader, sessionmaker(reader)
    )
