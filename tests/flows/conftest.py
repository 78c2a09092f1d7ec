"""Fixtures of the flow tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A chdb engine directory for one test module. chdb runs one engine path per process,
    so every ClickHouse store of the module lives there (a database each); a session kept
    open holds the engine up between stores, and closing it at the end of the module shuts
    the engine down for the next module, whatever path that one uses."""
    from netwarden.flows.clickhouse_connection import ChdbConnection

    path = Path(os.path.realpath(tmp_path_factory.mktemp("chdb")))
    anchor = ChdbConnection(path)
    yield path
    anchor.close()
