"""Crash test: SIGKILL the server while transactions are being written, restart, and check that every
acknowledged write is there and no transaction is half applied. Three kills per database, each at
a random moment."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ehp.bench.servers import BenchServer
from tests.servers import database_url

ENTRIES = 20
WRITERS = 4
KILLS = 3


def _bundle(number: int) -> dict[str, object]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "id": f"crash-{number}-{i}", "gender": "female"},
                "request": {"method": "PUT", "url": f"Patient/crash-{number}-{i}"},
            }
            for i in range(ENTRIES)
        ],
    }


class Writers:
    """Concurrent clients posting transaction bundles until the server dies."""

    def __init__(self) -> None:
        self.sent: set[int] = set()
        self.acknowledged: set[int] = set()
        self._numbers = iter(range(1_000_000))
        self._lock = threading.Lock()

    def write_until_killed(self, server: BenchServer, kill_after: float) -> None:
        """Write until ``kill_after`` seconds have passed and one more transaction was acknowledged."""

        def writer() -> None:
            with httpx.Client(base_url=server.base + "/", timeout=30) as client:
                while True:
                    with self._lock:
                        number = next(self._numbers)
                        self.sent.add(number)
                    try:
                        response = client.post("", json=_bundle(number))
                    except httpx.TransportError:
                        return
                    if response.status_code == 200:
                        with self._lock:
                            self.acknowledged.add(number)

        acknowledged_before = len(self.acknowledged)
        with ThreadPoolExecutor(WRITERS) as pool:
            futures = [pool.submit(writer) for _ in range(WRITERS)]
            started = time.monotonic()
            while time.monotonic() - started < 120 and (
                time.monotonic() - started < kill_after or len(self.acknowledged) == acknowledged_before
            ):
                time.sleep(0.01)
            server.kill()
            for future in futures:
                future.result()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_during_transactions_loses_nothing_acknowledged(backend: str, tmp_path: Path) -> None:
    rng = random.Random(2026)
    writers = Writers()
    with database_url(backend, tmp_path) as url:
        server = BenchServer(url, tmp_path / "server.log")
        for _ in range(KILLS):
            server.start()
            writers.write_until_killed(server, kill_after=rng.uniform(0.5, 2.0))
        server.start()
        try:
            with httpx.Client(base_url=server.base + "/", timeout=30) as client:
                applied = 0
                for number in sorted(writers.sent):
                    present = [
                        client.get(f"Patient/crash-{number}-{i}").status_code == 200 for i in range(ENTRIES)
                    ]
                    assert all(present) or not any(present), f"transaction {number} is half applied"
                    if number in writers.acknowledged:
                        assert all(present), f"acknowledged transaction {number} lost its writes"
                    applied += all(present)
                versions: list[str] = []
                page: str | None = f"{server.base}/Patient/_history?_count=1000"
                while page is not None:
                    bundle = client.get(page).json()
                    versions.extend(
                        entry["resource"]["meta"]["versionId"] for entry in bundle.get("entry", [])
                    )
                    page = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
                assert versions == ["1"] * ENTRIES * applied
        finally:
            server.stop()
    assert len(writers.acknowledged) >= KILLS, "too few transactions were acknowledged to test anything"
    print(
        f"\n{backend}: {KILLS} kills, {len(writers.sent)} transactions sent, {len(writers.acknowledged)} "
        f"acknowledged, {applied} applied; none lost or half applied"
    )
