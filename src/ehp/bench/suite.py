"""``ehp bench``: the benchmark suite on a synthetic country, each figure beside a raw-SQL floor.

A population made by ``ehp synth`` (transaction bundles) is loaded over HTTP into a real server
(``ehp serve`` in its own process) by ``ehp load``'s loader; then reads by id and the searches a
passport is used for run from client processes (``ehp.bench.load``). In the same run, on the same
database, each figure has a floor:

- ingest: the same resources written as plain ``(key, json)`` rows with PostgreSQL ``COPY`` or
  SQLite ``executemany`` in one transaction;
- read by id: the same keys read from those rows by primary key;
- search: the very SQL statement the server's planner makes for that search, run directly on the
  database (no HTTP, no FHIR parsing, no serialisation).

Our figure is reported as a ratio to its floor. The floors run on one connection, one request
after the other; ratios compare our median latency (reads, searches) or rate (ingest) to them.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from sqlalchemy import Engine

from ehp.bench.load import Job, run_load
from ehp.bench.servers import BenchServer
from ehp.bench.store_bench import backend_databases, percentile_ms, raw_floor
from ehp.fhir.codes import HBA1C, HYPERTENSION
from ehp.registry.iin import IIN_SYSTEM
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.search.engine import page_statement, prepare
from ehp.search.query import Scope
from ehp.store.database import open_engine, refresh_statistics
from ehp.synth.generator import SynthConfig, synthesize
from ehp.synth.loader import load_http


@dataclass(frozen=True, slots=True)
class SuiteConfig:
    people: int = 10_000
    seed: int = 1
    reads: int = 5_000
    searches: int = 500
    """Requests per kind of search."""
    clients: int = 4
    workers: int = 2

    @classmethod
    def quick(cls) -> SuiteConfig:
        return cls(people=100, reads=200, searches=20, clients=2, workers=1)


@dataclass(slots=True)
class SuiteFigure:
    name: str
    count: int
    per_second: float
    p50_ms: float | None
    p99_ms: float | None
    floor_p50_ms: float | None = None
    floor_per_second: float | None = None
    ratio_to_floor: float | None = None
    """Ours against the floor: median latency over floor median latency (reads and searches), floor
    rate over our rate (ingest). 1.0 would be as fast as raw SQL."""
    server_cpu_us: float | None = None
    example: str = ""


@dataclass(slots=True)
class SuiteResult:
    backend: str
    people: int
    resources: int
    figures: list[SuiteFigure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "people": self.people,
            "resources": self.resources,
            "figures": [asdict(figure) for figure in self.figures],
        }


@dataclass(slots=True)
class Population:
    """What the searches draw their values from, read off the generated bundles."""

    folder: Path
    keys: list[str] = field(default_factory=list)
    """``Type/id`` of every resource."""
    patients: list[tuple[str, str, str]] = field(default_factory=list)
    """Patient id, IIN and family name."""
    hba1c_subjects: list[str] = field(default_factory=list)
    """Patients with at least one HbA1c result."""

    def floor_rows(self) -> Iterator[list[tuple[str, bytes]]]:
        """``(Type/id, JSON)`` of every resource, a bundle file at a time, for the raw floor."""
        for path in _bundle_files(self.folder):
            yield [
                (entry["request"]["url"], orjson.dumps(entry["resource"]))
                for line in path.read_bytes().splitlines()
                for entry in orjson.loads(line)["entry"]
            ]


def _bundle_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("bundles-*.ndjson"))


def read_population(folder: Path) -> Population:
    population = Population(folder)
    hba1c: set[str] = set()
    for path in _bundle_files(folder):
        for line in path.read_bytes().splitlines():
            for entry in orjson.loads(line)["entry"]:
                resource = entry["resource"]
                population.keys.append(entry["request"]["url"])
                if resource["resourceType"] == "Patient":
                    iin = next(i["value"] for i in resource["identifier"] if i["system"] == IIN_SYSTEM)
                    population.patients.append((resource["id"], iin, resource["name"][0]["family"]))
                elif resource["resourceType"] == "Observation" and any(
                    coding.get("code") == HBA1C.code for coding in resource["code"].get("coding", [])
                ):
                    hba1c.add(resource["subject"]["reference"].removeprefix("Patient/"))
    population.hba1c_subjects = sorted(hba1c)
    return population


Query = tuple[str, list[tuple[str, str]]]


def searches(population: Population) -> dict[str, Callable[[random.Random], Query]]:
    """The questions a passport answers, with values drawn from the population."""

    def by_iin(rng: random.Random) -> Query:
        return "Patient", [("identifier", f"{IIN_SYSTEM}|{rng.choice(population.patients)[1]}")]

    def by_name(rng: random.Random) -> Query:
        return "Patient", [("name", rng.choice(population.patients)[2][:4]), ("_count", "20")]

    def hba1c_history(rng: random.Random) -> Query:
        subjects = population.hba1c_subjects or [p[0] for p in population.patients]
        return "Observation", [
            ("patient", f"Patient/{rng.choice(subjects)}"),
            ("code", f"{HBA1C.system}|{HBA1C.code}"),
            ("date", f"ge{rng.randint(2010, 2016)}-01-01"),
            ("_sort", "-date"),
        ]

    def hypertension(rng: random.Random) -> Query:
        return "Condition", [
            ("code", f"{HYPERTENSION.system}|{HYPERTENSION.code}"),
            ("clinical-status", "active"),
            ("_count", str(rng.choice((20, 50)))),
        ]

    def visits(rng: random.Random) -> Query:
        patient = rng.choice(population.patients)[0]
        return "Encounter", [("patient", f"Patient/{patient}"), ("_sort", "-date"), ("_count", "10")]

    return {
        "Patient?identifier=IIN": by_iin,
        "Patient?name=prefix": by_name,
        "Observation?patient&code=HbA1c&date=ge&_sort=-date": hba1c_history,
        "Condition?code=I10&clinical-status=active": hypertension,
        "Encounter?patient&_sort=-date&_count=10": visits,
    }


def _search_floor(engine: Engine, queries: list[Query]) -> list[float]:
    """Seconds per search when the server's own SQL for it runs directly on the database."""
    store = open_store(engine)
    register_search_parameters(store)
    scope = Scope(store.params, "http://bench/fhir")
    statements = [
        page_statement(prepare(scope, (kind,), query, strict=True, count=_page_size(query)))
        for kind, query in queries
    ]
    seconds = []
    with engine.connect() as connection:
        for statement in statements:
            started = time.perf_counter()
            connection.execute(statement).all()
            seconds.append(time.perf_counter() - started)
    return seconds


def _page_size(query: list[tuple[str, str]]) -> int:
    return int(dict(query).get("_count", "50"))


def _measure(server: BenchServer, name: str, jobs: list[Job], clients: int) -> SuiteFigure:
    cpu_before = server.cpu_seconds()
    wall, outcomes = run_load(server.base, jobs, clients)
    cpu = server.cpu_seconds() - cpu_before
    failed = [o for o in outcomes if o.status != 200]
    if failed:
        raise RuntimeError(f"{name}: {len(failed)} requests failed, e.g. status {failed[0].status}")
    latencies = [o.seconds for o in outcomes]
    return SuiteFigure(
        name=name,
        count=len(outcomes),
        per_second=round(len(outcomes) / wall, 1),
        p50_ms=round(percentile_ms(latencies, 0.5), 2),
        p99_ms=round(percentile_ms(latencies, 0.99), 2),
        server_cpu_us=round(cpu / len(outcomes) * 1e6, 1),
    )


def bench_backend(
    backend: str, database: str, synth: Path, population: Population, config: SuiteConfig, log: Path
) -> SuiteResult:
    result = SuiteResult(backend, config.people, len(population.keys))
    rng = random.Random(config.seed)
    with BenchServer(database, log, workers=config.workers) as server:
        cpu_before = server.cpu_seconds()
        loaded = load_http(synth, server.base, clients=config.clients, show_progress=False)
        ingest = SuiteFigure(
            name="ingest: transaction bundles over HTTP (resources/s)",
            count=loaded.resources,
            per_second=round(loaded.resources / loaded.seconds, 1),
            p50_ms=None,
            p99_ms=None,
            server_cpu_us=round((server.cpu_seconds() - cpu_before) / loaded.resources * 1e6, 1),
        )
        analyze_after_load(database)
        path = urlsplit(server.base).path
        keys = [rng.choice(population.keys) for _ in range(config.reads)]
        reads = _measure(server, "read by id", [Job("GET", f"{path}/{key}") for key in keys], config.clients)
        found: list[tuple[SuiteFigure, list[Query]]] = []
        for name, search in searches(population).items():
            queries = [search(rng) for _ in range(config.searches)]
            jobs = [Job("GET", f"{path}/{t}?{urlencode(q)}") for t, q in queries]
            figure = _measure(server, name, jobs, config.clients)
            figure.example = f"{queries[0][0]}?{urlencode(queries[0][1])}"
            found.append((figure, queries))
    floor_write, floor_reads = raw_floor(database, population.floor_rows(), keys)
    ingest.floor_per_second = round(floor_write, 1)
    ingest.ratio_to_floor = round(floor_write / ingest.per_second, 2)
    _set_floor(reads, floor_reads)
    result.figures += [ingest, reads]
    engine = open_engine(database, pool_size=1)
    try:
        for figure, queries in found:
            _set_floor(figure, _search_floor(engine, queries))
            result.figures.append(figure)
    finally:
        engine.dispose()
    return result


def analyze_after_load(database: str) -> None:
    """Statistics and visibility map for what was just loaded (see
    :func:`~ehp.store.database.refresh_statistics`)."""
    engine = open_engine(database, pool_size=1)
    try:
        refresh_statistics(engine)
    finally:
        engine.dispose()


def _set_floor(figure: SuiteFigure, floor_seconds: list[float]) -> None:
    median = statistics.median(floor_seconds)
    figure.floor_p50_ms = round(median * 1000, 3)
    figure.floor_per_second = round(len(floor_seconds) / sum(floor_seconds), 1)
    figure.ratio_to_floor = round((figure.p50_ms or 0.0) / figure.floor_p50_ms, 2)


@dataclass(slots=True)
class SuiteRun:
    config: SuiteConfig
    results: list[SuiteResult]

    def as_json(self) -> bytes:
        return orjson.dumps(
            {"config": asdict(self.config), "results": [r.as_dict() for r in self.results]},
            option=orjson.OPT_INDENT_2,
        )

    def table(self) -> str:
        config = self.config
        lines = [
            f"setup: {config.people:,} people (seed {config.seed}), {config.reads} reads, "
            f"{config.searches} requests per search, {config.clients} client processes, "
            f"{config.workers} server workers",
            "",
            "| backend | figure | count | per second | p50 ms | p99 ms | server CPU µs each "
            "| floor p50 ms | floor /s | ratio to floor |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for result in self.results:
            for f in result.figures:
                lines.append(
                    f"| {result.backend} | {f.name} | {f.count:,} | {f.per_second:,.0f} | {_blank(f.p50_ms)} "
                    f"| {_blank(f.p99_ms)} | {_blank(f.server_cpu_us, ',.0f')} | {_blank(f.floor_p50_ms)} "
                    f"| {_blank(f.floor_per_second, ',.0f')} | {_blank(f.ratio_to_floor, '.2f')}x |"
                )
        return "\n".join(lines)


def _blank(value: float | None, spec: str = "") -> str:
    return "–" if value is None else format(value, spec)


def run_suite(
    config: SuiteConfig, database: str | None, postgres_admin: str, *, progress: Callable[[str], None]
) -> SuiteRun:
    with tempfile.TemporaryDirectory(prefix="ehp-bench-") as scratch:
        folder = Path(scratch)
        synth = folder / "synth"
        progress(f"generating {config.people:,} people...")
        synthesize(SynthConfig(people=config.people, seed=config.seed), synth, "bundles", show_progress=False)
        population = read_population(synth)
        results = []
        with backend_databases(database, folder, postgres_admin) as backends:
            for backend, url in backends:
                progress(f"measuring {backend} ({len(population.keys):,} resources)...")
                log = folder / f"{backend}.log"
                results.append(bench_backend(backend, url, synth, population, config, log))
        return SuiteRun(config, results)
