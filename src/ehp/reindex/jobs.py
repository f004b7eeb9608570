"""Reindex job rows: create one (one job at a time), read them, record progress and the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Select, func, select, update
from sqlalchemy.engine import Connection

from ehp.fhir.jsonio import loads
from ehp.reindex.schema import reindex_jobs
from ehp.store.clock import now_micros
from ehp.store.schema import resource_versions, resources

PENDING = ("queued", "running")
STALE_AFTER_MICROS = 300 * 1_000_000
"""A pending job whose heartbeat is older than this was left by a stopped server process."""
CURRENT_VERSION = (resource_versions.c.rid == resources.c.rid) & (
    resource_versions.c.version == resources.c.version
)
"""Join condition of a resource and its current version."""
JOB_LOCK = 727274004
"""PostgreSQL advisory lock key serialising the creation of jobs."""


class JobRunning(Exception):
    """Another reindex job is queued or running; ``job_id`` names it."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"reindex job {job_id} is still running")
        self.job_id = job_id


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    status: str
    types: tuple[str, ...]
    parameters: tuple[dict[str, Any], ...]
    """``{"base": [...], "resource": SearchParameter}`` for every custom parameter in effect once done."""
    start_seq: int
    total: int | None
    processed: int
    created: int
    started: int | None
    finished: int | None
    error: str | None


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        status=row.status,
        types=tuple(orjson.loads(row.types)),
        parameters=tuple(loads(row.parameters)),
        start_seq=row.start_seq,
        total=row.total,
        processed=row.processed,
        created=row.created,
        started=row.started,
        finished=row.finished,
        error=row.error,
    )


def read_job(connection: Connection, job_id: int) -> Job | None:
    row = connection.execute(select(reindex_jobs).where(reindex_jobs.c.id == job_id)).first()
    return _job(row) if row is not None else None


def latest_job(connection: Connection) -> Job | None:
    row = connection.execute(select(reindex_jobs).order_by(reindex_jobs.c.id.desc()).limit(1)).first()
    return _job(row) if row is not None else None


def latest_ids(connection: Connection) -> tuple[int | None, int | None]:
    """The newest finished (done) job and the newest pending one: what a process checks each second."""
    done = select(func.max(reindex_jobs.c.id)).where(reindex_jobs.c.status == "done").scalar_subquery()
    pending = select(func.max(reindex_jobs.c.id)).where(reindex_jobs.c.status.in_(PENDING)).scalar_subquery()
    row = connection.execute(select(done, pending)).one()
    return row[0], row[1]


def done_parameters(connection: Connection) -> list[dict[str, Any]]:
    """The snapshot entries of the newest finished job: the custom parameters in effect."""
    done_id, _ = latest_ids(connection)
    job = read_job(connection, done_id) if done_id is not None else None
    return list(job.parameters) if job is not None else []


def search_parameter_query() -> Select[Any]:
    """``id`` and ``content`` of the current (not deleted) SearchParameter resources of the store."""
    return (
        select(resources.c.id, resource_versions.c.content)
        .select_from(resources)
        .join(resource_versions, CURRENT_VERSION)
        .where(resources.c.resource_type == "SearchParameter", resources.c.deleted.is_(False))
    )


def search_parameter_resources(connection: Connection) -> list[dict[str, Any]]:
    """The current SearchParameter resources of the store."""
    rows = connection.execute(search_parameter_query()).all()
    return [loads(row.content) for row in rows if row.content is not None]


def create_job(connection: Connection, types: Sequence[str], parameters: Sequence[dict[str, Any]]) -> Job:
    """Insert a queued job, inside a write transaction; :class:`JobRunning` if one is pending.

    A pending job without a heartbeat for :data:`STALE_AFTER_MICROS` is marked failed first.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({JOB_LOCK})")
    now = now_micros()
    connection.execute(
        update(reindex_jobs)
        .where(reindex_jobs.c.status.in_(PENDING), reindex_jobs.c.heartbeat < now - STALE_AFTER_MICROS)
        .values(status="failed", finished=now, error="abandoned: the server process running it stopped")
    )
    pending = connection.execute(
        select(reindex_jobs.c.id).where(reindex_jobs.c.status.in_(PENDING)).limit(1)
    ).scalar()
    if pending is not None:
        raise JobRunning(pending)
    start_seq = connection.execute(select(func.coalesce(func.max(resource_versions.c.seq), 0))).scalar_one()
    job_id = connection.execute(
        reindex_jobs.insert().returning(reindex_jobs.c.id),
        {
            "status": "queued",
            "types": orjson.dumps(list(types)).decode(),
            "parameters": orjson.dumps(list(parameters)).decode(),
            "start_seq": start_seq,
            "total": None,
            "processed": 0,
            "created": now,
            "heartbeat": now,
        },
    ).scalar_one()
    job = read_job(connection, job_id)
    assert job is not None
    return job


def set_job(connection: Connection, job_id: int, **values: Any) -> None:
    """Update a job's row and move its heartbeat."""
    connection.execute(
        update(reindex_jobs).where(reindex_jobs.c.id == job_id).values(heartbeat=now_micros(), **values)
    )


def add_progress(connection: Connection, job_id: int, processed: int, total: int = 0) -> None:
    """Count resources done (and more to do), in the batch's own transaction."""
    connection.execute(
        update(reindex_jobs)
        .where(reindex_jobs.c.id == job_id)
        .values(
            processed=reindex_jobs.c.processed + processed,
            total=reindex_jobs.c.total + total,
            heartbeat=now_micros(),
        )
    )
