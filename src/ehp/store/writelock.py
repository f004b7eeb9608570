"""One SQLite writer at a time, handed over without polling.

SQLite lets a blocked writer poll with growing sleeps (up to 100 ms), so under load a waiting
writer often sleeps while the database is free, and p99 latency explodes. Writers of one database
(threads of this process and other server processes) queue on a lock instead: a thread lock
within the process and ``flock`` on a file next to the database across processes; the kernel
wakes the next writer as soon as the lock is released.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class WriterLock:
    def __init__(self, database_path: Path) -> None:
        self._path = database_path.with_name(database_path.name + ".writer-lock")
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
