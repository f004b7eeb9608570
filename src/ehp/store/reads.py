"""Queries that read stored versions, shared by the store and its write transactions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, select
from sqlalchemy.engine import Connection

from ehp.store.prepared import PreparedQuery
from ehp.store.schema import resource_versions, resources
from ehp.store.versions import StoredVersion

VERSION_COLUMNS = (
    resource_versions.c.resource_type,
    resource_versions.c.id,
    resource_versions.c.version,
    resource_versions.c.last_updated,
    resource_versions.c.method,
    resource_versions.c.content,
    resource_versions.c.seq,
)

_CURRENT = select(resources.c.rid, *VERSION_COLUMNS).select_from(
    resources.join(
        resource_versions,
        and_(resource_versions.c.rid == resources.c.rid, resource_versions.c.version == resources.c.version),
    )
)


def row_to_version(row: Any) -> StoredVersion:
    return StoredVersion(
        resource_type=row.resource_type,
        id=row.id,
        version=row.version,
        last_updated=row.last_updated,
        method=row.method,
        content=row.content,
        seq=row.seq,
    )


_BY_ID = _CURRENT.where(resources.c.resource_type == bindparam("type"), resources.c.id == bindparam("id"))
_READ_CURRENT = PreparedQuery(_BY_ID)
_READ_CURRENT_LOCKED = PreparedQuery(_BY_ID.with_for_update(of=resources))
_READ_VERSION = PreparedQuery(
    select(*VERSION_COLUMNS).where(
        resource_versions.c.resource_type == bindparam("type"),
        resource_versions.c.id == bindparam("id"),
        resource_versions.c.version == bindparam("version"),
    )
)


def read_current_row(
    connection: Connection, resource_type: str, resource_id: str, *, lock: bool = False
) -> tuple[int, StoredVersion] | None:
    """The resource's ``rid`` and current version; ``lock`` takes a row lock on PostgreSQL."""
    query = _READ_CURRENT_LOCKED if lock else _READ_CURRENT
    row = query.execute(connection, {"type": resource_type, "id": resource_id}).first()
    return (row.rid, row_to_version(row)) if row is not None else None


def read_current_rows(
    connection: Connection, keys: Sequence[tuple[str, str]], *, lock: bool = False
) -> list[tuple[int, StoredVersion]]:
    """``rid`` and current version of many resources (those that exist), a query per type in all.

    A query per type (``resource_type = ? AND id IN (...)``) rather than one over ``(type, id)``
    pairs: SQLite plans a row-value ``IN`` as a scan of every version.
    """
    ids_by_type: dict[str, list[str]] = {}
    for resource_type, resource_id in keys:
        ids_by_type.setdefault(resource_type, []).append(resource_id)
    found: list[tuple[int, StoredVersion]] = []
    for resource_type, ids in ids_by_type.items():
        for start in range(0, len(ids), _KEYS_PER_QUERY):
            query = current_rows_statement(resource_type, ids[start : start + _KEYS_PER_QUERY], lock=lock)
            found.extend((row.rid, row_to_version(row)) for row in connection.execute(query))
    return found


def current_rows_statement(resource_type: str, ids: Sequence[str], *, lock: bool = False) -> Select[Any]:
    """The current versions of the resources of one type among ``ids`` (with their ``rid``)."""
    query = _CURRENT.where(resources.c.resource_type == resource_type, resources.c.id.in_(ids))
    return query.with_for_update(of=resources) if lock else query


_KEYS_PER_QUERY = 500


def read_version(
    connection: Connection, resource_type: str, resource_id: str, version: int
) -> StoredVersion | None:
    params = {"type": resource_type, "id": resource_id, "version": version}
    row = _READ_VERSION.execute(connection, params).first()
    return row_to_version(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    resource_type: str | None = None
    resource_id: str | None = None
    since: int | None = None
    """Only versions made at or after this time (microseconds)."""
    at: tuple[int, int] | None = None
    """Only versions current at some point in this time range."""
    before_seq: int | None = None
    """Continue a previous page: only versions older than this change."""
    count: int = 50
    visible: ColumnElement[bool] | None = None
    """Only versions the caller may see (authorization; a condition on ``resource_versions``)."""


def history_page(connection: Connection, query: HistoryQuery) -> tuple[list[StoredVersion], bool]:
    """Versions newest first, and whether more follow. Pages stay stable while new versions arrive."""
    table = resource_versions
    conditions = []
    if query.resource_type is not None:
        conditions.append(table.c.resource_type == query.resource_type)
    if query.resource_id is not None:
        conditions.append(table.c.id == query.resource_id)
    if query.since is not None:
        conditions.append(table.c.last_updated >= query.since)
    if query.before_seq is not None:
        conditions.append(table.c.seq < query.before_seq)
    if query.visible is not None:
        conditions.append(query.visible)
    if query.at is not None:
        successor = resource_versions.alias("successor")
        conditions.append(table.c.last_updated <= query.at[1])
        conditions.append(
            ~exists().where(
                successor.c.rid == table.c.rid,
                successor.c.version == table.c.version + 1,
                successor.c.last_updated <= query.at[0],
            )
        )
    statement = (
        select(*VERSION_COLUMNS).where(*conditions).order_by(table.c.seq.desc()).limit(query.count + 1)
    )
    rows = connection.execute(statement).all()
    return [row_to_version(row) for row in rows[: query.count]], len(rows) > query.count
