"""``ehp bench sync``: node-to-centre throughput, catch-up after a day offline, passport arrival.

Catch-up: a polyclinic of ``--people`` attached citizens works a day offline. Its day of records
(``people`` x 6.5 primary-care visits a year / 250 working days, each an Encounter, three
Observations, every second one a MedicationRequest and every third a Condition) is written into
the node's SQLite store in process while no shipper runs; then the node starts with ``--central``
and we time until the centre has applied its last change. Throughput is measured between the first
and the last applied change (sampled every 0.1 s from the centre's ``sync_origins``), so the node's
start-up does not count; the wall time from starting the node is reported too.

Passport: the centre holds a citizen with ``--passport-records`` records (written as a previous
node would have shipped them); node ``B`` serving polyclinic ``bench-poly-b`` runs; we call
``Patient/$attach`` at the centre and time until B has pulled the whole passport.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from sqlalchemy import func, select

from ehp.bench.federation import central_server, node_server, wait_for
from ehp.bench.options import JsonOption, PostgresAdminOption
from ehp.bench.servers import DEFAULT_POSTGRES_ADMIN, throwaway_postgres
from ehp.bench.sync_faults import fault_runs
from ehp.context import RequestContext
from ehp.fhir.codes import ATTACHMENT, FACILITY_KINDS
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.store.database import migrate, open_engine
from ehp.sync.protocol import node_source
from ehp.sync.schema import sync_origins, sync_passports

Json = dict[str, Any]
VISITS_PER_PERSON_YEAR = 6.5
WORKING_DAYS = 250
_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_LOINC = "http://loinc.org"
_UCUM = "http://unitsofmeasure.org"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _quantity(value: float, unit: str) -> Json:
    return {"value": value, "unit": unit, "system": _UCUM, "code": unit}


def _observation(rng: random.Random, patient: str, encounter: str, code: str, name: str, value: Json) -> Json:
    return {
        "resourceType": "Observation",
        "id": _id(rng),
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": _LOINC, "code": code, "display": name}]},
        "subject": {"reference": f"Patient/{patient}"},
        "encounter": {"reference": f"Encounter/{encounter}"},
        "effectiveDateTime": "2026-11-26T10:00:00+05:00",
        **value,
    }


def visits(rng: random.Random, citizens: list[str], count: int, organization: str) -> Iterator[Json]:
    """``count`` primary-care visits of citizens chosen at random, with what each records."""
    for number in range(count):
        patient = rng.choice(citizens)
        encounter = _id(rng)
        yield {
            "resourceType": "Encounter",
            "id": encounter,
            "status": "finished",
            "class": {"system": _ACT, "code": "AMB"},
            "subject": {"reference": f"Patient/{patient}"},
            "serviceProvider": {"reference": f"Organization/{organization}"},
            "period": {"start": "2026-11-26T10:00:00+05:00", "end": "2026-11-26T10:20:00+05:00"},
        }
        pulse = {"valueQuantity": _quantity(rng.randrange(55, 110), "/min")}
        yield _observation(rng, patient, encounter, "8867-4", "Heart rate", pulse)
        weight = {"valueQuantity": _quantity(round(rng.uniform(45, 120), 1), "kg")}
        yield _observation(rng, patient, encounter, "29463-7", "Body weight", weight)
        pressure = {
            "component": [
                {
                    "code": {"coding": [{"system": _LOINC, "code": code}]},
                    "valueQuantity": _quantity(value, "mm[Hg]"),
                }
                for code, value in (("8480-6", rng.randrange(100, 170)), ("8462-4", rng.randrange(60, 100)))
            ]
        }
        yield _observation(rng, patient, encounter, "85354-9", "Blood pressure", pressure)
        if number % 2 == 0:
            yield {
                "resourceType": "MedicationRequest",
                "id": _id(rng),
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {"text": "Metformin 500 mg"},
                "subject": {"reference": f"Patient/{patient}"},
                "encounter": {"reference": f"Encounter/{encounter}"},
                "authoredOn": "2026-11-26",
            }
        if number % 3 == 0:
            yield {
                "resourceType": "Condition",
                "id": _id(rng),
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
                "subject": {"reference": f"Patient/{patient}"},
                "encounter": {"reference": f"Encounter/{encounter}"},
                "recordedDate": "2026-11-26",
            }


def day_of_records(people: int, organization: str, seed: int = 1) -> Iterator[Json]:
    """A polyclinic's working day for ``people`` attached citizens (see the module doc)."""
    rng = random.Random(seed)
    citizens = [_id(rng) for _ in range(people)]
    yield from visits(rng, citizens, round(people * VISITS_PER_PERSON_YEAR / WORKING_DAYS), organization)


def write_resources(database: str, resources: Iterator[Json], actor: str, batch: int = 500) -> int:
    """Write resources straight into a store (as its own API would have), ``batch`` per transaction."""
    engine = open_engine(database, pool_size=2)
    migrate(engine)
    store = open_store(engine)
    register_search_parameters(store)
    ctx = RequestContext(actor=actor)
    written = 0
    pending: list[Json] = []

    def flush() -> None:
        with store.transaction(ctx) as tx:
            for resource in pending:
                tx.write(resource["resourceType"], resource["id"], resource, "PUT")
        pending.clear()

    for resource in resources:
        pending.append(resource)
        written += 1
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    engine.dispose()
    return written


@dataclass(frozen=True, slots=True)
class SyncResults:
    people: int
    day_resources: int
    catch_up_seconds: float
    catch_up_wall_seconds: float
    resources_per_second: float
    central_cpu_us_per_resource: float
    node_cpu_us_per_resource: float
    load_average: float
    passport_records: int
    passport_seconds: float
    fault_runs: int
    fault_result: str


def _catch_up(
    folder: Path, central_database: str, people: int
) -> tuple[int, float, float, float, float, float]:
    """The day's records, the catch-up seconds, the wall seconds, resources/s, CPU µs each (centre, node)."""
    centre = central_server(central_database, folder, workers=2)
    centre.start()
    node_database = f"sqlite:///{folder / 'A.db'}"
    total = write_resources(node_database, day_of_records(people, "bench-poly-a"), "Practitioner/bench")
    node = node_server("A", folder, centre, ["Organization/bench-poly-a"])
    engine = open_engine(central_database, pool_size=1)
    query = select(func.coalesce(func.max(sync_origins.c.applied_seq), 0)).where(
        sync_origins.c.node_id == "A"
    )
    cpu_before = centre.cpu_seconds()
    try:
        started = time.monotonic()
        node.start()
        first: tuple[float, int] | None = None
        node_cpu_at_first = 0.0
        while True:
            with engine.connect() as connection:
                applied = int(connection.execute(query).scalar_one())
            now = time.monotonic()
            if applied and first is None:
                first = (now, applied)
                node_cpu_at_first = node.cpu_seconds()
            if applied >= total:
                break
            if now - started > 1800:
                raise TimeoutError("the node did not catch up within 30 minutes")
            time.sleep(0.1)
        assert first is not None
        seconds = now - first[0]
        rate = (total - first[1]) / seconds if seconds > 0 else float(total)
        cpu = centre.cpu_seconds() - cpu_before
        node_cpu = node.cpu_seconds() - node_cpu_at_first
    finally:
        engine.dispose()
        node.stop()
        centre.stop()
    shipped_after_first = max(1, total - first[1])
    return total, total / rate, now - started, rate, cpu / total * 1e6, node_cpu / shipped_after_first * 1e6


def _passport_records(patient: str, records: int, old: str, new: str) -> Iterator[Json]:
    """Two polyclinics, then a citizen attached to ``old`` with ``records`` records in all."""
    rng = random.Random(5)
    polyclinic = [FACILITY_KINDS["polyclinic"][0].concept()]
    for org in (old, new):
        yield {"resourceType": "Organization", "id": org, "type": polyclinic, "name": org}
    yield {
        "resourceType": "Patient",
        "id": patient,
        "name": [{"family": "Сейткали"}],
        "birthDate": "1960-02-01",
    }
    yield {
        "resourceType": "EpisodeOfCare",
        "id": _id(rng),
        "status": "active",
        "type": [ATTACHMENT.concept()],
        "patient": {"reference": f"Patient/{patient}"},
        "managingOrganization": {"reference": f"Organization/{old}"},
        "period": {"start": "2000-01-01"},
    }
    for made, resource in enumerate(visits(rng, [patient], records, old), start=2):
        if made >= records:
            return
        yield resource


def _passport(folder: Path, central_database: str, records: int) -> float:
    patient = _id(random.Random(7))
    old, new = "bench-poly-old", "bench-poly-b"
    write_resources(central_database, _passport_records(patient, records, old, new), node_source("old"))
    centre = central_server(central_database, folder)
    centre.start()
    node = node_server("B", folder, centre, [f"Organization/{new}"])
    node.start()
    engine = open_engine(node.database, pool_size=1)
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "organization", "valueReference": {"reference": f"Organization/{new}"}},
            {"name": "date", "valueDate": datetime.now(UTC).date().isoformat()},
            {"name": "reason", "valueCode": "change-of-residence"},
        ],
    }

    def pulled() -> bool:
        with engine.connect() as connection:
            done = connection.execute(
                select(sync_passports.c.done).where(sync_passports.c.patient_id == patient)
            ).scalar()
        return bool(done)

    try:
        time.sleep(1.0)
        started = time.monotonic()
        response = httpx.post(
            f"{centre.base}/Patient/{patient}/$attach", json=body, headers=FHIR_JSON, timeout=60
        )
        response.raise_for_status()
        wait_for(pulled, 300, "the passport arriving at B", every=0.05)
        return time.monotonic() - started
    finally:
        engine.dispose()
        node.stop()
        centre.stop()


def bench_sync(
    people: Annotated[
        int, typer.Option(help="Citizens attached to the polyclinic that was offline.")
    ] = 50_000,
    passport_records: Annotated[int, typer.Option(help="Records in the re-attached passport.")] = 1000,
    fault_runs_count: Annotated[
        int,
        typer.Option("--fault-runs", help="Also kill node/centre at random this many times (seeds 100...)."),
    ] = 0,
    json_file: JsonOption = None,
    postgres_admin: PostgresAdminOption = DEFAULT_POSTGRES_ADMIN,
) -> None:
    """Node-to-centre throughput, catch-up after a day offline, passport arrival, fault runs."""
    with tempfile.TemporaryDirectory(prefix="ehp-bench-sync-") as name:
        folder = Path(name)
        with throwaway_postgres(postgres_admin) as central_database:
            typer.echo(f"catch-up of a day of records for {people:,} people...")
            total, seconds, wall, rate, cpu, node_cpu = _catch_up(folder, central_database, people)
            typer.echo(
                f"  {total:,} resources: {seconds:.1f}s ({rate:,.0f}/s), {wall:.1f}s from starting the node"
            )
            typer.echo(f"passport of {passport_records:,} records...")
            passport_seconds = _passport(folder, central_database, passport_records)
            typer.echo(f"  arrived in {passport_seconds:.2f}s")
        fault_result = "not run"
        if fault_runs_count:
            typer.echo(f"{fault_runs_count} fault runs...")
            (folder / "faults").mkdir()
            report = fault_runs(
                list(range(100, 100 + fault_runs_count)), folder / "faults", postgres_admin, typer.echo
            )
            check = report.check
            fault_result = (
                f"{report.kills['node']} node and {report.kills['centre']} centre SIGKILLs, "
                f"{report.bundles_acknowledged} bundles acknowledged, "
                f"{check.node_versions} versions on the node, {check.central_versions} at the centre: "
                f"{len(check.lost)} lost, {check.duplicated} duplicated, "
                f"{len(check.differing)} differing"
            )
    results = SyncResults(
        people, total, round(seconds, 2), round(wall, 2), round(rate), round(cpu), round(node_cpu),
        round(os.getloadavg()[0], 1), passport_records,
        round(passport_seconds, 2), fault_runs_count, fault_result,
    )  # fmt: skip
    for key, value in asdict(results).items():
        typer.echo(f"{key}: {value}")
    if json_file is not None:
        json_file.write_bytes(orjson.dumps(asdict(results), option=orjson.OPT_INDENT_2))
