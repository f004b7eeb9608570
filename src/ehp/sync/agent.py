"""A node's replication agent: the shipper and the puller in background threads, with back-off.

Started by ``ehp serve --role node --central URL --node-id ID``. While the centre is unreachable
each loop waits 0.5 s, 1 s, 2 s... up to :data:`MAX_BACKOFF_SECONDS` (10 s) (with jitter) and tries again;
the node's own API is not affected.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.store.database import open_engine
from ehp.sync.client import CentralClient, CentralRefused, CentralUnavailable, ClientCredentials
from ehp.sync.puller import Puller
from ehp.sync.shipper import Shipper

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 10.0
IDLE_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class NodeSyncSettings:
    database: str
    central: str
    node_id: str
    organizations: list[str] = field(default_factory=list)
    credentials: ClientCredentials | None = None
    batch: int = 500


class NodeAgent:
    def __init__(self, settings: NodeSyncSettings) -> None:
        self.settings = settings
        self._engine = open_engine(settings.database, pool_size=2)
        self._store = open_store(self._engine)
        register_search_parameters(self._store)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        settings = self.settings
        ship_client = CentralClient(settings.central, settings.node_id, settings.credentials)
        shipper = Shipper(self._engine, ship_client, batch=settings.batch)
        pull_client = CentralClient(settings.central, settings.node_id, settings.credentials)
        puller = Puller(self._store, pull_client)
        registered = threading.Event()

        def pull() -> int:
            if not registered.is_set():
                pull_client.register(settings.organizations)
                registered.set()
                log.info(
                    "node %s registered at %s serving %s",
                    settings.node_id,
                    settings.central,
                    settings.organizations,
                )
            return puller.pull_once()

        self._threads = [
            threading.Thread(target=self._loop, args=("shipper", shipper.ship_once), daemon=True),
            threading.Thread(target=self._loop, args=("puller", pull), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._engine.dispose()

    def _loop(self, name: str, step: Callable[[], int]) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                done = step()
            except CentralUnavailable as failure:
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, IDLE_SECONDS * 2 ** min(failures - 1, 10))
                if failures == 1 or failures % 10 == 0:
                    log.warning("%s: the centre is unreachable (%s); retrying in %.1fs", name, failure, delay)
                self._stop.wait(delay * random.uniform(0.8, 1.2))
                continue
            except CentralRefused as failure:
                failures += 1
                log.error("%s: the centre refused: %s", name, failure)
                self._stop.wait(MAX_BACKOFF_SECONDS)
                continue
            except Exception:
                failures += 1
                log.exception("%s failed; retrying", name)
                self._stop.wait(min(MAX_BACKOFF_SECONDS, IDLE_SECONDS * 2 ** min(failures, 10)))
                continue
            if failures:
                log.info("%s: the centre is back", name)
                failures = 0
            if done == 0 and name == "shipper":
                self._stop.wait(IDLE_SECONDS)
