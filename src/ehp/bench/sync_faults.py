"""Fault runs: SIGKILL of a node or of the centre at random moments while the node writes and ships.

A writer keeps posting transaction Bundles (a new Patient and Observations, and a new version of an
earlier Patient) to node ``A``. Each run, seeded, picks a victim (the node or the centre), kills it
with SIGKILL after a random delay, waits a random pause and starts it again. At the end the writer
stops, the node catches up, and :func:`~ehp.bench.federation.check_origin` compares every version
the node made with the centre's: none lost, none duplicated, all identical.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ehp.bench.federation import OriginCheck, central_server, check_origin, node_server, unsent, wait_for
from ehp.bench.servers import DEFAULT_POSTGRES_ADMIN, BenchServer, throwaway_postgres

FHIR_JSON = {"Content-Type": "application/fhir+json"}


class Writer:
    """Posts Bundles to a node until stopped; failures while the node is down are expected."""

    def __init__(self, base: str, seed: int) -> None:
        self._base = base
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._patients: list[dict[str, Any]] = []
        self.acknowledged = 0
        self.failed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        with httpx.Client(base_url=self._base, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    response = client.post("", json=self._bundle(), headers=FHIR_JSON)
                except httpx.HTTPError:
                    self.failed += 1
                    self._stop.wait(0.2)
                    continue
                if response.status_code == 200:
                    self.acknowledged += 1
                else:
                    self.failed += 1
                    self._stop.wait(0.2)

    def _bundle(self) -> dict[str, Any]:
        patient_id = str(uuid.uuid4())
        patient = {
            "resourceType": "Patient",
            "id": patient_id,
            "name": [{"family": f"F{self._rng.random():.6f}"}],
        }
        entries = [_put(patient)]
        for _ in range(8):
            entries.append(_put(_observation(patient_id, self._rng)))
        if self._patients:
            earlier = dict(self._rng.choice(self._patients))
            earlier["active"] = not earlier.get("active", False)
            entries.append(_put(earlier))
        self._patients.append(patient)
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource": resource,
        "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
    }


def _observation(patient_id: str, rng: random.Random) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": str(uuid.uuid4()),
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-11-27T10:00:00+05:00",
        "valueQuantity": {
            "value": rng.randrange(50, 120),
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


@dataclass(frozen=True, slots=True)
class FaultReport:
    seeds: list[int]
    kills: dict[str, int]
    bundles_acknowledged: int
    check: OriginCheck
    catch_up_seconds: float


def fault_runs(
    seeds: list[int], folder: Path, postgres_admin: str = DEFAULT_POSTGRES_ADMIN, log: Any = print
) -> FaultReport:
    kills = {"node": 0, "centre": 0}
    with throwaway_postgres(postgres_admin) as central_database:
        centre = central_server(central_database, folder)
        centre.start()
        node = node_server("A", folder, centre, ["Organization/fault-a"])
        node.start()
        writer = Writer(node.base, seeds[0] if seeds else 0)
        try:
            writer.start()
            for seed in seeds:
                rng = random.Random(seed)
                victim: BenchServer = node if rng.random() < 0.5 else centre
                name = "node" if victim is node else "centre"
                delay = rng.uniform(0.3, 2.5)
                time.sleep(delay)
                victim.kill()
                kills[name] += 1
                time.sleep(rng.uniform(0.0, 1.0))
                victim.start()
                done = writer.acknowledged
                log(f"seed {seed}: killed the {name} after {delay:.2f}s; {done} bundles acknowledged")
            writer.stop()
            caught_up = wait_for(lambda: unsent(node.database) == 0, 180, "the node catching up", every=0.25)
            check = check_origin(node.database, central_database, "A")
        finally:
            writer.stop()
            node.stop()
            centre.stop()
    return FaultReport(seeds, kills, writer.acknowledged, check, caught_up)
