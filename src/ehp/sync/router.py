"""The centre's router: reads the central change sequence and fills each node's feed.

For every version, in ``seq`` order: the citizens it is about (the Patient itself, or any
``Patient/{id}`` reference in it, found in the stored bytes without parsing them) and the
organisations it is addressed to (a Communication's ``recipient``, an EpisodeOfCare's
``managingOrganization``). An active attachment episode makes the
node serving that polyclinic the citizen's follower; when that node did not write the episode
itself it gets a ``passport`` delivery (pull the whole passport). Every version goes to the
followers of its citizens and to the nodes of the organisations it is addressed to, never to the
node it came from. The router's position is a cursor moved in the same transaction as the
deliveries it writes, and it holds the cursor's row lock, so several server workers route once.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from ehp.fhir.jsonio import loads
from ehp.index.refs import reference_id
from ehp.registry.attachment import is_attachment
from ehp.store.clock import now_micros
from ehp.store.database import writer
from ehp.store.reads import read_version
from ehp.store.schema import resource_versions
from ehp.sync.protocol import NODE_SOURCE
from ehp.sync.schema import sync_cursors, sync_deliveries, sync_followers, sync_nodes

log = logging.getLogger(__name__)
ROUTED = "routed"
BATCH = 2000
_PATIENT_REFERENCE = re.compile(rb'"reference":"Patient/([A-Za-z0-9\-.]{1,64})')
"""A relative reference to a Patient in stored JSON (always compact, as ``fhir/jsonio`` writes it)."""


@dataclass(frozen=True, slots=True)
class _Routed:
    seq: int
    origin: str | None
    patients: list[str]
    organizations: list[str]
    attached: tuple[str, str] | None
    """``(patient id, organisation id)`` of an active attachment episode."""


def lock_cursor(connection: Connection, name: str) -> int:
    """A cursor's position, its row locked until commit (created at 0)."""
    row = connection.execute(
        select(sync_cursors.c.position).where(sync_cursors.c.name == name).with_for_update()
    ).first()
    if row is not None:
        return int(row.position)
    connection.execute(insert(sync_cursors).values(name=name, position=0, updated=now_micros()))
    return 0


def move_cursor(connection: Connection, name: str, position: int) -> None:
    connection.execute(
        update(sync_cursors)
        .where(sync_cursors.c.name == name)
        .values(position=position, updated=now_micros())
    )


def route_once(engine: Engine) -> int:
    """Route the next batch of central versions; how many were read."""
    with writer(engine).begin() as connection:
        position = lock_cursor(connection, ROUTED)
        rows = connection.execute(
            select(
                resource_versions.c.seq,
                resource_versions.c.resource_type,
                resource_versions.c.id,
                resource_versions.c.version,
                resource_versions.c.actor,
                resource_versions.c.content,
            )
            .where(resource_versions.c.seq > position)
            .order_by(resource_versions.c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return 0
        serving = _organization_nodes(connection)
        if serving:
            _deliver(connection, [_examine(connection, row) for row in rows], serving)
        move_cursor(connection, ROUTED, rows[-1].seq)
        return len(rows)


def _organization_nodes(connection: Connection) -> dict[str, str]:
    serving: dict[str, str] = {}
    for row in connection.execute(select(sync_nodes.c.node_id, sync_nodes.c.organizations)):
        for organization in orjson.loads(row.organizations):
            serving[str(organization).removeprefix("Organization/")] = row.node_id
    return serving


def _examine(connection: Connection, row: Any) -> _Routed:
    content = row.content
    if content is None and row.version > 1:
        previous = read_version(connection, row.resource_type, row.id, row.version - 1)
        content = previous.content if previous is not None else None
    origin = row.actor.removeprefix(NODE_SOURCE) if row.actor.startswith(NODE_SOURCE) else None
    if content is None:
        return _Routed(row.seq, origin, [], [], None)
    if row.resource_type == "Patient":
        patients = [row.id]
    else:
        patients = sorted({found.decode() for found in _PATIENT_REFERENCE.findall(content)})
    organizations: list[str] = []
    attached = None
    if row.resource_type == "Communication":
        resource = loads(content)
        organizations = [
            found
            for recipient in resource.get("recipient") or []
            if (found := reference_id(recipient, "Organization")) is not None
        ]
    elif row.resource_type == "EpisodeOfCare":
        resource = loads(content)
        managing = reference_id(resource.get("managingOrganization"), "Organization")
        organizations = [managing] if managing else []
        patient = reference_id(resource.get("patient"), "Patient")
        if managing and patient and resource.get("status") == "active" and is_attachment(resource):
            attached = (patient, managing)
    return _Routed(row.seq, origin, patients, organizations, attached)


def _deliver(connection: Connection, routed: list[_Routed], serving: dict[str, str]) -> None:
    patients = sorted({patient for item in routed for patient in item.patients})
    followers: dict[str, str] = {}
    for start in range(0, len(patients), 500):
        query = select(sync_followers.c.patient_id, sync_followers.c.node_id).where(
            sync_followers.c.patient_id.in_(patients[start : start + 500])
        )
        followers.update((row.patient_id, row.node_id) for row in connection.execute(query))
    known = set(followers)
    changed: dict[str, tuple[str, int]] = {}
    deliveries: list[dict[str, Any]] = []
    for item in routed:
        if item.attached is not None:
            patient, organization = item.attached
            node = serving.get(organization)
            if node is not None and followers.get(patient) != node:
                followers[patient] = node
                changed[patient] = (node, item.seq)
                if node != item.origin:
                    deliveries.append(
                        {"node_id": node, "kind": "passport", "seq": item.seq, "patient_id": patient}
                    )
        targets = {followers[p] for p in item.patients if p in followers}
        targets.update(serving[o] for o in item.organizations if o in serving)
        targets.discard(item.origin or "")
        about = item.patients[0] if item.patients else None
        deliveries.extend(
            {"node_id": node, "kind": "change", "seq": item.seq, "patient_id": about}
            for node in sorted(targets)
        )
    if deliveries:
        connection.execute(insert(sync_deliveries), deliveries)
    for patient, (node, seq) in changed.items():
        if patient in known:
            connection.execute(
                update(sync_followers)
                .where(sync_followers.c.patient_id == patient)
                .values(node_id=node, since_seq=seq)
            )
        else:
            connection.execute(insert(sync_followers).values(patient_id=patient, node_id=node, since_seq=seq))


class Router:
    """Runs :func:`route_once` in a background thread while the centre serves."""

    def __init__(self, engine: Engine, idle_seconds: float = 0.2) -> None:
        self._engine = engine
        self._idle = idle_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ehp-sync-router", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                routed = route_once(self._engine)
            except Exception:
                log.exception("routing the change sequence failed; retrying")
                self._stop.wait(2.0)
                continue
            if routed == 0:
                self._stop.wait(self._idle)
