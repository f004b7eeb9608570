"""Group commit for read audit records: each response waits until its record is in the chain.

Requests hand their records to :meth:`AuditQueue.put`, which wakes the one writer thread. The
writer appends everything that has gathered since its last commit in one transaction (one chain
lock per batch), so concurrent requests share a commit rather than each paying for one. A
request does not answer before its records are stored: the HTTP layer awaits
:meth:`when_stored` (the event loop is not blocked; the writer resolves the future through
``call_soon_threadsafe``), and synchronous callers use :meth:`wait`. A crash can therefore lose
only records of responses that were never sent. When the database refuses the records, the
writer retries them and the waiting requests time out into a 503 rather than answer unaudited.

Writes do not use the queue: their records commit in the write's own transaction.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, suppress

from sqlalchemy import Engine

from ehp.security.audit import AnchorFile, AuditRecord, ChainAppender

log = logging.getLogger(__name__)
BATCH = 2000
RETRY_SECONDS = 1.0

Waiter = tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class AuditQueue:
    def __init__(
        self,
        engine: Engine,
        *,
        lock: Callable[[], AbstractContextManager[None]] | None = None,
        anchors: AnchorFile | None = None,
    ) -> None:
        self._appender = ChainAppender(engine, lock)
        self._anchors = anchors
        self._pending: list[AuditRecord] = []
        self._handed = 0
        self._stored = 0
        self._leading = False
        """Whether a thread is committing a batch now (one at a time, so batches keep their order)."""
        self._closed = False
        self._waiters: list[Waiter] = []
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="ehp-audit", daemon=True)
        self._thread.start()

    @property
    def handed(self) -> int:
        """How many records have been handed in so far: a ticket to wait for."""
        with self._condition:
            return self._handed

    def put(self, records: Sequence[AuditRecord]) -> int:
        """Hand records over and wake the writer; returns the ticket that covers them."""
        with self._condition:
            if records:
                self._pending.extend(records)
                self._handed += len(records)
                self._condition.notify_all()
            return self._handed

    def wait(self, ticket: int, timeout: float = 10) -> bool:
        """Block until the records up to ``ticket`` are stored; False when the time ran out.

        The waiting thread commits itself when no other is committing (it leads the batch: every
        record handed in so far rides along), so a request in a worker thread does not wait for
        the writer thread to be scheduled: on a loaded server that hand-over cost up to Python's
        5 ms thread switch interval."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._stored < ticket:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if not self._leading and self._pending:
                    if not self._lead():
                        self._condition.wait(min(RETRY_SECONDS, remaining))
                    continue
                self._condition.wait(remaining)
            return True

    def when_stored(self, ticket: int) -> asyncio.Future[None]:
        """A future of the running loop, done once the records up to ``ticket`` are stored."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._condition:
            if self._stored >= ticket:
                future.set_result(None)
            else:
                self._waiters.append((ticket, loop, future))
        return future

    def flush(self, timeout: float = 30) -> None:
        """Wait until every record handed in before this call is in the chain."""
        self.wait(self.handed, timeout)

    def close(self) -> None:
        self.flush()
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join(timeout=30)
        self._appender.close()

    def _run(self) -> None:
        """The writer thread: commits what nobody is waiting for in a worker thread (records of
        answers awaited on the event loop, refusals, failed logins) and retries after failures."""
        with self._condition:
            while True:
                self._condition.wait_for(lambda: (bool(self._pending) and not self._leading) or self._closed)
                if self._closed and not self._pending:
                    return
                if self._pending and not self._leading and not self._lead():
                    self._condition.wait(RETRY_SECONDS)

    def _lead(self) -> bool:
        """Commit the pending records (called holding the condition, which it releases while the
        database works); False when the database refused them (they stay pending)."""
        self._leading = True
        batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
        self._condition.release()
        head = None
        try:
            head = self._appender.append(batch)
        except Exception:
            log.exception("could not append %d audit records; they are retried", len(batch))
        finally:
            self._condition.acquire()
            self._leading = False
        if head is None:
            self._pending[:0] = batch
            self._condition.notify_all()
            return False
        self._stored += len(batch)
        self._condition.notify_all()
        ready = [waiter for waiter in self._waiters if waiter[0] <= self._stored]
        self._waiters = [waiter for waiter in self._waiters if waiter[0] > self._stored]
        for _, loop, future in ready:
            with suppress(RuntimeError):  # that request's event loop has closed
                loop.call_soon_threadsafe(_resolve, future)
        if self._anchors is not None:
            self._anchors.offer(head)
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
