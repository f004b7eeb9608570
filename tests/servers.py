"""Test databases: SQLite files and throwaway PostgreSQL databases (loud skip without PostgreSQL)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from ehp.bench.servers import DEFAULT_POSTGRES_ADMIN, throwaway_postgres

POSTGRES_ADMIN = os.environ.get("EHP_TEST_POSTGRES", DEFAULT_POSTGRES_ADMIN)
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_postgres() -> None:
    """Skip loudly without PostgreSQL; under CI a missing PostgreSQL is a failure."""
    try:
        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3):
            return
    except psycopg.OperationalError:
        pass
    message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN}"
    if IN_CI:
        pytest.fail(f"{message}: CI must run the PostgreSQL tests", pytrace=False)
    print(f"\n*** SKIPPING PostgreSQL tests: {message} ***", file=sys.stderr)
    pytest.skip(message)


@contextmanager
def database_url(backend: str, folder: Path) -> Iterator[str]:
    """A fresh database of the backend: a new SQLite file or a throwaway PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'ehp.db'}"
        return
    require_postgres()
    with throwaway_postgres(POSTGRES_ADMIN) as url:
        yield url
