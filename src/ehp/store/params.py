"""Numbers for search parameters: index rows carry a small ``pid`` instead of type and code text."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sqlalchemy import Engine, select

from ehp.store.database import writer
from ehp.store.schema import search_params


class SearchParamRegistry:
    """Maps (resource type, parameter code) to the ``pid`` stored in index rows, shared by all workers."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pids: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(search_params.c.pid, search_params.c.resource_type, search_params.c.code)
            ).all()
        with self._lock:
            self._pids = {(row.resource_type, row.code): row.pid for row in rows}

    def ensure(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Register every missing (type, code) pair; safe when several processes do it at once."""
        self.load()
        missing = sorted(set(pairs) - self._pids.keys())
        if missing:
            with writer(self._engine).begin() as connection:
                existing = {
                    (row.resource_type, row.code)
                    for row in connection.execute(select(search_params.c.resource_type, search_params.c.code))
                }
                new = [{"resource_type": t, "code": c} for t, c in missing if (t, c) not in existing]
                if new:
                    connection.execute(search_params.insert(), new)
            self.load()

    def pid(self, resource_type: str, code: str) -> int:
        """The pid of a parameter registered at start-up (``KeyError`` for any other)."""
        return self._pids[(resource_type, code)]

    def find(self, resource_type: str, code: str) -> int | None:
        """The pid of a registered parameter, without registering it."""
        return self._pids.get((resource_type, code))
