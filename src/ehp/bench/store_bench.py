"""``ehp bench store``: ingest, create and read throughput of a real server, with a raw-SQL floor.

The server runs as its own process (``ehp serve``); clients are processes speaking HTTP/1.1 with
keep-alive on loopback (``ehp.bench.load``), all on the same machine. For each figure the same
rows are also written and read with plain SQL in the same database (PostgreSQL ``COPY`` / SQLite
``executemany``, primary-key ``SELECT``), and our figure is reported as a ratio to that floor:
ratios survive the noise of a shared machine, absolute numbers do not.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from ehp.bench.load import Job, Outcome, run_load
from ehp.bench.servers import BenchServer, throwaway_postgres
from ehp.store.database import open_engine


@dataclass(frozen=True, slots=True)
class StoreBenchConfig:
    bundles: int = 100
    bundle_size: int = 100
    creates: int = 2000
    reads: int = 10000
    clients: int = 4
    workers: int = 2

    @classmethod
    def quick(cls) -> StoreBenchConfig:
        return cls(bundles=4, bundle_size=25, creates=50, reads=200, clients=2, workers=1)


@dataclass(slots=True)
class Figure:
    name: str
    count: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float
    """CPU microseconds the server processes spent per item. Unlike a wall-clock rate this does
    not depend on what else the machine runs (the database server's own CPU is not included)."""
    floor_per_second: float | None = None
    ratio_to_floor: float | None = None
    """How many times slower than the raw-SQL floor (1.0 = as fast as raw SQL)."""


@dataclass(slots=True)
class BackendResult:
    backend: str
    figures: list[Figure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "figures": [asdict(f) for f in self.figures]}


def percentile_ms(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else 0.0


def _patient(number: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "http://ehp.example/bench-iin", "value": f"{number:012d}"}],
        "name": [{"family": "Сейткали", "given": ["Айгерим"]}],
        "gender": "female" if number % 2 else "male",
        "birthDate": f"{1950 + number % 60}-0{1 + number % 9}-1{number % 9}",
        "address": [{"city": "Astana", "country": "KZ"}],
    }


def _observation(subject: str, number: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "HbA1c"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": f"20{10 + number % 15}-0{1 + number % 9}-1{number % 9}T08:30:00+05:00",
        "valueQuantity": {
            "value": 5.5 + (number % 30) / 10,
            "unit": "%",
            "system": "http://unitsofmeasure.org",
            "code": "%",
        },
    }


def _bundles(config: StoreBenchConfig) -> list[dict[str, Any]]:
    """Transaction bundles: one Patient and its Observations per group of ten entries."""
    bundles = []
    number = 0
    for _ in range(config.bundles):
        entries: list[dict[str, Any]] = []
        while len(entries) < config.bundle_size:
            patient_url = f"urn:uuid:{uuid.uuid4()}"
            entries.append(
                {
                    "fullUrl": patient_url,
                    "resource": _patient(number),
                    "request": {"method": "POST", "url": "Patient"},
                }
            )
            for _ in range(min(9, config.bundle_size - len(entries))):
                number += 1
                entries.append(
                    {
                        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                        "resource": _observation(patient_url, number),
                        "request": {"method": "POST", "url": "Observation"},
                    }
                )
            number += 1
        bundles.append({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    return bundles


def _measure(
    server: BenchServer, name: str, count: int, jobs: list[Job], clients: int, headers: dict[str, str]
) -> tuple[Figure, list[Outcome]]:
    """Run the jobs against the server; wall-clock rate, latencies and the server's CPU per item."""
    cpu_before = server.cpu_seconds()
    seconds, outcomes = run_load(server.base, jobs, clients, headers)
    cpu = server.cpu_seconds() - cpu_before
    failed = [o for o in outcomes if o.status >= 300]
    if failed:
        raise RuntimeError(f"{name}: {len(failed)} requests failed, e.g. status {failed[0].status}")
    latencies = [o.seconds for o in outcomes]
    figure = Figure(
        name=name,
        count=count,
        seconds=round(seconds, 3),
        per_second=round(count / seconds, 1),
        p50_ms=round(percentile_ms(latencies, 0.5), 2),
        p99_ms=round(percentile_ms(latencies, 0.99), 2),
        server_cpu_us=round(cpu / count * 1e6, 1),
    )
    return figure, outcomes


def bench_backend(backend: str, database: str, config: StoreBenchConfig, log: Path) -> BackendResult:
    result = BackendResult(backend)
    bundles = _bundles(config)
    with BenchServer(database, log, workers=config.workers) as server:
        path = urlsplit(server.base).path
        minimal = {"Prefer": "return=minimal"}
        jobs = [Job("POST", path, orjson.dumps(bundle), keep_body=True) for bundle in bundles]
        name = f"ingest: transaction bundles of {config.bundle_size} (resources/s)"
        figure, outcomes = _measure(
            server, name, len(bundles) * config.bundle_size, jobs, config.clients, minimal
        )
        result.figures.append(figure)
        created = [
            entry["response"]["location"].split("/_history")[0]
            for outcome in outcomes
            for entry in orjson.loads(outcome.body or b"{}")["entry"]
        ]
        creates = [
            Job("POST", f"{path}/Observation", orjson.dumps(_observation(f"Patient/{uuid.uuid4()}", n)))
            for n in range(config.creates)
        ]
        name = "create: single POST (resources/s)"
        result.figures.append(_measure(server, name, config.creates, creates, config.clients, minimal)[0])
        rng = random.Random(7)
        targets = [rng.choice(created) for _ in range(config.reads)]
        reads = [Job("GET", f"{path}/{target}") for target in targets]
        result.figures.append(
            _measure(server, "read by id (reads/s)", config.reads, reads, config.clients, {})[0]
        )

    rows = [
        (f"{entry['resource']['resourceType']}/{uuid.uuid4()}", orjson.dumps(entry["resource"]))
        for bundle in bundles
        for entry in bundle["entry"]
    ]
    keys = [rows[i % len(rows)][0] for i in range(len(targets))]
    floor_write, floor_reads = raw_floor(database, [rows], keys)
    floor_read = len(floor_reads) / sum(floor_reads)
    result.figures[0].floor_per_second = round(floor_write, 1)
    result.figures[0].ratio_to_floor = round(floor_write / result.figures[0].per_second, 2)
    result.figures[2].floor_per_second = round(floor_read, 1)
    result.figures[2].ratio_to_floor = round(floor_read / result.figures[2].per_second, 2)
    return result


_FLOOR_COPY = "COPY bench_floor (id, content) FROM STDIN"


def raw_floor(
    database: str, chunks: Iterable[list[tuple[str, bytes]]], keys: list[str]
) -> tuple[float, list[float]]:
    """The rows written with plain SQL in one transaction, then ``keys`` read back by primary key:
    the write rate and the seconds of each read.

    ``chunks`` may be a generator (a large population need not sit in memory): each chunk is made
    outside the clock, then written by one ``COPY`` on PostgreSQL (which returns once the server
    has the rows) or one ``executemany`` on SQLite; the floor's time is the sum of those writes
    and the commit.
    """
    engine = open_engine(database, pool_size=1)
    postgresql = engine.dialect.name == "postgresql"
    written = 0
    write_seconds = 0.0
    try:
        with engine.connect() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            content_type = "bytea" if postgresql else "blob"
            raw.execute(f"CREATE TABLE bench_floor (id text PRIMARY KEY, content {content_type} NOT NULL)")
            if not postgresql:
                raw.execute("BEGIN")
            for rows in chunks:
                started = time.perf_counter()
                if postgresql:
                    with raw.cursor() as cursor, cursor.copy(_FLOOR_COPY) as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    raw.executemany("INSERT INTO bench_floor (id, content) VALUES (?, ?)", rows)
                write_seconds += time.perf_counter() - started
                written += len(rows)
            started = time.perf_counter()
            if postgresql:
                raw.commit()
            else:
                raw.execute("COMMIT")
            write_seconds += time.perf_counter() - started
            marker = "%s" if postgresql else "?"
            query = f"SELECT content FROM bench_floor WHERE id = {marker}"
            reads = []
            for key in keys:
                started = time.perf_counter()
                found = raw.execute(query, (key,)).fetchone()
                reads.append(time.perf_counter() - started)
                if found is None:
                    raise ValueError(f"the floor has no row {key}: a read must find what was written")
            raw.execute("DROP TABLE bench_floor")
            raw.commit()
    finally:
        engine.dispose()
    return written / write_seconds, reads


@contextmanager
def backend_databases(
    database: str | None, folder: Path, postgres_admin: str
) -> Iterator[list[tuple[str, str]]]:
    """The databases to measure: the one given, or a temporary SQLite file and a throwaway PostgreSQL one."""
    if database is not None:
        yield [("postgresql" if database.startswith("postgres") else "sqlite", database)]
        return
    with throwaway_postgres(postgres_admin) as postgres:
        yield [("sqlite", f"sqlite:///{folder / 'bench.db'}"), ("postgresql", postgres)]


def format_results(results: list[BackendResult], config: StoreBenchConfig) -> str:
    lines = [
        f"setup: {config.bundles} bundles x {config.bundle_size} entries, {config.creates} creates, "
        f"{config.reads} reads, {config.clients} client processes, {config.workers} server workers",
        "",
        "| backend | figure | count | per second | p50 ms | p99 ms | server CPU µs each | raw floor /s "
        "| ratio to floor |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        for f in result.figures:
            floor = f"{f.floor_per_second:,.0f}" if f.floor_per_second else ""
            ratio = f"{f.ratio_to_floor:.2f}x" if f.ratio_to_floor else ""
            lines.append(
                f"| {result.backend} | {f.name} | {f.count} | {f.per_second:,.0f} | {f.p50_ms} | {f.p99_ms} "
                f"| {f.server_cpu_us:,.0f} "
                f"| {floor} | {ratio} |"
            )
    return "\n".join(lines)


def summary_json(results: list[BackendResult], config: StoreBenchConfig) -> bytes:
    return orjson.dumps(
        {"config": asdict(config), "results": [r.as_dict() for r in results]},
        option=orjson.OPT_INDENT_2,
    )
