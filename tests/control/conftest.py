"""Control-plane fixtures: every persistence test runs on SQLite and on the real
PostgreSQL server (a fresh database per test module, dropped afterwards).

PostgreSQL is reached at ``NETWARDEN_TEST_POSTGRES`` (default
``postgresql://postgres@localhost/postgres``); ``make test`` starts the local server.
When it cannot be reached the PostgreSQL cases fail with the reason, unless
``NETWARDEN_TEST_POSTGRES=skip`` says this machine has none.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from netwarden.control.db import Database, open_database, sqlite_url

ADMIN_URL = os.environ.get("NETWARDEN_TEST_POSTGRES", "postgresql://postgres@localhost/postgres")


def _postgres_database() -> Iterator[str]:
    if ADMIN_URL == "skip":
        pytest.skip("NETWARDEN_TEST_POSTGRES=skip: no PostgreSQL on this machine")
    name = f"nw_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {ADMIN_URL} is not reachable ({exc}); run `make test`")
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "control.db")
    else:
        yield from _postgres_database()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    try:
        yield database
    finally:
        database.close()
