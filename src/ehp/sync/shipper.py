"""The node's shipper: sends the local change sequence to the centre, in order, in batches.

It reads versions after the ``shipped`` cursor, skips those pulled from the centre (their actor is
:data:`~ehp.sync.protocol.PULLED_ACTOR`: never echoed back), posts them as NDJSON and, in one
transaction, records the conflicts the centre reports and moves the cursor to what the centre
acknowledged. A crash anywhere makes it send the last batch again, which the centre recognises by
the origin's applied ``seq``. Writes on the node never wait for any of this.
"""

from __future__ import annotations

from sqlalchemy import Engine, insert, select

from ehp.store.clock import now_micros
from ehp.store.database import writer
from ehp.store.reads import VERSION_COLUMNS, row_to_version
from ehp.store.schema import resource_versions
from ehp.sync.client import CentralClient
from ehp.sync.protocol import PULLED_ACTOR, encode
from ehp.sync.router import lock_cursor, move_cursor
from ehp.sync.schema import sync_conflicts, sync_cursors

SHIPPED = "shipped"


def cursor_position(engine: Engine, name: str) -> int:
    with engine.connect() as connection:
        row = connection.execute(select(sync_cursors.c.position).where(sync_cursors.c.name == name)).first()
    return int(row.position) if row is not None else 0


class Shipper:
    def __init__(
        self, engine: Engine, client: CentralClient, batch: int = 500, max_bytes: int = 8 * 1024 * 1024
    ) -> None:
        self._engine = engine
        self._client = client
        self._batch = batch
        self._max_bytes = max_bytes

    def ship_once(self) -> int:
        """Send the next batch; how many local versions it moved past (0 when all is shipped)."""
        shipped = cursor_position(self._engine, SHIPPED)
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(resource_versions.c.actor, *VERSION_COLUMNS)
                .where(resource_versions.c.seq > shipped)
                .order_by(resource_versions.c.seq)
                .limit(self._batch)
            ).all()
        if not rows:
            return 0
        lines: list[bytes] = []
        size = 0
        last = shipped
        for row in rows:
            if row.actor != PULLED_ACTOR:
                line = encode(row.seq, row_to_version(row))
                if lines and size + len(line) > self._max_bytes:
                    break
                lines.append(line)
                size += len(line)
            last = row.seq
        conflicts: list[dict[str, object]] = []
        if lines:
            answer = self._client.post_changes(b"".join(lines))
            if int(answer["acknowledged"]) < last:
                raise RuntimeError(f"the centre acknowledged {answer['acknowledged']}, not {last}")
            conflicts = list(answer.get("conflicts") or [])
        self._record(last, conflicts)
        return len(rows)

    def _record(self, position: int, conflicts: list[dict[str, object]]) -> None:
        with writer(self._engine).begin() as connection:
            lock_cursor(connection, SHIPPED)
            if conflicts:
                seqs = [int(str(conflict["seq"])) for conflict in conflicts]
                known = set(
                    connection.execute(
                        select(sync_conflicts.c.seq).where(sync_conflicts.c.seq.in_(seqs))
                    ).scalars()
                )
                fresh = [
                    {
                        "seq": int(str(conflict["seq"])),
                        "resource_type": str(conflict["type"]),
                        "resource_id": str(conflict["id"]),
                        "version": int(str(conflict["version"])),
                        "central_version": int(str(conflict["centralVersion"])),
                        "reason": str(conflict["reason"]),
                        "detected": now_micros(),
                    }
                    for conflict in conflicts
                    if int(str(conflict["seq"])) not in known
                ]
                if fresh:
                    connection.execute(insert(sync_conflicts), fresh)
            move_cursor(connection, SHIPPED, position)
