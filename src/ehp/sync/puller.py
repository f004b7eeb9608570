"""The node's puller: its feed from the centre, and whole passports of citizens who attached here.

The feed (a long poll) brings what others wrote about the node's people and requests to pull a
passport. Each step is one transaction that writes the pulled versions (actor
:data:`~ehp.sync.protocol.PULLED_ACTOR`, so the shipper never sends them back) together with the
position reached: the ``feed`` cursor, or a passport's ``after_seq``. A crash repeats at most the
step in flight, and applying a version the node has is a no-op. A passport is pulled to the end
before the feed goes on, so a later change never lands before the history it follows.
"""

from __future__ import annotations

import logging

import orjson
from sqlalchemy import insert, select, update

from ehp.context import RequestContext
from ehp.store.clock import now_micros
from ehp.store.store import Store
from ehp.sync.apply import apply_pulled
from ehp.sync.client import CentralClient
from ehp.sync.protocol import PULLED_ACTOR, Change, decode
from ehp.sync.router import lock_cursor, move_cursor
from ehp.sync.schema import sync_inbox, sync_passports
from ehp.sync.shipper import cursor_position

log = logging.getLogger(__name__)
FEED = "feed"
PULLED = RequestContext(actor=PULLED_ACTOR, purpose="HOPERAT")


class Puller:
    def __init__(self, store: Store, client: CentralClient, page: int = 1000, wait_seconds: int = 10) -> None:
        self._store = store
        self._client = client
        self._page = page
        self._wait = wait_seconds

    def pull_once(self, wait: int | None = None) -> int:
        """Finish pending passports, then take one page of the feed; how many lines were handled."""
        self.finish_passports()
        after = cursor_position(self._store.engine, FEED)
        lines = self._client.feed(after, self._page, self._wait if wait is None else wait)
        changes: list[Change] = []
        for line in lines:
            if b'"kind":"passport"' in line.split(b',"resource":', 1)[0]:
                self._apply_feed(changes)
                changes = []
                self._request_passport(line)
                self.finish_passports()
            else:
                changes.append(decode(line))
        self._apply_feed(changes)
        return len(lines)

    def _apply_feed(self, changes: list[Change]) -> None:
        if not changes:
            return
        with self._store.transaction(PULLED) as tx:
            lock_cursor(tx.connection, FEED)
            written = {
                (v.resource_type, v.id, v.version) for v in apply_pulled(tx, [c.version for c in changes])
            }
            news = [
                {
                    "received": now_micros(),
                    "patient_id": change.extra.get("patient"),
                    "resource_type": change.version.resource_type,
                    "resource_id": change.version.id,
                    "version": change.version.version,
                    "origin": str(change.extra.get("origin") or ""),
                }
                for change in changes
                if (change.version.resource_type, change.version.id, change.version.version) in written
            ]
            if news:
                tx.connection.execute(insert(sync_inbox), news)
            move_cursor(tx.connection, FEED, int(changes[-1].extra["cursor"]))
        for item in news:
            log.info(
                "news about Patient/%s: %s/%s/_history/%s from %s",
                item["patient_id"],
                item["resource_type"],
                item["resource_id"],
                item["version"],
                item["origin"],
            )

    def _request_passport(self, line: bytes) -> None:
        notice = orjson.loads(line)
        patient_id = str(notice["patient"])
        with self._store.transaction(PULLED) as tx:
            lock_cursor(tx.connection, FEED)
            found = tx.connection.execute(
                select(sync_passports.c.patient_id).where(sync_passports.c.patient_id == patient_id)
            ).first()
            if found is None:
                tx.connection.execute(
                    insert(sync_passports).values(
                        patient_id=patient_id, after_seq=0, done=False, requested=now_micros(), finished=None
                    )
                )
            else:
                tx.connection.execute(
                    update(sync_passports).where(sync_passports.c.patient_id == patient_id).values(done=False)
                )
            move_cursor(tx.connection, FEED, int(notice["cursor"]))
        log.info("Patient/%s attached here: pulling the whole passport from the centre", patient_id)

    def finish_passports(self) -> None:
        with self._store.engine.connect() as connection:
            pending = connection.execute(
                select(sync_passports.c.patient_id, sync_passports.c.after_seq).where(
                    sync_passports.c.done.is_(False)
                )
            ).all()
        for row in pending:
            self._pull_passport(row.patient_id, int(row.after_seq))

    def _pull_passport(self, patient_id: str, after: int) -> None:
        while True:
            changes = [decode(line) for line in self._client.passport(patient_id, after, self._page)]
            done = len(changes) < self._page
            with self._store.transaction(PULLED) as tx:
                apply_pulled(tx, [change.version for change in changes])
                if changes:
                    after = changes[-1].seq
                values: dict[str, object] = {"after_seq": after, "done": done}
                if done:
                    values["finished"] = now_micros()
                tx.connection.execute(
                    update(sync_passports).where(sync_passports.c.patient_id == patient_id).values(**values)
                )
            if done:
                log.info("passport of Patient/%s pulled (up to central seq %s)", patient_id, after)
                return
