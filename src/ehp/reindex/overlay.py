"""Each server process's view of the custom parameters, refreshed from ``reindex_jobs``.

In effect for searches: the parameters of the newest finished job. Extracted by writes: those and
the parameters of a job still pending, so that nothing written during a reindex is missed. A
process checks the two newest job ids at most once per :data:`CHECK_INTERVAL` seconds (one small
query) and reloads the parameters only when they changed; at start-up it loads them at once.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy.engine import Engine

from ehp.fhir.definitions import resource_types
from ehp.index.parameters import parameters_for, set_custom_parameters
from ehp.reindex.jobs import latest_ids, read_job
from ehp.reindex.snapshot import parameters_of
from ehp.store.params import SearchParamRegistry
from ehp.store.store import Store

CHECK_INTERVAL = 1.0
"""Seconds between two checks of the job table by one process."""


class CustomParameters:
    """Keeps the process's overlay of custom parameters (see :mod:`ehp.index.parameters`) current."""

    def __init__(self, engine: Engine, params: SearchParamRegistry) -> None:
        self._engine = engine
        self._params = params
        self._seen: tuple[int | None, int | None] = (None, None)
        self._next_check = 0.0
        self._lock = threading.Lock()

    def refresh_if_due(self) -> None:
        """Check the job table unless this process did less than :data:`CHECK_INTERVAL` ago."""
        if time.monotonic() >= self._next_check:
            self.refresh(force=False)

    def refresh(self, *, force: bool = True) -> None:
        """Check the job table (unless another thread just did, when not ``force``) and apply a
        change of the custom parameters."""
        with self._lock:
            if not force and time.monotonic() < self._next_check:
                return
            self._next_check = time.monotonic() + CHECK_INTERVAL
            with self._engine.connect() as connection:
                ids = latest_ids(connection)
                if ids == self._seen:
                    return
                done_id, pending_id = ids
                done = read_job(connection, done_id) if done_id is not None else None
                pending = read_job(connection, pending_id) if pending_id is not None else None
            in_effect = parameters_of(done.parameters) if done is not None else []
            indexed = [*in_effect, *(parameters_of(pending.parameters) if pending is not None else [])]
            self._params.ensure((base, p.code) for p in indexed for base in p.base)
            set_custom_parameters(in_effect, indexed)
            self._seen = ids


def open_store(engine: Engine) -> Store:
    """The store every server, agent and loader uses: writes index the custom parameters too."""
    return Store(engine, CustomParameters)


def register_search_parameters(store: Store) -> None:
    """Give every official search parameter its pid (idempotent, safe with several workers), and
    load the custom ones in effect."""
    store.params.ensure((t, code) for t in resource_types() for code in parameters_for(t))
    store.custom_parameters.refresh()
