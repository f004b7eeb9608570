"""A write transaction: buffers new versions and flushes them in bulk.

Order of work at commit: resource rows (new ones get their ``rid``), index rows, and last the
version rows. On PostgreSQL the version rows are inserted under a transaction-scoped advisory
lock held until commit, so ``seq`` values become visible in increasing order: a change-feed
reader never sees seq N+1 committed before seq N. SQLite has one writer at a time anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, delete, update
from sqlalchemy.engine import Connection

from ehp.context import RequestContext
from ehp.fhir.jsonio import dumps
from ehp.index.extract import IndexRows, extract_index
from ehp.store.bulk import bulk_insert
from ehp.store.clock import now_micros, to_instant
from ehp.store.params import SearchParamRegistry
from ehp.store.reads import (
    HistoryQuery,
    history_page,
    read_current_row,
    read_current_rows,
    read_version,
)
from ehp.store.schema import INDEX_COLUMNS, INDEX_TABLES, resource_versions, resources
from ehp.store.versions import StoredVersion

_VERSION_ROW = ("rid", "resource_type", "id", "version", "last_updated", "method", "actor", "content")

CHANGE_SEQUENCE_LOCK = 727274002
"""PostgreSQL advisory lock key serialising the last step of every commit (see module doc)."""


@dataclass(slots=True)
class _ResourceState:
    rid: int | None
    version: int
    last_updated: int
    deleted: bool
    dirty: bool = False
    was_stored: bool = True
    index: IndexRows | None = None


class WriteTransaction:
    """Reads see this transaction's own writes; nothing is visible to others before commit."""

    def __init__(
        self, connection: Connection, ctx: RequestContext, params: SearchParamRegistry, dialect: str
    ) -> None:
        self.connection = connection
        self.ctx = ctx
        self.params = params
        self._dialect = dialect
        self._states: dict[tuple[str, str], _ResourceState] = {}
        self._new_versions: list[tuple[tuple[str, str], StoredVersion]] = []
        self._flushed_versions = 0
        self._contents: dict[tuple[str, str], StoredVersion] = {}
        self._absent: set[tuple[str, str]] = set()
        """Looked up and found not to exist (before this transaction wrote them)."""

    def current(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        """The current version as this transaction sees it; locks the row on PostgreSQL."""
        key = (resource_type, resource_id)
        written = self._contents.get(key)
        if written is not None:
            return written
        if key in self._absent:
            return None
        found = read_current_row(self.connection, resource_type, resource_id, lock=True)
        if found is None:
            self._absent.add(key)
            return None
        rid, version = found
        self._states.setdefault(
            key, _ResourceState(rid, version.version, version.last_updated, version.deleted)
        )
        return version

    def write(
        self,
        resource_type: str,
        resource_id: str,
        resource: dict[str, Any] | None,
        method: str,
        *,
        fresh_id: bool = False,
        index: IndexRows | None = None,
    ) -> StoredVersion:
        """Make a new version (``resource`` of ``None`` is a delete). Sets ``id`` and ``meta``.

        ``fresh_id`` says the id was just made by the server (a UUID), so no earlier version can
        exist and the lookup is skipped. ``index`` gives the resource's index rows when they were
        extracted beforehand.
        """
        key = (resource_type, resource_id)
        state = self._states.get(key)
        if state is None and not fresh_id:
            self.current(resource_type, resource_id)  # asks the database only about unknown keys
            state = self._states.get(key)
        last_updated = now_micros()
        if state is None:
            state = _ResourceState(None, 0, 0, True, was_stored=False)
            self._states[key] = state
        else:
            last_updated = max(last_updated, state.last_updated + 1000)
        state.version += 1
        state.last_updated = last_updated
        state.deleted = resource is None
        state.dirty = True
        content: bytes | None = None
        if resource is not None:
            _stamp(resource, resource_id, str(state.version), to_instant(last_updated))
            content = dumps(resource)
            state.index = index if index is not None else extract_index(resource)
        else:
            state.index = None
        stored = StoredVersion(resource_type, resource_id, state.version, last_updated, method, content)
        self._new_versions.append((key, stored))
        self._contents[key] = stored
        return stored

    def write_replica(
        self, version: StoredVersion, index: IndexRows | None, *, known: bool = False
    ) -> StoredVersion:
        """Store a version made elsewhere as it was made: same version number, time and content.

        Replication uses it; the caller has checked that ``version`` follows the current one
        (``known`` says :meth:`current` or :meth:`preload` already looked the resource up).
        ``version.content`` already carries the resource's ``id`` and ``meta``.
        """
        key = (version.resource_type, version.id)
        state = self._states.get(key)
        if state is None and not known:
            self.current(version.resource_type, version.id)
            state = self._states.get(key)
        if state is None:
            state = _ResourceState(None, 0, 0, True, was_stored=False)
            self._states[key] = state
        state.version = version.version
        state.last_updated = version.last_updated
        state.deleted = version.content is None
        state.dirty = True
        state.index = index if version.content is not None else None
        stored = StoredVersion(
            version.resource_type,
            version.id,
            version.version,
            version.last_updated,
            version.method,
            version.content,
        )
        self._new_versions.append((key, stored))
        self._contents[key] = stored
        return stored

    def preload(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredVersion]:
        """Look many resources up in one query (rows locked on PostgreSQL); their current versions.

        Those not found are remembered as absent, so a later :meth:`current` or :meth:`write` of
        them asks the database nothing.
        """
        wanted = [
            key
            for key in dict.fromkeys(keys)
            if key not in self._states and key not in self._contents and key not in self._absent
        ]
        for rid, version in read_current_rows(self.connection, wanted, lock=True):
            self._states[(version.resource_type, version.id)] = _ResourceState(
                rid, version.version, version.last_updated, version.deleted
            )
            self._contents[(version.resource_type, version.id)] = version
        self._absent.update(key for key in wanted if key not in self._contents)
        return {key: self._contents[key] for key in keys if key in self._contents}

    def flush(self) -> None:
        """Write the buffered resource and index rows (version rows wait for commit)."""
        dirty = [(key, state) for key, state in self._states.items() if state.dirty]
        if not dirty:
            return
        new = [(key, state) for key, state in dirty if state.rid is None]
        if new:
            rows = [
                {
                    "resource_type": key[0],
                    "id": key[1],
                    "version": state.version,
                    "last_updated": state.last_updated,
                    "deleted": state.deleted,
                }
                for key, state in new
            ]
            inserted = self.connection.execute(
                resources.insert().returning(resources.c.rid, sort_by_parameter_order=True), rows
            ).all()
            for (_, state), row in zip(new, inserted, strict=True):
                state.rid = row.rid
        stored = [state for _, state in dirty if state.was_stored]
        if stored:
            self.connection.execute(
                update(resources)
                .where(resources.c.rid == bindparam("b_rid"))
                .values(
                    version=bindparam("b_version"),
                    last_updated=bindparam("b_updated"),
                    deleted=bindparam("b_deleted"),
                ),
                [
                    {
                        "b_rid": state.rid,
                        "b_version": state.version,
                        "b_updated": state.last_updated,
                        "b_deleted": state.deleted,
                    }
                    for state in stored
                ],
            )
            old_rids = [state.rid for state in stored]
            for table in INDEX_TABLES.values():
                self.connection.execute(delete(table).where(table.c.rid.in_(old_rids)))
        self._insert_index_rows([(key[0], state) for key, state in dirty])
        for _, state in dirty:
            state.dirty = False
            state.was_stored = True

    def _insert_index_rows(self, states: list[tuple[str, _ResourceState]]) -> None:
        pid = self.params.pid
        for name, table in INDEX_TABLES.items():
            batch: list[tuple[Any, ...]] = []
            for resource_type, state in states:
                if state.index is None:
                    continue
                rows: list[tuple[Any, ...]] = getattr(state.index, name)
                rid = state.rid
                batch.extend((pid(resource_type, row[0]), rid, *row[1:]) for row in rows)
            bulk_insert(self.connection, table, INDEX_COLUMNS[name], batch)

    def read(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        return self.current(resource_type, resource_id)

    def vread(self, resource_type: str, resource_id: str, version: int) -> StoredVersion | None:
        self.flush_all()
        return read_version(self.connection, resource_type, resource_id, version)

    def history(self, query: HistoryQuery) -> tuple[list[StoredVersion], bool]:
        self.flush_all()
        return history_page(self.connection, query)

    def query(self, statement: Select[Any]) -> Sequence[Any]:
        """Run a SELECT that sees this transaction's own writes."""
        self.flush_all()
        return self.connection.execute(statement).all()

    @property
    def pending_versions(self) -> int:
        """How many versions this transaction has made so far (committed or not)."""
        return len(self._new_versions) + self._flushed_versions

    def flush_all(self) -> None:
        """Make every write so far visible to queries on this transaction's connection."""
        self.flush()
        self._write_change_sequence()

    def commit_prepare(self) -> None:
        """The last step before commit: everything buffered goes to the database."""
        self.flush_all()

    def _write_change_sequence(self) -> None:
        """Insert the new version rows; their ``seq`` numbers follow commit order (see module doc)."""
        if not self._new_versions:
            return
        if self._dialect == "postgresql":
            self.connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({CHANGE_SEQUENCE_LOCK})")
        actor = self.ctx.actor
        rows = [
            (
                self._states[key].rid,
                version.resource_type,
                version.id,
                version.version,
                version.last_updated,
                version.method,
                actor,
                version.content,
            )
            for key, version in self._new_versions
        ]
        bulk_insert(self.connection, resource_versions, _VERSION_ROW, rows)
        self._flushed_versions += len(rows)
        self._new_versions.clear()


def _stamp(resource: dict[str, Any], resource_id: str, version: str, last_updated: str) -> None:
    """Set ``id`` and ``meta.versionId``/``lastUpdated``; when either is new it goes up front."""
    meta = resource.get("meta")
    if isinstance(meta, dict) and resource.get("id") is not None:
        resource["id"] = resource_id
        meta["versionId"] = version
        meta["lastUpdated"] = last_updated
        return
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta["versionId"] = version
    meta["lastUpdated"] = last_updated
    head = {"resourceType": resource.get("resourceType"), "id": resource_id, "meta": meta}
    rest = [(key, value) for key, value in resource.items() if key not in head]
    resource.clear()
    resource.update(head)
    resource.update(rest)
