"""Opening a database: engine settings per dialect, and schema migration with Alembic.

Connections run in autocommit mode: a read of one statement costs one round trip, with no
BEGIN/ROLLBACK around it. Write transactions are marked with the :data:`WRITE_OPTION` execution
option and begin explicitly: ``BEGIN IMMEDIATE`` on SQLite (the write lock is taken at once, so
two writers cannot deadlock upgrading a read lock), ``BEGIN`` on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from ehp.store.timeouts import UNLIMITED, limit_statements

MIGRATIONS = Path(__file__).parents[1] / "migrations"
"""The Alembic scripts, run by path: they sit above every layer because they know every table."""
WRITE_OPTION = "ehp_write"
"""Execution option marking a write transaction (see the module doc)."""


class DatabaseUrlError(ValueError):
    """The database URL names no dialect EHP supports."""


def normalise_url(url: str) -> str:
    """Accept ``sqlite:///file.db`` and ``postgresql://user@host:port/db`` (psycopg 3 is the driver)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise DatabaseUrlError(f"unsupported database URL '{url}': use sqlite:///path or postgresql://...")


def _begin_writes_explicitly(engine: Engine, begin_sql: str) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(WRITE_OPTION, False):
            connection.exec_driver_sql(begin_sql)


def _configure_sqlite(engine: Engine) -> None:
    """WAL for readers beside the writer, FULL sync so an acknowledged commit survives a power cut."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    _begin_writes_explicitly(engine, "BEGIN IMMEDIATE")


POSTGRES_PLAN_CACHE_MODE = "force_custom_plan"
"""psycopg prepares a statement on its fifth execution and PostgreSQL may then switch it to a
generic plan, blind to the values: for a search by a common code that plan took 6.7 ms against
0.76 ms planned for the values (in process, 2,000 patients; docs/benchmarks.md, "Access"). Search
statements differ in their values' selectivity, and planning them costs far less than a bad plan."""
POSTGRES_JIT = "off"
"""PostgreSQL compiles a query to machine code when its estimated cost passes ``jit_above_cost``.
A search's first page is estimated from all its matches, so a common code's page compiled for
655 ms more than it ran (967 ms against 312 ms, 12,000 matches among 4.3 million rows, before
revision 0007). Searches stop at a page; JIT pays off only for long analytic queries."""


def open_engine(url: str, pool_size: int = 8, statement_timeout: float | None = None) -> Engine:
    """Create the engine for a database URL (the database itself must exist for PostgreSQL);
    with ``statement_timeout`` (seconds), every statement gets at most that (``store/timeouts.py``)."""
    engine = _open_engine(url, pool_size)
    if statement_timeout is not None:
        limit_statements(engine, statement_timeout)
    return engine


def _open_engine(url: str, pool_size: int) -> Engine:
    normalised = normalise_url(url)
    if normalised.startswith("sqlite"):
        path = make_url(normalised).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            normalised,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine)
        return engine
    engine = create_engine(
        normalised,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=3600,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": f"-c plan_cache_mode={POSTGRES_PLAN_CACHE_MODE} -c jit={POSTGRES_JIT}"},
    )
    _begin_writes_explicitly(engine, "BEGIN")
    return engine


def writer(engine: Engine) -> Engine:
    """The engine whose ``begin()`` opens a write transaction."""
    return engine.execution_options(**{WRITE_OPTION: True})


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest revision (creating it on an empty database), or to ``revision``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with writer(engine).execution_options(**{UNLIMITED: True}).begin() as connection:
        if engine.dialect.name == "postgresql":
            # Two servers starting at once on one database must not both migrate.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274001)")
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")  # a migration may take long
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        if engine.dialect.name == "sqlite":
            _steer_sqlite_planner(connection)


def refresh_statistics(engine: Engine) -> None:
    """After a bulk load: PostgreSQL's statistics and visibility map now, not when autovacuum gets to them.

    Until then PostgreSQL plans searches for the tables as they were before the load (its
    documentation advises ``ANALYZE`` after loading), and cannot answer from an index alone: only
    ``VACUUM`` marks the new pages all-visible. A common code's first page took 8.4 ms reading the
    index rows' table pages and 2.2 ms from the index alone (10,000 people). SQLite keeps the
    figures :func:`migrate` writes, which its planner needs more than averages (see
    :func:`_steer_sqlite_planner`).
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:  # autocommit: VACUUM runs outside a transaction
        connection.exec_driver_sql("VACUUM (ANALYZE)")


SQLITE_RID_INDEX_STAT = "1000000 2"
"""``sqlite_stat1`` figures for the ``ix_idx_*_rid`` indexes: a million rows, two per resource."""


def _steer_sqlite_planner(connection: Connection) -> None:
    """Tell SQLite's planner that an index table's ``rid`` index finds a resource's few rows.

    A search tests most criteria per candidate row (``EXISTS (... WHERE idx.rid = r.rid AND idx.pid
    = ? AND idx.code = ?)``). Without statistics SQLite prefers the index matching more equality
    terms, the value index, and so reads every row with that code for every candidate (690 ms
    instead of 1 ms for ten years of one patient's HbA1c among 135,000 resources). These figures
    steer it to the ``rid`` index; they are written on every start, so a later ``ANALYZE`` with
    averages that hide skewed codes does not undo them. ``ANALYZE sqlite_schema`` creates the
    statistics table and makes new connections read the figures.
    """
    connection.exec_driver_sql("ANALYZE sqlite_schema")
    names = [
        row[0]
        for row in connection.exec_driver_sql(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND name GLOB 'ix_idx_*_rid'"
        )
    ]
    for name in names:
        connection.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE idx = ?", (name,))
        connection.exec_driver_sql(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)",
            (name.removeprefix("ix_").removesuffix("_rid"), name, SQLITE_RID_INDEX_STAT),
        )
    connection.exec_driver_sql("ANALYZE sqlite_schema")
