"""FHIR Bulk Data ``$export``: what a kick-off asks for, and the job that writes it.

The job runs under the kick-off's caller: their grant's search filter (the same SQL condition as
their searches), their SMART scopes (types they may not read whole are left out) and, at Patient and
Group level, the Patient compartment. Resources are read in ``rid`` order, :data:`BATCH` at a time,
and written as NDJSON parts of about :data:`PART_BYTES` (one file per type, a new one after
:data:`FILE_RESOURCES`); each part is committed with the job's cursor, so memory stays flat however
large the export, and a job taken over after a crash resumes after the last committed part. The
patients of each part are audited (``operation:export``): a citizen's access log shows who copied
their passport out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import ColumnElement, exists, false, or_, select
from sqlalchemy.engine import Connection

from ehp.access.links import PATIENT, compartment_pids, content_patients, in_ids, member_types
from ehp.access.policy import Access, AccessPolicy
from ehp.bulk.jobs import DONE, FAILED, Job, JobFile, LostJob, finish, heartbeat, write_part
from ehp.fhir.definitions import is_resource_type
from ehp.scopes import Scopes
from ehp.search.errors import SearchError
from ehp.search.query import Scope, criteria_clause, parse_criteria
from ehp.store.schema import idx_reference, resource_versions, resources
from ehp.store.store import Store

log = logging.getLogger(__name__)

EXPORT = "export"
SYSTEM, PATIENT_LEVEL, GROUP = "system", "patient", "group"
BATCH = 1000
PART_BYTES = 1 << 20
FILE_RESOURCES = 100_000
HEARTBEAT_SECONDS = 5.0
NDJSON_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
AUDIT_SUBTYPE = "operation:export"

CURRENT = (resource_versions.c.rid == resources.c.rid) & (resource_versions.c.version == resources.c.version)


class ExportRefused(Exception):
    """The kick-off asks for something this server does not export (a 400 naming the parameter)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class ExportForbidden(ExportRefused):
    """The kick-off names a type the access token's scopes do not open (403)."""


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What an export writes (kept as the job's parameters)."""

    level: str
    types: tuple[str, ...] | None
    """The types asked for (``_type``); ``None``: every type the store holds, as the caller may read."""
    since: int | None = None
    """Microseconds: only resources changed after it (``_since``)."""
    type_filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per type, the searches (query strings) any of which a resource must match (``_typeFilter``)."""
    patients: tuple[str, ...] | None = None
    """Patient ids the export is limited to (a Group's members, or the kick-off's ``patient``)."""
    group: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "types": list(self.types) if self.types is not None else None,
            "since": self.since,
            "typeFilters": {key: list(value) for key, value in self.type_filters.items()},
            "patients": list(self.patients) if self.patients is not None else None,
            "group": self.group,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportSpec:
        return cls(
            level=data["level"],
            types=tuple(data["types"]) if data.get("types") is not None else None,
            since=data.get("since"),
            type_filters={key: tuple(value) for key, value in (data.get("typeFilters") or {}).items()},
            patients=tuple(data["patients"]) if data.get("patients") is not None else None,
            group=data.get("group"),
        )


def check_types(level: str, named: Sequence[str], scopes: Scopes | None) -> tuple[str, ...] | None:
    """``_type``'s types, checked: known, of the Patient compartment below system level, and
    readable with the token's scopes (:class:`ExportRefused` otherwise)."""
    if not named:
        return None
    for name in named:
        if not is_resource_type(name):
            raise ExportRefused("_type", f"'{name[:64]}' is not a resource type")
        if level != SYSTEM and name not in member_types():
            raise ExportRefused("_type", f"{name} holds no patient's data, so a {level} export has none")
        if scopes is not None and not scopes.allows_plainly(name, "r"):
            raise ExportForbidden("_type", f"the access token's scopes do not allow reading every {name}")
    return tuple(dict.fromkeys(named))


def check_type_filters(store: Store, filters: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``_typeFilter`` values (``Observation?category=laboratory``), each a valid search of its type."""
    found: dict[str, list[str]] = {}
    for text in filters:
        resource_type, mark, query = text.partition("?")
        if not mark or not is_resource_type(resource_type) or not query:
            raise ExportRefused("_typeFilter", f"'{text[:100]}' is not Type?search")
        try:
            criteria_clause(
                Scope(store.params),
                (resource_type,),
                parse_criteria(parse_qsl(query, keep_blank_values=True)),
                strict=True,
            )
        except SearchError as failure:
            raise ExportRefused("_typeFilter", f"'{text[:100]}': {failure}") from None
        found.setdefault(resource_type, []).append(query)
    return {key: tuple(value) for key, value in found.items()}


def present_types(connection: Connection) -> list[str]:
    rows = connection.execute(
        select(resources.c.resource_type)
        .where(resources.c.deleted == false())
        .group_by(resources.c.resource_type)
    )
    return sorted(str(row.resource_type) for row in rows)


def export_types(store: Store, spec: ExportSpec, scopes: Scopes | None) -> list[str]:
    """The types a job writes, in order (Patient first)."""
    if spec.types is not None:
        wanted = list(spec.types)
    else:
        with store.engine.connect() as connection:
            wanted = present_types(connection)
        if spec.level != SYSTEM:
            wanted = [t for t in wanted if t in member_types()]
        if scopes is not None:
            wanted = [t for t in wanted if scopes.allows_plainly(t, "r")]
    return sorted(wanted, key=lambda t: (t != PATIENT, t))


@dataclass(slots=True)
class Cursor:
    """Where a job stands (committed with each part)."""

    type_index: int = 0
    last_rid: int = 0
    file: int = 1
    part: int = 0
    count: int = 0

    @classmethod
    def of(cls, data: dict[str, Any]) -> Cursor:
        return cls(
            **{
                key: int(data[key])
                for key in ("type_index", "last_rid", "file", "part", "count")
                if key in data
            }
        )

    def to_json(self, types: Sequence[str]) -> dict[str, Any]:
        current = types[self.type_index] if self.type_index < len(types) else None
        return {
            "type_index": self.type_index,
            "last_rid": self.last_rid,
            "file": self.file,
            "part": self.part,
            "count": self.count,
            "type": current,
        }


class ExportRun:
    """One job's run in this process (:meth:`run`), until done, failed, cancelled or taken over."""

    def __init__(self, store: Store, policy: AccessPolicy | None, job: Job, lease: str) -> None:
        self.store = store
        self.policy = policy
        self.job = job
        self.lease = lease
        self.spec = ExportSpec.from_json(job.parameters)
        self.ctx = job.caller()
        self.access: Access | None = None
        self.processed = job.processed
        self._beat = time.monotonic()

    def run(self) -> None:
        try:
            # the grant as it is now: a basis lost since the kick-off no longer exports
            self.access = self.policy.access(self.ctx) if self.policy is not None else None
            types = export_types(self.store, self.spec, self.ctx.scopes)
            cursor = Cursor.of(self.job.cursor)
            while cursor.type_index < len(types):
                self._export_type(types, cursor)
                cursor.type_index += 1
                cursor.last_rid = 0
                if cursor.count:
                    cursor.file += 1
                cursor.part = cursor.count = 0
                self._commit(types, cursor, None, b"")
            finish(self.store.engine, self.job, self.lease, DONE)
        except LostJob:
            log.info("export %s was cancelled or taken over; this process stops writing it", self.job.id)
        except Exception as failure:
            log.exception("export %s failed", self.job.id)
            finish(
                self.store.engine, self.job, self.lease, FAILED, f"{type(failure).__name__}: {failure}"[:500]
            )

    def _export_type(self, types: Sequence[str], cursor: Cursor) -> None:
        resource_type = types[cursor.type_index]
        conditions = self._conditions(resource_type)
        buffer = bytearray()
        pending = 0
        last = cursor.last_rid
        while True:
            statement = (
                select(resources.c.rid, resource_versions.c.content)
                .select_from(resources.join(resource_versions, CURRENT))
                .where(
                    resources.c.resource_type == resource_type,
                    resources.c.deleted == false(),
                    resources.c.rid > last,
                    *conditions,
                )
                .order_by(resources.c.rid)
                .limit(BATCH)
            )
            with self.store.engine.connect() as connection:
                rows = connection.execute(statement).all()
            if not rows:
                break
            for row in rows:
                buffer += row.content
                buffer += b"\n"
            pending += len(rows)
            last = rows[-1].rid
            if self.access is not None:
                touched = self.access.touched
                for row in rows:
                    touched.update(content_patients(row.content))
            if len(buffer) >= PART_BYTES or cursor.count + pending >= FILE_RESOURCES:
                self._flush(types, cursor, resource_type, buffer, pending, last)
                buffer, pending = bytearray(), 0
            elif time.monotonic() - self._beat > HEARTBEAT_SECONDS:
                heartbeat(self.store.engine, self.job, self.lease)
                self._beat = time.monotonic()
        if pending:
            self._flush(types, cursor, resource_type, buffer, pending, last)

    def _flush(
        self, types: Sequence[str], cursor: Cursor, resource_type: str, data: bytearray, count: int, last: int
    ) -> None:
        cursor.count += count
        cursor.last_rid = last
        self.processed += count
        file = JobFile(cursor.file, "output", resource_type, cursor.count)
        part = cursor.part
        cursor.part += 1
        if cursor.count >= FILE_RESOURCES:  # the next part starts the type's next file
            cursor.file, cursor.part, cursor.count = cursor.file + 1, 0, 0
        self._commit(types, cursor, (file, part), bytes(data))
        self._audit()

    def _commit(
        self, types: Sequence[str], cursor: Cursor, part: tuple[JobFile, int] | None, data: bytes
    ) -> None:
        write_part(self.store.engine, self.job, self.lease, part, data, cursor.to_json(types), self.processed)
        self._beat = time.monotonic()

    def _audit(self) -> None:
        access = self.access
        if access is None or not access.touched:
            return
        access.policy.audit.put(access.records(AUDIT_SUBTYPE, "E", "success", f"$export {self.job.id}"))
        access.touched.clear()

    def _conditions(self, resource_type: str) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.access is not None:
            visible = self.access.search_filter((resource_type,))
            if visible is not None:
                conditions.append(visible)
        if self.spec.since is not None:
            conditions.append(resources.c.last_updated > self.spec.since)
        searches = self.spec.type_filters.get(resource_type)
        if searches:
            scope = Scope(
                self.store.params, inner_visible=self.access.inner_filter if self.access is not None else None
            )
            conditions.append(
                or_(
                    *(
                        criteria_clause(
                            scope,
                            (resource_type,),
                            parse_criteria(parse_qsl(query, keep_blank_values=True)),
                            strict=True,
                        ).where
                        for query in searches
                    )
                )
            )
        if self.spec.level != SYSTEM:
            conditions.append(self._of_patients(resource_type, self.spec.patients))
        return conditions

    def _of_patients(self, resource_type: str, patients: tuple[str, ...] | None) -> ColumnElement[bool]:
        """Resources of these patients (``None``: of any patient): the Patients themselves, and
        what refers to them through the type's Patient-compartment parameters."""
        dialect = self.store.engine.dialect.name
        if resource_type == PATIENT:
            return (
                in_ids(resources.c.id, patients, dialect)
                if patients is not None
                else resources.c.id.is_not(None)
            )
        link = idx_reference.alias("export_patient")
        pids = compartment_pids(self.store.params, (resource_type,))
        conditions = [
            link.c.rid == resources.c.rid,
            link.c.pid.in_(pids),
            link.c.target_type == PATIENT,
        ]
        if patients is not None:
            conditions.append(in_ids(link.c.target_id, patients, dialect))
        return exists().where(*conditions)
