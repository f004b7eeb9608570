"""Every statement of a serving process has a time limit, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from ehp.errors import Category, FhirError
from ehp.store.database import migrate, open_engine
from tests.servers import database_url

SLOW = {
    # a recursive count of 10^9 rows: minutes of work, stopped by the progress handler
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000000000) "
    "SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(30)",
}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_statement_past_its_time_is_stopped_and_the_connection_still_works(
    backend: str, tmp_path: Path
) -> None:
    with database_url(backend, tmp_path) as url:
        engine = open_engine(url, pool_size=1, statement_timeout=0.3)
        try:
            migrate(engine)  # migrations are not limited
            started = time.monotonic()
            with pytest.raises(FhirError) as refused, engine.connect() as connection:
                connection.execute(text(SLOW[backend])).scalar()
            assert time.monotonic() - started < 10
            assert refused.value.category is Category.UNPROCESSABLE
            assert refused.value.issues[0].code == "too-costly"
            with engine.connect() as connection:
                assert connection.execute(text("SELECT 1")).scalar() == 1
        finally:
            engine.dispose()


def test_without_a_limit_nothing_is_stopped(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'free.db'}", pool_size=1)
    try:
        with engine.connect() as connection:
            query = SLOW["sqlite"].replace("1000000000", "300000")
            assert connection.execute(text(query)).scalar() == 300000
    finally:
        engine.dispose()
