"""A federation on loopback for tests and benchmarks: a centre and nodes as ``ehp serve`` processes.

Also the end-to-end integrity check used by the fault runs: every version a node made itself must
be at the centre exactly once with the same content, and nothing else from that node.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select

from ehp.bench.servers import BenchServer
from ehp.store.database import open_engine
from ehp.store.schema import resource_versions
from ehp.sync.passport import Digest, content_hash
from ehp.sync.protocol import PULLED_ACTOR, node_source
from ehp.sync.schema import sync_origins
from ehp.sync.status import node_status


def central_server(database: str, folder: Path, auth: str = "none", workers: int = 1) -> BenchServer:
    return BenchServer(
        database, folder / "central.log", auth=auth, workers=workers, extra_args=["--role", "central"]
    )


def node_server(
    name: str, folder: Path, central: BenchServer, organizations: list[str], extra: list[str] | None = None
) -> BenchServer:
    arguments = ["--central", central.base, "--node-id", name]
    for organization in organizations:
        arguments += ["--organization", organization]
    return BenchServer(
        f"sqlite:///{folder / f'{name}.db'}", folder / f"{name}.log", extra_args=[*arguments, *(extra or [])]
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> float:
    """Poll until ``condition`` holds; the seconds it took. ``TimeoutError`` naming ``what`` otherwise."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(every)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s")


def unsent(node_database: str) -> int:
    engine = open_engine(node_database, pool_size=1)
    try:
        return node_status(engine).unsent
    finally:
        engine.dispose()


def _digests(engine: Engine, *, actor: str | None = None, not_actor: str | None = None) -> list[Digest]:
    query = select(
        resource_versions.c.resource_type,
        resource_versions.c.id,
        resource_versions.c.version,
        resource_versions.c.content,
    )
    if actor is not None:
        query = query.where(resource_versions.c.actor == actor)
    if not_actor is not None:
        query = query.where(resource_versions.c.actor != not_actor)
    with engine.connect() as connection:
        return [(row[0], row[1], row[2], content_hash(row[3])) for row in connection.execute(query)]


@dataclass(frozen=True, slots=True)
class OriginCheck:
    """A node's own versions against the centre's versions from that node."""

    node_versions: int
    central_versions: int
    lost: list[str]
    extra: list[str]
    differing: list[str]
    duplicated: int

    @property
    def identical(self) -> bool:
        return not (self.lost or self.extra or self.differing or self.duplicated)


def check_origin(node_database: str, central_database: str, node_id: str) -> OriginCheck:
    node_engine = open_engine(node_database, pool_size=1)
    central_engine = open_engine(central_database, pool_size=1)
    try:
        mine = _digests(node_engine, not_actor=PULLED_ACTOR)
        theirs = _digests(central_engine, actor=node_source(node_id))
        with central_engine.connect() as connection:
            duplicated = connection.execute(
                select(func.count()).select_from(
                    select(
                        resource_versions.c.resource_type, resource_versions.c.id, resource_versions.c.version
                    )
                    .group_by(
                        resource_versions.c.resource_type, resource_versions.c.id, resource_versions.c.version
                    )
                    .having(func.count() > 1)
                    .subquery()
                )
            ).scalar_one()
    finally:
        node_engine.dispose()
        central_engine.dispose()
    here = {(t, i, v): h for t, i, v, h in mine}
    there = {(t, i, v): h for t, i, v, h in theirs}

    def name(key: tuple[str, str, int]) -> str:
        return f"{key[0]}/{key[1]}/_history/{key[2]}"

    return OriginCheck(
        node_versions=len(mine),
        central_versions=len(theirs),
        lost=[name(key) for key in sorted(here.keys() - there.keys())],
        extra=[name(key) for key in sorted(there.keys() - here.keys())],
        differing=[name(key) for key in sorted(here.keys() & there.keys()) if here[key] != there[key]],
        duplicated=int(duplicated) + len(theirs) - len(there),
    )


def applied_seq(central_database: str, node_id: str) -> int:
    engine = open_engine(central_database, pool_size=1)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                select(sync_origins.c.applied_seq).where(sync_origins.c.node_id == node_id)
            ).scalar()
    finally:
        engine.dispose()
    return int(found or 0)
