"""Statements compiled once per dialect for the hottest paths (read by id, vread).

Building and caching a SQLAlchemy statement costs more than running it on a primary key; a
:class:`PreparedQuery` is compiled on first use and then executed as plain driver SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Connection, CursorResult


class PreparedQuery:
    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> CursorResult[Any]:
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            result = self._statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            positions = tuple(result.positiontup) if dialect.positional else None
            compiled = self._compiled[dialect.name] = (str(result), positions)
        sql, positions = compiled
        if positions is None:
            return connection.exec_driver_sql(sql, dict(params))
        return connection.exec_driver_sql(sql, tuple(params[name] for name in positions))
