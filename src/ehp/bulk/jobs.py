"""Bulk job rows: create, read, claim (one server process runs a job at a time), move on, finish,
cancel; and the job's files, written and read in parts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from ehp.bulk.schema import bulk_chunks, bulk_files, bulk_jobs, bulk_pending
from ehp.context import RequestContext
from ehp.scopes import Scopes
from ehp.store.clock import now_micros
from ehp.store.database import writer

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
STALE_SECONDS_VARIABLE = "EHP_BULK_STALE_SECONDS"
DEFAULT_STALE_SECONDS = 30.0
"""A running job whose heartbeat is older than this was left by a stopped process: another takes it."""
KEEP_SECONDS = 7 * 24 * 3600
"""Finished jobs and their files are kept a week (the manifest's ``Expires``), then deleted."""


def stale_seconds() -> float:
    return float(os.environ.get(STALE_SECONDS_VARIABLE) or DEFAULT_STALE_SECONDS)


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    status: str
    actor: str
    context: dict[str, Any]
    request: str
    parameters: dict[str, Any]
    transaction_time: int
    cursor: dict[str, Any]
    processed: int
    lease: str | None
    created: int
    finished: int | None
    error: str | None

    def caller(self) -> RequestContext:
        """The kick-off's caller, whose access decision the job runs under."""
        scopes = self.context.get("scopes")
        return RequestContext(
            actor=self.actor,
            purpose=str(self.context.get("purpose", "TREAT")),
            scopes=Scopes.parse(scopes) if isinstance(scopes, str) else None,
            roles=frozenset(self.context.get("roles", ())),
            patient_in_context=self.context.get("patient_in_context"),
            source_address=self.context.get("source_address"),
        )


@dataclass(frozen=True, slots=True)
class JobFile:
    number: int
    kind: str
    resource_type: str
    count: int


def context_of(ctx: RequestContext) -> dict[str, Any]:
    return {
        "scopes": ctx.scopes.text if ctx.scopes is not None else None,
        "purpose": ctx.purpose,
        "roles": sorted(ctx.roles),
        "patient_in_context": ctx.patient_in_context,
        "source_address": ctx.source_address,
    }


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        status=row.status,
        actor=row.actor,
        context=orjson.loads(row.context),
        request=row.request,
        parameters=orjson.loads(row.parameters),
        transaction_time=row.transaction_time,
        cursor=orjson.loads(row.cursor),
        processed=row.processed,
        lease=row.lease,
        created=row.created,
        finished=row.finished,
        error=row.error,
    )


def create_job(
    engine: Engine, kind: str, ctx: RequestContext, request: str, parameters: dict[str, Any]
) -> Job:
    now = now_micros()
    job_id = uuid.uuid4().hex
    with writer(engine).begin() as connection:
        _forget_old(connection, now)
        connection.execute(
            insert(bulk_jobs).values(
                id=job_id,
                kind=kind,
                status=QUEUED,
                actor=ctx.actor,
                context=orjson.dumps(context_of(ctx)).decode(),
                request=request,
                parameters=orjson.dumps(parameters).decode(),
                transaction_time=now,
                cursor="{}",
                processed=0,
                lease=None,
                heartbeat=now,
                created=now,
            )
        )
    found = read_job(engine, job_id)
    assert found is not None
    return found


def _forget_old(connection: Connection, now: int) -> None:
    old = select(bulk_jobs.c.id).where(
        bulk_jobs.c.finished.is_not(None), bulk_jobs.c.finished < now - KEEP_SECONDS * 1_000_000
    )
    ids = list(connection.execute(old).scalars())
    if ids:
        _drop_files(connection, ids)
        connection.execute(delete(bulk_jobs).where(bulk_jobs.c.id.in_(ids)))


def _drop_files(connection: Connection, ids: list[str]) -> None:
    connection.execute(delete(bulk_pending).where(bulk_pending.c.job_id.in_(ids)))
    connection.execute(delete(bulk_chunks).where(bulk_chunks.c.job_id.in_(ids)))
    connection.execute(delete(bulk_files).where(bulk_files.c.job_id.in_(ids)))


def read_job(engine: Engine, job_id: str) -> Job | None:
    with engine.connect() as connection:
        row = connection.execute(select(bulk_jobs).where(bulk_jobs.c.id == job_id)).first()
    return _job(row) if row is not None else None


def claim_next(engine: Engine, lease: str, kinds: tuple[str, ...]) -> Job | None:
    """Take a queued job, or one whose process stopped (its heartbeat stale), for this process."""
    now = now_micros()
    stale = now - int(stale_seconds() * 1_000_000)
    claimable = and_(
        bulk_jobs.c.kind.in_(kinds),
        or_(bulk_jobs.c.status == QUEUED, and_(bulk_jobs.c.status == RUNNING, bulk_jobs.c.heartbeat < stale)),
    )
    with engine.connect() as connection:
        candidates = list(
            connection.execute(
                select(bulk_jobs.c.id, bulk_jobs.c.lease)
                .where(claimable)
                .order_by(bulk_jobs.c.created)
                .limit(5)
            )
        )
    for candidate in candidates:
        previous = (
            bulk_jobs.c.lease.is_(None) if candidate.lease is None else bulk_jobs.c.lease == candidate.lease
        )
        with writer(engine).begin() as connection:
            taken = connection.execute(
                update(bulk_jobs)
                .where(bulk_jobs.c.id == candidate.id, claimable, previous)
                .values(status=RUNNING, lease=lease, heartbeat=now)
            ).rowcount
        if taken == 1:
            return read_job(engine, candidate.id)
    return None


class LostJob(Exception):
    """The job was cancelled, or taken over by another process: this one stops writing it."""


def _mine(job_id: str, lease: str) -> Any:
    return and_(bulk_jobs.c.id == job_id, bulk_jobs.c.lease == lease, bulk_jobs.c.status == RUNNING)


def write_part(
    engine: Engine,
    job: Job,
    lease: str,
    part: tuple[JobFile, int] | None,
    data: bytes,
    cursor: dict[str, Any],
    processed: int,
) -> None:
    """One part (its file, with the file's new count, and its number) and the job's cursor, in one
    transaction: all or none. Without a part, the cursor alone moves."""
    with writer(engine).begin() as connection:
        write_part_in(connection, job, lease, part, data, cursor, processed)


def write_part_in(
    connection: Connection,
    job: Job,
    lease: str,
    part: tuple[JobFile, int] | None,
    data: bytes,
    cursor: dict[str, Any],
    processed: int,
) -> None:
    """:func:`write_part` inside the caller's transaction (an import's, with the resources it wrote)."""
    moved = connection.execute(
        update(bulk_jobs)
        .where(_mine(job.id, lease))
        .values(cursor=orjson.dumps(cursor).decode(), processed=processed, heartbeat=now_micros())
    ).rowcount
    if moved != 1:
        raise LostJob(job.id)
    if part is None:
        return
    file, number = part
    if data:
        connection.execute(
            insert(bulk_chunks).values(job_id=job.id, number=file.number, part=number, data=data)
        )
    exists = connection.execute(
        select(func.count()).where(bulk_files.c.job_id == job.id, bulk_files.c.number == file.number)
    ).scalar_one()
    if exists:
        connection.execute(
            update(bulk_files)
            .where(bulk_files.c.job_id == job.id, bulk_files.c.number == file.number)
            .values(count=file.count)
        )
    elif file.count:
        connection.execute(
            insert(bulk_files).values(
                job_id=job.id,
                number=file.number,
                kind=file.kind,
                resource_type=file.resource_type,
                count=file.count,
            )
        )


def heartbeat(engine: Engine, job: Job, lease: str) -> None:
    with writer(engine).begin() as connection:
        if (
            connection.execute(
                update(bulk_jobs).where(_mine(job.id, lease)).values(heartbeat=now_micros())
            ).rowcount
            != 1
        ):
            raise LostJob(job.id)


def finish(engine: Engine, job: Job, lease: str, status: str, error: str | None = None) -> None:
    with writer(engine).begin() as connection:
        connection.execute(
            update(bulk_jobs)
            .where(_mine(job.id, lease))
            .values(status=status, finished=now_micros(), error=error, heartbeat=now_micros())
        )


def cancel(engine: Engine, job_id: str) -> bool:
    """Cancel a pending job or delete a finished one's files; ``False`` if there was nothing."""
    with writer(engine).begin() as connection:
        changed = connection.execute(
            update(bulk_jobs)
            .where(bulk_jobs.c.id == job_id, bulk_jobs.c.status != CANCELLED)
            .values(status=CANCELLED, finished=now_micros())
        ).rowcount
        _drop_files(connection, [job_id])
    return changed == 1


def job_files(engine: Engine, job_id: str) -> list[JobFile]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(bulk_files).where(bulk_files.c.job_id == job_id).order_by(bulk_files.c.number)
        )
        return [JobFile(row.number, row.kind, row.resource_type, int(row._mapping["count"])) for row in rows]


def file_parts(engine: Engine, job_id: str, number: int) -> Iterator[bytes]:
    """A file's bytes, part by part (one query each: memory holds one part at a time)."""
    part = -1
    while True:
        with engine.connect() as connection:
            row = connection.execute(
                select(bulk_chunks.c.part, bulk_chunks.c.data)
                .where(
                    bulk_chunks.c.job_id == job_id, bulk_chunks.c.number == number, bulk_chunks.c.part > part
                )
                .order_by(bulk_chunks.c.part)
                .limit(1)
            ).first()
        if row is None:
            return
        part = row.part
        yield bytes(row.data)
