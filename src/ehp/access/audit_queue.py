"""A write-behind queue for audit records: reads stay cheap, the chain still gets every record.

Requests hand their records to :meth:`AuditQueue.put` and go on; one background thread appends
what has gathered in batches (one transaction, one chain lock per batch). :meth:`flush` waits
until everything handed in so far is stored (the access log calls it before reading);
:meth:`close` flushes and stops the thread at shutdown. Writes do not use it: they append inside
their own transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlalchemy import Engine

from ehp.security.audit import AuditRecord, record

log = logging.getLogger(__name__)
BATCH = 2000


class AuditQueue:
    def __init__(self, engine: Engine, delay_seconds: float = 0.2) -> None:
        self._engine = engine
        self._delay = delay_seconds
        self._pending: list[AuditRecord] = []
        self._handed = 0
        self._stored = 0
        self._hurry = False
        self._closed = False
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="ehp-audit", daemon=True)
        self._thread.start()

    def put(self, records: Sequence[AuditRecord]) -> None:
        """Hand records over; no wake-up: the writer comes by every ``delay_seconds``."""
        if records:
            with self._condition:
                self._pending.extend(records)
                self._handed += len(records)

    def flush(self, timeout: float = 30) -> None:
        """Wait until every record handed in before this call is in the chain."""
        with self._condition:
            target = self._handed
            self._hurry = True
            self._condition.notify_all()
            self._condition.wait_for(lambda: self._stored >= target or self._closed, timeout)

    def close(self) -> None:
        self.flush()
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._condition:
                if not self._hurry:
                    self._condition.wait(self._delay)
                self._hurry = False
                if self._closed and not self._pending:
                    return
                batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
                if self._pending:
                    self._hurry = True
            if not batch:
                continue
            try:
                record(self._engine, batch)
            except Exception:
                log.exception("could not append %d audit records; they are retried", len(batch))
                with self._condition:
                    self._pending[:0] = batch
                    self._condition.wait(1.0)
                continue
            with self._condition:
                self._stored += len(batch)
                self._condition.notify_all()
