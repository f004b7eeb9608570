"""The bulk worker: one thread per server process that runs bulk jobs.

It takes the oldest queued job, or a running one whose process stopped (heartbeat older than
:func:`~ehp.bulk.jobs.stale_seconds`), by a conditional update of its ``lease``, so exactly one
process runs a job; a kick-off in this process wakes it at once, and otherwise it looks every
second. Jobs live in the database, so a restarted server (or another one) finishes what a stopped
one began.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from ehp.api.service import FhirService
from ehp.bulk.export import EXPORT, ExportRun
from ehp.bulk.importer import IMPORT, ImportRun
from ehp.bulk.jobs import claim_next

log = logging.getLogger(__name__)
IDLE_SECONDS = 1.0
JOB_QUEUED = threading.Event()
"""Set by a kick-off in this process: its worker looks at once instead of within a second."""


class BulkWorker:
    def __init__(self, service: FhirService) -> None:
        self.service = service
        self.store = service.store
        self.lease = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._wake = JOB_QUEUED
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="bulk-worker", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                job = claim_next(self.store.engine, self.lease, (EXPORT, IMPORT))
            except Exception:
                log.exception("the bulk worker could not look for jobs")
                job = None
            if job is None:
                self._wake.wait(IDLE_SECONDS)
                self._wake.clear()
                continue
            log.info("bulk %s %s runs in %s", job.kind, job.id, self.lease)
            if job.kind == IMPORT:
                ImportRun(self.service, job, self.lease).run()
            else:
                ExportRun(self.store, self.service.access, job, self.lease).run()
