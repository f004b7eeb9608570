"""``ehp bench search``: latency and throughput of typical searches on a synthetic population.

Setup writes the population straight through the store (write transactions of 1,000 resources,
no HTTP, no validation) and runs ``ANALYZE``, as a database in service would have statistics.
Then a real server (``ehp serve``, its own process) answers the searches below from client
processes (``ehp.bench.load``), each search with fresh random values. On PostgreSQL the page
query of each search is also run under ``EXPLAIN ANALYZE`` to show which indexes it uses.

Per patient the population has 10 Observations (8 LOINC codes, 2015-2025), 3 Encounters and
1-2 Conditions (200 codes), each Condition the diagnosis of one Encounter; a Practitioner per
100 patients (their general practitioner) and an Organization per 1,000.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import orjson
import typer
from sqlalchemy import Engine

from ehp.bench.load import Job, run_load
from ehp.bench.options import (
    DEFAULT_POSTGRES_ADMIN,
    BenchDatabaseOption,
    ClientsOption,
    JsonOption,
    PostgresAdminOption,
    QuickOption,
    WorkersOption,
)
from ehp.bench.servers import BenchServer
from ehp.bench.store_bench import backend_databases, percentile_ms
from ehp.context import RequestContext
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.search.engine import count_statement, page_statement, prepare
from ehp.search.query import Scope
from ehp.store.database import migrate, open_engine
from ehp.store.store import Store

IIN_SYSTEM = "http://ehp.kz/fhir/sid/iin"
PRACTITIONER_SYSTEM = "http://ehp.kz/fhir/sid/practitioner"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
OBSERVATION_CODES = ("4548-4", "2339-0", "8480-6", "8462-4", "29463-7", "8302-2", "2093-3", "718-7")
CONDITION_CODES = tuple(str(100000 + 7 * n) for n in range(200))
BENCH_CONTEXT = RequestContext(actor="Device/ehp-bench", purpose="HOPERAT")


@dataclass(frozen=True, slots=True)
class SearchBenchConfig:
    patients: int = 20_000
    requests: int = 2_000
    """Requests per search."""
    clients: int = 4
    workers: int = 2
    seed: int = 7

    @classmethod
    def quick(cls) -> SearchBenchConfig:
        return cls(patients=200, requests=40, clients=2, workers=1)

    @property
    def practitioners(self) -> int:
        return max(1, self.patients // 100)

    @property
    def organizations(self) -> int:
        return max(1, self.patients // 1000)


@dataclass(slots=True)
class SearchFigure:
    name: str
    query: str
    """An example of the search, as sent."""
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    mean_results: float
    plan: str = ""
    """PostgreSQL: EXPLAIN ANALYZE of the page query (empty on SQLite)."""
    indexes: list[str] = field(default_factory=list)
    seq_scans: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SearchBenchResult:
    backend: str
    resources: int
    load_seconds: float
    figures: list[SearchFigure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "resources": self.resources,
            "load_seconds": self.load_seconds,
            "figures": [asdict(figure) for figure in self.figures],
        }


# --- the population --------------------------------------------------------------------------


def iin(number: int) -> str:
    """A 12-digit IIN-shaped identifier, unique per patient number (check digit not computed)."""
    return f"{700101 + number % 300000:06d}{number:06d}"[-12:]


def _patient(number: int, config: SearchBenchConfig) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"p{number}",
        "identifier": [{"system": IIN_SYSTEM, "value": iin(number)}],
        "name": [{"family": f"Family{number % 5000}", "given": [f"Given{number % 300}"]}],
        "gender": "female" if number % 2 else "male",
        "birthDate": f"{1940 + number % 80}-{1 + number % 12:02d}-{1 + number % 28:02d}",
        "generalPractitioner": [{"reference": f"Practitioner/pr{number % config.practitioners}"}],
        "managingOrganization": {"reference": f"Organization/org{number % config.organizations}"},
    }


def _day(rng: random.Random) -> str:
    return f"{rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _clinical(number: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """A patient's Observations, Conditions and Encounters."""
    subject = {"reference": f"Patient/p{number}"}
    for index in range(10):
        code = OBSERVATION_CODES[(number + index) % len(OBSERVATION_CODES)]
        yield {
            "resourceType": "Observation",
            "id": f"o{number}-{index}",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": subject,
            "effectiveDateTime": f"{_day(rng)}T08:30:00+05:00",
            "valueQuantity": {"value": round(rng.uniform(3, 9), 1), "system": "http://unitsofmeasure.org"},
        }
    conditions = 1 + number % 2
    for index in range(conditions):
        yield {
            "resourceType": "Condition",
            "id": f"c{number}-{index}",
            "code": {"coding": [{"system": SNOMED, "code": rng.choice(CONDITION_CODES)}]},
            "subject": subject,
            "onsetDateTime": _day(rng),
        }
    for index in range(3):
        start = _day(rng)
        encounter: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": f"e{number}-{index}",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": subject,
            "period": {"start": start, "end": start},
        }
        if index < conditions:
            encounter["diagnosis"] = [{"condition": {"reference": f"Condition/c{number}-{index}"}}]
        yield encounter


def population(config: SearchBenchConfig) -> Iterator[dict[str, Any]]:
    rng = random.Random(config.seed)
    for number in range(config.organizations):
        yield {"resourceType": "Organization", "id": f"org{number}", "name": f"Polyclinic {number}"}
    for number in range(config.practitioners):
        yield {
            "resourceType": "Practitioner",
            "id": f"pr{number}",
            "identifier": [{"system": PRACTITIONER_SYSTEM, "value": f"P{number:06d}"}],
            "name": [{"family": f"Doctor{number}"}],
        }
    for number in range(config.patients):
        yield _patient(number, config)
        yield from _clinical(number, rng)


def load_population(engine: Engine, config: SearchBenchConfig) -> tuple[int, float]:
    """Write the population through the store in transactions of 1,000; returns (resources, seconds)."""
    store = open_store(engine)
    register_search_parameters(store)
    started = time.perf_counter()
    written = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        with store.transaction(BENCH_CONTEXT) as tx:
            for resource in batch:
                tx.write(resource["resourceType"], resource["id"], resource, "PUT", fresh_id=True)
        batch.clear()

    for resource in population(config):
        batch.append(resource)
        written += 1
        if len(batch) == 1000:
            flush()
    if batch:
        flush()
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    return written, time.perf_counter() - started


# --- the searches --------------------------------------------------------------------------------

Search = Callable[[random.Random], tuple[str, list[tuple[str, str]]]]


def _searches(config: SearchBenchConfig) -> dict[str, Search]:
    def patient(rng: random.Random) -> int:
        return rng.randrange(config.patients)

    def by_iin(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
        return "Patient", [("identifier", f"{IIN_SYSTEM}|{iin(patient(rng))}")]

    def observations(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
        number = patient(rng)
        code = OBSERVATION_CODES[(number + rng.randrange(10)) % len(OBSERVATION_CODES)]
        return "Observation", [
            ("patient", f"Patient/p{number}"),
            ("code", f"{LOINC}|{code}"),
            ("date", f"ge{rng.randint(2015, 2020)}-01-01"),
        ]

    def encounters(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
        return "Encounter", [("patient", f"Patient/p{patient(rng)}"), ("_sort", "-date"), ("_count", "10")]

    def conditions(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
        return "Condition", [
            ("code", f"{SNOMED}|{rng.choice(CONDITION_CODES)}"),
            ("_revinclude", "Encounter:diagnosis"),
        ]

    def chain(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
        practitioner = f"{PRACTITIONER_SYSTEM}|P{rng.randrange(config.practitioners):06d}"
        return "Observation", [
            ("patient.general-practitioner.identifier", practitioner),
            ("_count", "10"),
        ]

    return {
        "Patient?identifier=IIN": by_iin,
        "Observation?patient&code&date=ge": observations,
        "Encounter?patient&_sort=-date&_count=10": encounters,
        "Condition?code&_revinclude=Encounter:diagnosis": conditions,
        "Observation?patient.general-practitioner.identifier (two-level chain)": chain,
    }


def _explain(engine: Engine, store: Store, resource_type: str, query: list[tuple[str, str]]) -> str:
    """EXPLAIN ANALYZE of the page query the server runs for this search (PostgreSQL)."""
    scope = Scope(store.params, "http://bench/fhir")
    count = int(dict(query).get("_count", "50"))
    request = prepare(scope, (resource_type,), query, strict=True, count=count)
    statement = page_statement(request) if count else count_statement(request)
    compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {compiled}", compiled.params
        ).all()
    return "\n".join(row[0] for row in rows)


def _plan_summary(plan: str) -> tuple[list[str], list[str]]:
    indexes = sorted({line.split(" using ")[1].split()[0] for line in plan.splitlines() if " using " in line})
    seq_scans = sorted(
        {line.split("Seq Scan on ")[1].split()[0] for line in plan.splitlines() if "Seq Scan on " in line}
    )
    return indexes, seq_scans


def bench_backend(backend: str, database: str, config: SearchBenchConfig, log: Path) -> SearchBenchResult:
    engine = open_engine(database)
    try:
        migrate(engine)
        resources, seconds = load_population(engine, config)
        result = SearchBenchResult(backend, resources, round(seconds, 1))
        store = open_store(engine)
        store.params.load()
        rng = random.Random(config.seed + 1)
        with BenchServer(database, log, workers=config.workers) as server:
            path = urlsplit(server.base).path
            for name, search in _searches(config).items():
                queries = [search(rng) for _ in range(config.requests)]
                jobs = [Job("GET", f"{path}/{t}?{urlencode(q)}", keep_body=True) for t, q in queries]
                wall, outcomes = run_load(server.base, jobs, config.clients)
                failed = [outcome for outcome in outcomes if outcome.status != 200]
                if failed:
                    raise RuntimeError(f"{name}: {len(failed)} searches failed, e.g. {failed[0].body!r:.300}")
                sizes = [len(orjson.loads(outcome.body or b"{}").get("entry", [])) for outcome in outcomes]
                latencies = [outcome.seconds for outcome in outcomes]
                example_type, example = queries[0]
                figure = SearchFigure(
                    name=name,
                    query=f"{example_type}?{urlencode(example)}",
                    requests=len(outcomes),
                    per_second=round(len(outcomes) / wall, 1),
                    p50_ms=round(percentile_ms(latencies, 0.5), 2),
                    p99_ms=round(percentile_ms(latencies, 0.99), 2),
                    mean_results=round(sum(sizes) / len(sizes), 2),
                )
                if backend == "postgresql":
                    figure.plan = _explain(engine, store, example_type, example)
                    figure.indexes, figure.seq_scans = _plan_summary(figure.plan)
                result.figures.append(figure)
        return result
    finally:
        engine.dispose()


def format_results(results: list[SearchBenchResult], config: SearchBenchConfig, plans: bool) -> str:
    lines = [
        f"setup: {config.patients} patients, {config.requests} requests per search, "
        f"{config.clients} client processes, {config.workers} server workers",
        "",
        "| backend | resources | search | req/s | p50 ms | p99 ms | entries/page |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        for f in result.figures:
            lines.append(
                f"| {result.backend} | {result.resources:,} | {f.name} | {f.per_second:,.0f} | {f.p50_ms} "
                f"| {f.p99_ms} | {f.mean_results} |"
            )
    lines.append("")
    for result in results:
        lines.append(f"{result.backend}: {result.resources:,} resources loaded in {result.load_seconds}s")
        for f in result.figures:
            if f.plan:
                scans = ", ".join(f.seq_scans) or "none"
                lines.append(f"  {f.name}: indexes {', '.join(f.indexes)}; seq scans: {scans}")
                if plans:
                    lines.extend(f"      {line}" for line in f.plan.splitlines())
    return "\n".join(lines)


def summary_json(results: list[SearchBenchResult], config: SearchBenchConfig) -> bytes:
    return orjson.dumps(
        {"config": asdict(config), "results": [r.as_dict() for r in results]}, option=orjson.OPT_INDENT_2
    )


def bench_search(
    database: BenchDatabaseOption = None,
    patients: Annotated[
        int | None, typer.Option(help="Population size (about 16 resources per patient).")
    ] = None,
    requests: Annotated[int | None, typer.Option(help="Requests per search.")] = None,
    quick: QuickOption = False,
    plans: Annotated[bool, typer.Option(help="Print the PostgreSQL EXPLAIN ANALYZE plans in full.")] = False,
    json_file: JsonOption = None,
    postgres_admin: PostgresAdminOption = DEFAULT_POSTGRES_ADMIN,
    clients: ClientsOption = None,
    workers: WorkersOption = None,
) -> None:
    """Search latency (p50/p99) and throughput on a synthetic population, with PostgreSQL plans."""
    config = SearchBenchConfig.quick() if quick else SearchBenchConfig()
    config = replace(
        config,
        patients=patients or config.patients,
        requests=requests or config.requests,
        clients=clients or config.clients,
        workers=workers or config.workers,
    )
    with tempfile.TemporaryDirectory(prefix="ehp-bench-") as folder:
        results = []
        with backend_databases(database, Path(folder), postgres_admin) as backends:
            for backend, url in backends:
                typer.echo(f"loading and measuring {backend}...")
                results.append(bench_backend(backend, url, config, Path(folder) / f"{backend}.log"))
    typer.echo(format_results(results, config, plans))
    if json_file is not None:
        json_file.write_bytes(summary_json(results, config))
