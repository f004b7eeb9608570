"""Running a reindex job: a thread in the server process that re-extracts index rows in batches.

1. The job row is created (queued); the thread reloads this process's custom parameters, so its
   writes (and, within :data:`~ehp.reindex.overlay.CHECK_INTERVAL`, every other process's) extract
   the job's parameters as well as those in effect.
2. Main pass: every current resource of the job's types, by ``rid``, :data:`BATCH` per store
   transaction: their rows locked, content read, index rows extracted, then one ``DELETE`` per
   index table for the batch and one bulk insert per table. No version is written.
3. Catch-up pass, once two check intervals have passed since the job was created: the resources of
   those types written since (``seq`` after the job's ``start_seq``), in case a process wrote one
   before it learnt of the job.
4. The job is marked done: every process puts its parameters into effect at its next check.
5. The index rows of parameters the job took out of effect (retired, deleted) are deleted, two
   check intervals later, when no process writes them any more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, BigInteger, any_, bindparam, delete, distinct, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from ehp.context import SYSTEM_CONTEXT
from ehp.fhir.jsonio import loads
from ehp.index.extract import IndexRows, extract_index
from ehp.reindex.jobs import (
    CURRENT_VERSION,
    Job,
    add_progress,
    create_job,
    done_parameters,
    search_parameter_resources,
    set_job,
)
from ehp.reindex.overlay import CHECK_INTERVAL
from ehp.reindex.snapshot import Entry, plan_job
from ehp.store.bulk import bulk_insert
from ehp.store.clock import now_micros
from ehp.store.params import SearchParamRegistry
from ehp.store.schema import INDEX_COLUMNS, INDEX_TABLES, resource_versions, resources
from ehp.store.store import Store

log = logging.getLogger(__name__)

BATCH = 500
"""Resources re-extracted per store transaction."""
DEADLOCK_ATTEMPTS = 3


def start_job(store: Store, limit: Sequence[str] | None) -> Job:
    """Create a job for all types (``limit`` None) or the given ones, and start its thread.

    Raises :class:`~ehp.reindex.jobs.JobRunning` when a job is already queued or running.
    """
    with store.transaction(SYSTEM_CONTEXT) as tx:
        connection = tx.connection
        previous = done_parameters(connection)
        types, entries = plan_job(search_parameter_resources(connection), previous, limit)
        job = create_job(connection, types, entries)
    removed = _pairs(previous, job.types) - _pairs(entries, job.types)
    thread = threading.Thread(target=_run, args=(store, job, removed), name=f"reindex-{job.id}", daemon=True)
    thread.start()
    return job


def _pairs(entries: Sequence[Entry], types: Sequence[str]) -> set[tuple[str, str]]:
    """(type, code) of the entries' parameters on the given types."""
    return {(base, entry["resource"]["code"]) for entry in entries for base in entry["base"] if base in types}


def _run(store: Store, job: Job, removed: set[tuple[str, str]]) -> None:
    created = time.monotonic()
    try:
        store.custom_parameters.refresh()
        _reindex(store, job, created)
    except Exception as failure:
        log.exception("reindex job %s failed", job.id)
        with store.transaction(SYSTEM_CONTEXT) as tx:
            set_job(tx.connection, job.id, status="failed", finished=now_micros(), error=str(failure))
        store.custom_parameters.refresh()
        return
    with store.transaction(SYSTEM_CONTEXT) as tx:
        set_job(tx.connection, job.id, status="done", finished=now_micros())
    store.custom_parameters.refresh()
    if removed:
        _drop_removed(store, job, removed)


def _drop_removed(store: Store, job: Job, removed: set[tuple[str, str]]) -> None:
    """Delete the index rows of the parameters the job took out of effect, once every process has
    stopped writing them (two check intervals after the job is done): one statement per table."""
    time.sleep(2 * CHECK_INTERVAL)
    pids = [pid for pid in (store.params.find(*pair) for pair in sorted(removed)) if pid is not None]
    try:
        with store.transaction(SYSTEM_CONTEXT) as tx:
            for table in INDEX_TABLES.values():
                tx.connection.execute(delete(table).where(table.c.pid.in_(pids)))
    except Exception:
        log.exception("reindex job %s: the index rows of %s were not deleted", job.id, sorted(removed))


def _reindex(store: Store, job: Job, created: float) -> None:
    types = list(job.types)
    current = resources.c.resource_type.in_(types) & resources.c.deleted.is_(False)
    with store.transaction(SYSTEM_CONTEXT) as tx:
        total, highest = tx.connection.execute(
            select(func.count(), func.coalesce(func.max(resources.c.rid), 0)).where(current)
        ).one()
        set_job(tx.connection, job.id, status="running", started=now_micros(), total=total)
    # Resources created after this count are left to the catch-up pass (so total stays exact).
    current_then = current & (resources.c.rid <= highest)
    last = 0
    while True:
        done = _batch(store, current_then & (resources.c.rid > last), job.id)
        if not done:
            break
        last = done[-1]
    time.sleep(max(0.0, created + 2 * CHECK_INTERVAL - time.monotonic()))
    with store.engine.connect() as connection:
        written = connection.execute(
            select(distinct(resource_versions.c.rid))
            .where(resource_versions.c.seq > job.start_seq, resource_versions.c.resource_type.in_(types))
            .order_by(resource_versions.c.rid)
        ).scalars()
        since = list(written)
    for start in range(0, len(since), BATCH):
        _batch(store, current & resources.c.rid.in_(since[start : start + BATCH]), job.id, catch_up=True)


def _batch(store: Store, where: Any, job_id: int, *, catch_up: bool = False) -> list[int]:
    """Re-extract the index rows of up to :data:`BATCH` resources in one store transaction (tried
    again after a deadlock with a concurrent writer); their rids, in order. The catch-up pass adds
    its resources to the job's total."""
    for attempt in range(DEADLOCK_ATTEMPTS):
        try:
            with store.transaction(SYSTEM_CONTEXT) as tx:
                done = _extract_batch(tx.connection, store.params, where)
                add_progress(tx.connection, job_id, len(done), total=len(done) if catch_up else 0)
                return done
        except OperationalError:
            if attempt == DEADLOCK_ATTEMPTS - 1:
                raise
            log.warning("reindex job %s: batch failed, trying again", job_id, exc_info=True)
    return []


def _extract_batch(connection: Connection, params: SearchParamRegistry, where: Any) -> list[int]:
    rows = connection.execute(
        select(resources.c.rid, resources.c.resource_type, resource_versions.c.content)
        .select_from(resources)
        .join(resource_versions, CURRENT_VERSION)
        .where(where)
        .order_by(resources.c.rid)
        .limit(BATCH)
        .with_for_update(of=resources)
    ).all()
    if not rows:
        return []
    extracted = [(row.rid, row.resource_type, extract_index(loads(row.content))) for row in rows]
    replace_index_rows(connection, params, extracted)
    return [row.rid for row in rows]


def replace_index_rows(
    connection: Connection, params: SearchParamRegistry, extracted: list[tuple[int, str, IndexRows]]
) -> None:
    """Delete the index rows of these resources and insert the new ones: two statements per table."""
    rids = [rid for rid, _, _ in extracted]
    pid = params.pid
    for name, table in INDEX_TABLES.items():
        connection.execute(delete(table).where(_one_of(connection, table.c.rid, rids)))
        batch: list[tuple[Any, ...]] = []
        for rid, resource_type, index in extracted:
            batch.extend((pid(resource_type, row[0]), rid, *row[1:]) for row in getattr(index, name))
        bulk_insert(connection, table, INDEX_COLUMNS[name], batch)


def _one_of(connection: Connection, column: Any, rids: list[int]) -> Any:
    """``column IN (...)``; on PostgreSQL ``= ANY(array)``, one parameter instead of hundreds (whose
    conversion by the driver cost more than the statement)."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam("rids", rids, type_=ARRAY(BigInteger)))
    return column.in_(rids)
