"""A time limit on every statement a serving process runs, on both databases.

The search cost guards (``search/limits.py``) refuse what is too large to start; this stops what
still runs too long: a search over an unlucky plan, a ``_text`` scan. PostgreSQL has
``statement_timeout``; SQLite has no such setting, so a progress handler (called every
:data:`SQLITE_CHECK_EVERY` virtual-machine steps) interrupts a statement past its deadline. Either
way the statement fails with a ``too-costly`` :class:`~ehp.errors.FhirError` (HTTP 422) and its
transaction rolls back. Migrations and bulk jobs run without the limit (:data:`UNLIMITED`).
"""

from __future__ import annotations

import math
import sqlite3
import time
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import ExceptionContext

from ehp.environment import seconds
from ehp.errors import Category, error

UNLIMITED = "ehp_unlimited_statements"
"""Execution option: statements on this connection have no time limit (migrations)."""
SQLITE_CHECK_EVERY = 20_000
"""VM steps between two checks of the clock: well under a millisecond of work each."""
DEFAULT_SECONDS = 30.0


def statement_timeout_from_environment() -> float | None:
    """``EHP_STATEMENT_TIMEOUT_SECONDS`` (30 by default; 0 turns the limit off)."""
    return seconds("EHP_STATEMENT_TIMEOUT_SECONDS", DEFAULT_SECONDS, zero_means_none=True) or None


def limit_statements(engine: Engine, seconds: float) -> None:
    """Give every statement on ``engine`` at most ``seconds`` (see the module doc)."""
    if engine.dialect.name == "sqlite":
        _limit_sqlite(engine, seconds)
    else:
        _limit_postgresql(engine, seconds)

    @event.listens_for(engine, "handle_error")
    def too_long(context: ExceptionContext) -> None:
        original = context.original_exception
        if _is_timeout(original):
            raise error(
                Category.UNPROCESSABLE,
                "too-costly",
                f"the request needed a database statement longer than {seconds:g} s and was stopped; "
                "narrow it (fewer criteria or includes, a smaller _count)",
            ) from None


def _is_timeout(failure: BaseException) -> bool:
    if isinstance(failure, sqlite3.OperationalError):
        return "interrupted" in str(failure)
    return type(failure).__name__ == "QueryCanceled"  # psycopg.errors.QueryCanceled


def _limit_sqlite(engine: Engine, seconds: float) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        deadline = [math.inf]
        record.info["ehp_deadline"] = deadline
        dbapi_connection.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), SQLITE_CHECK_EVERY)

    @event.listens_for(engine, "before_cursor_execute")
    def start(conn: Connection, *_: Any) -> None:
        deadline = conn.info.get("ehp_deadline")
        if deadline is not None:
            unlimited = conn.get_execution_options().get(UNLIMITED, False)
            deadline[0] = math.inf if unlimited else time.monotonic() + seconds


def _limit_postgresql(engine: Engine, seconds: float) -> None:
    milliseconds = max(int(seconds * 1000), 1)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {milliseconds}")
        if not dbapi_connection.autocommit:
            dbapi_connection.commit()
