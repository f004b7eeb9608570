"""The node's shipper: sends the local change sequence to the centre, in order, in batches.

It reads versions after the ``shipped`` cursor, skips those pulled from the centre (their actor is
:data:`~ehp.sync.protocol.PULLED_ACTOR`: never echoed back), posts them as NDJSON and, in one
transaction, records the conflicts the centre reports and moves the cursor to what the centre
acknowledged. A crash anywhere makes it send the last batches again, which the centre recognises
by the origin's applied ``seq``. Writes on the node never wait for any of this.

Two batches are in flight at once, so the node reads and the centre indexes the next batch while
the centre writes the current one. The second carries ``after`` (the first one's last ``seq``)
and the centre answers 409 until it has applied the first, so batches are applied in order.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from threading import Event
from typing import Any

from sqlalchemy import Engine, insert, select

from ehp.store.clock import now_micros
from ehp.store.database import writer
from ehp.store.reads import VERSION_COLUMNS, row_to_version
from ehp.store.schema import resource_versions
from ehp.sync.client import CentralClient, CentralNotReady
from ehp.sync.protocol import PULLED_ACTOR, encode
from ehp.sync.router import lock_cursor, move_cursor
from ehp.sync.schema import sync_conflicts, sync_cursors

SHIPPED = "shipped"
AHEAD_TIMEOUT_SECONDS = 120.0


def cursor_position(engine: Engine, name: str) -> int:
    with engine.connect() as connection:
        row = connection.execute(select(sync_cursors.c.position).where(sync_cursors.c.name == name)).first()
    return int(row.position) if row is not None else 0


@dataclass(frozen=True, slots=True)
class _Batch:
    body: bytes
    last_sent: int | None
    """The ``seq`` of the last line in ``body`` (``None`` when every version read was pulled)."""
    last: int
    """The last ``seq`` read: where the cursor goes once the centre has the batch."""
    rows: int
    full: bool


class Shipper:
    def __init__(
        self, engine: Engine, client: CentralClient, batch: int = 500, max_bytes: int = 8 * 1024 * 1024
    ) -> None:
        self._engine = engine
        self._client = client
        self._batch = batch
        self._max_bytes = max_bytes
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ehp-ship-ahead")

    def ship_once(self) -> int:
        """Send the next one or two batches; how many local versions it moved past (0: all shipped)."""
        first = self._read(cursor_position(self._engine, SHIPPED))
        if first is None:
            return 0
        sent = first.last_sent
        second = self._read(first.last) if first.full and sent is not None else None
        failed = Event()
        ahead = None
        if second is not None and second.last_sent is not None and sent is not None:
            ahead = self._pool.submit(self._send_ahead, second, sent, failed)
        try:
            self._record(first.last, self._send(first, None))
        except BaseException:
            failed.set()
            if ahead is not None:
                ahead.exception()
            raise
        if second is None:
            return first.rows
        self._record(second.last, ahead.result() if ahead is not None else [])
        return first.rows + second.rows

    def _read(self, after: int) -> _Batch | None:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(resource_versions.c.actor, *VERSION_COLUMNS)
                .where(resource_versions.c.seq > after)
                .order_by(resource_versions.c.seq)
                .limit(self._batch)
            ).all()
        if not rows:
            return None
        lines: list[bytes] = []
        size = 0
        last = after
        last_sent = None
        for row in rows:
            if row.actor != PULLED_ACTOR:
                line = encode(row.seq, row_to_version(row))
                if lines and size + len(line) > self._max_bytes:
                    break
                lines.append(line)
                size += len(line)
                last_sent = row.seq
            last = row.seq
        return _Batch(b"".join(lines), last_sent, last, len(rows), len(rows) == self._batch)

    def _send(self, batch: _Batch, after: int | None) -> list[dict[str, Any]]:
        if batch.last_sent is None:
            return []
        answer = self._client.post_changes(batch.body, after)
        if int(answer["acknowledged"]) < batch.last_sent:
            raise RuntimeError(f"the centre acknowledged {answer['acknowledged']}, not {batch.last_sent}")
        return list(answer.get("conflicts") or [])

    def _send_ahead(self, batch: _Batch, after: int, failed: Event) -> list[dict[str, Any]]:
        deadline = time.monotonic() + AHEAD_TIMEOUT_SECONDS
        while True:
            try:
                return self._send(batch, after)
            except CentralNotReady:
                if failed.is_set() or time.monotonic() > deadline:
                    raise
                failed.wait(0.02)

    def _record(self, position: int, conflicts: list[dict[str, Any]]) -> None:
        with writer(self._engine).begin() as connection:
            lock_cursor(connection, SHIPPED)
            if conflicts:
                seqs = [int(conflict["seq"]) for conflict in conflicts]
                known = set(
                    connection.execute(
                        select(sync_conflicts.c.seq).where(sync_conflicts.c.seq.in_(seqs))
                    ).scalars()
                )
                fresh = [
                    {
                        "seq": int(conflict["seq"]),
                        "resource_type": str(conflict["type"]),
                        "resource_id": str(conflict["id"]),
                        "version": int(conflict["version"]),
                        "central_version": int(conflict["centralVersion"]),
                        "reason": str(conflict["reason"]),
                        "detected": now_micros(),
                    }
                    for conflict in conflicts
                    if int(conflict["seq"]) not in known
                ]
                if fresh:
                    connection.execute(insert(sync_conflicts), fresh)
            move_cursor(connection, SHIPPED, position)
