"""``ehp sync status``: what a node has not shipped yet, and what a centre has applied per node."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from ehp.store.clock import now_micros, to_instant
from ehp.store.schema import resource_versions
from ehp.sync.protocol import PULLED_ACTOR
from ehp.sync.router import ROUTED
from ehp.sync.schema import (
    sync_conflicts,
    sync_cursors,
    sync_followers,
    sync_inbox,
    sync_nodes,
    sync_origins,
    sync_passports,
)
from ehp.sync.shipper import SHIPPED


@dataclass(frozen=True, slots=True)
class NodeStatus:
    shipped: int
    last_seq: int
    unsent: int
    oldest_unsent_seconds: float | None
    conflicts: int
    passports_pending: int
    passports_pulled: int
    news: int


@dataclass(frozen=True, slots=True)
class OriginStatus:
    node_id: str
    applied_seq: int
    applied_at: str


@dataclass(frozen=True, slots=True)
class CentralStatus:
    origins: list[OriginStatus]
    routed: int
    last_seq: int
    nodes: int
    followed: int


def _cursor(engine: Engine, name: str) -> int | None:
    with engine.connect() as connection:
        row = connection.execute(select(sync_cursors.c.position).where(sync_cursors.c.name == name)).first()
    return int(row.position) if row is not None else None


def node_status(engine: Engine) -> NodeStatus:
    shipped = _cursor(engine, SHIPPED) or 0
    unsent = (resource_versions.c.seq > shipped) & (resource_versions.c.actor != PULLED_ACTOR)
    with engine.connect() as connection:
        last_seq = connection.execute(select(func.max(resource_versions.c.seq))).scalar() or 0
        count, oldest = connection.execute(
            select(func.count(), func.min(resource_versions.c.last_updated)).where(unsent)
        ).one()
        conflicts = connection.execute(select(func.count()).select_from(sync_conflicts)).scalar() or 0
        passports: dict[bool, int] = dict(
            connection.execute(
                select(sync_passports.c.done, func.count()).group_by(sync_passports.c.done)
            ).all()
        )
        news = connection.execute(select(func.count()).select_from(sync_inbox)).scalar() or 0
    age = (now_micros() - oldest) / 1_000_000 if oldest is not None else None
    return NodeStatus(
        shipped, last_seq, count, age, conflicts, passports.get(False, 0), passports.get(True, 0), news
    )


def central_status(engine: Engine) -> CentralStatus | None:
    with engine.connect() as connection:
        origins = [
            OriginStatus(row.node_id, row.applied_seq, to_instant(row.applied_at))
            for row in connection.execute(select(sync_origins).order_by(sync_origins.c.node_id))
        ]
        nodes = connection.execute(select(func.count()).select_from(sync_nodes)).scalar() or 0
        followed = connection.execute(select(func.count()).select_from(sync_followers)).scalar() or 0
        last_seq = connection.execute(select(func.max(resource_versions.c.seq))).scalar() or 0
    if not origins and not nodes:
        return None
    return CentralStatus(origins, _cursor(engine, ROUTED) or 0, last_seq, nodes, followed)
