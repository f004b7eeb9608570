"""How the store's connections are set up: PostgreSQL plans each search for its own values, without JIT."""

from __future__ import annotations

from pathlib import Path

from ehp.store.database import POSTGRES_JIT, POSTGRES_PLAN_CACHE_MODE, open_engine
from tests.servers import database_url


def test_postgresql_connections_plan_every_statement_for_its_values(tmp_path: Path) -> None:
    with database_url("postgresql", tmp_path) as url:
        engine = open_engine(url)
        try:
            with engine.connect() as connection:
                for _ in range(7):  # psycopg prepares on the fifth execution
                    mode = connection.exec_driver_sql("SHOW plan_cache_mode").scalar()
                    assert mode == POSTGRES_PLAN_CACHE_MODE == "force_custom_plan"
        finally:
            engine.dispose()


def test_postgresql_connections_do_not_compile_queries(tmp_path: Path) -> None:
    with database_url("postgresql", tmp_path) as url:
        engine = open_engine(url)
        try:
            with engine.connect() as connection:
                assert connection.exec_driver_sql("SHOW jit").scalar() == POSTGRES_JIT == "off"
        finally:
            engine.dispose()
