"""The versioned resource store: a reader per request, and write transactions.

Every call is made on behalf of a :class:`~ehp.context.RequestContext`: the store knows who acts
and why, records the actor on every version it writes, and is the one place where access
decisions and audit will hook in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, Select
from sqlalchemy.exc import IntegrityError

from ehp.context import RequestContext
from ehp.store.database import writer
from ehp.store.errors import ConcurrentWrite
from ehp.store.params import SearchParamRegistry
from ehp.store.reads import HistoryQuery, history_page, read_current_row, read_version
from ehp.store.versions import StoredVersion
from ehp.store.writelock import WriterLock
from ehp.store.writes import WriteTransaction


class CustomParameterSource(Protocol):
    """Keeps the process's custom search parameters current before each write indexes a resource.

    The reindex package's overlay (:func:`ehp.reindex.overlay.open_store`) is the one in use; the
    store only asks it to refresh, so that the store does not depend on the jobs that define them.
    """

    def refresh_if_due(self) -> None: ...

    def refresh(self, *, force: bool = True) -> None: ...


class OfficialParametersOnly:
    """No custom parameters: writes index the official R4 search parameters only."""

    def refresh_if_due(self) -> None:
        return None

    def refresh(self, *, force: bool = True) -> None:
        return None


class Store:
    """A FHIR resource store on one database (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        custom_parameters: Callable[[Engine, SearchParamRegistry], CustomParameterSource] | None = None,
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.params = SearchParamRegistry(engine)
        self.custom_parameters: CustomParameterSource = (
            custom_parameters(engine, self.params) if custom_parameters else OfficialParametersOnly()
        )
        self._writer = writer(engine)
        database = engine.url.database
        on_disk = self.dialect == "sqlite" and database not in (None, "", ":memory:")
        self._writer_lock = WriterLock(Path(database)) if on_disk and database else None

    def write_lock(self) -> AbstractContextManager[None]:
        """The lock every writer of an SQLite file queues on (nothing to hold on PostgreSQL)."""
        return self._writer_lock.held() if self._writer_lock else nullcontext()

    def reader(self, ctx: RequestContext) -> StoreReader:
        return StoreReader(self, ctx)

    @contextmanager
    def transaction(self, ctx: RequestContext) -> Iterator[WriteTransaction]:
        """A write transaction: all of it is committed, or none of it."""
        self.custom_parameters.refresh_if_due()
        with self._writer_lock.held() if self._writer_lock else nullcontext():
            try:
                with self._writer.begin() as connection:
                    tx = WriteTransaction(connection, ctx, self.params, self.dialect)
                    yield tx
                    tx.commit_prepare()
            except IntegrityError as failure:
                raise ConcurrentWrite(
                    "another request wrote the same resource at the same time; retry the request"
                ) from failure


class StoreReader:
    """Reads outside any write transaction, each on a pooled connection, on behalf of ``ctx``."""

    def __init__(self, store: Store, ctx: RequestContext) -> None:
        self._engine = store.engine
        self.params = store.params
        self.ctx = ctx

    def query(self, statement: Select[Any]) -> Sequence[Any]:
        with self._engine.connect() as connection:
            return connection.execute(statement).all()

    def read(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        """The current version (a delete included), or ``None`` when the resource never existed."""
        with self._engine.connect() as connection:
            found = read_current_row(connection, resource_type, resource_id)
        return found[1] if found is not None else None

    def vread(self, resource_type: str, resource_id: str, version: int) -> StoredVersion | None:
        with self._engine.connect() as connection:
            return read_version(connection, resource_type, resource_id, version)

    def history(self, query: HistoryQuery) -> tuple[list[StoredVersion], bool]:
        with self._engine.connect() as connection:
            return history_page(connection, query)
