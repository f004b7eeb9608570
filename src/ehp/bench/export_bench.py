"""``ehp bench export``: Bulk Data ``$export`` throughput beside a raw read of the same rows.

The population of ``ehp bench search`` is written into a fresh database per backend, a server
(``--auth none``, one worker) runs a system-level ``$export`` of it, and the figure is the
resources per second from kick-off to the completion manifest, with the server's CPU per resource.
The floor reads the same current contents in one statement: ``COPY (SELECT ...) TO STDOUT`` on
PostgreSQL, a plain ``SELECT`` on SQLite. Each is measured ``rounds`` times, alternately; medians.
Then every file is downloaded, and the download rate is given too.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from sqlalchemy import Engine, false, select

from ehp.bench.options import BenchDatabaseOption, JsonOption, PostgresAdminOption, QuickOption
from ehp.bench.search_bench import SearchBenchConfig, load_population
from ehp.bench.servers import DEFAULT_POSTGRES_ADMIN, BenchServer
from ehp.bench.store_bench import backend_databases
from ehp.store.database import migrate, open_engine
from ehp.store.schema import resource_versions, resources


@dataclass(frozen=True, slots=True)
class ExportBenchConfig:
    patients: int = 20_000
    rounds: int = 3

    @classmethod
    def quick(cls) -> ExportBenchConfig:
        return cls(patients=200, rounds=1)


@dataclass(slots=True)
class ExportFigure:
    backend: str
    resources: int
    export_per_second: float
    server_cpu_us_per_resource: float
    download_per_second: float
    floor_per_second: float

    @property
    def ratio_to_floor(self) -> float:
        return round(self.export_per_second / self.floor_per_second, 3)


def _floor_seconds(engine: Engine) -> float:
    current = (resource_versions.c.rid == resources.c.rid) & (
        resource_versions.c.version == resources.c.version
    )
    statement = (
        select(resource_versions.c.content)
        .select_from(resources.join(resource_versions, current))
        .where(resources.c.deleted == false())
        .order_by(resources.c.resource_type, resources.c.rid)
    )
    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY ({sql}) TO STDOUT") as copy:
                for _ in copy:
                    pass
        finally:
            raw.close()
    else:
        with engine.connect() as connection:
            for _ in connection.execute(statement):
                pass
    return time.perf_counter() - started


def _export_once(server: BenchServer) -> tuple[float, float, list[dict[str, Any]]]:
    cpu = server.cpu_seconds()
    started = time.perf_counter()
    kick = httpx.post(f"{server.base}/$export", headers={"Prefer": "respond-async"}, timeout=60)
    kick.raise_for_status()
    status = kick.headers["Content-Location"]
    while True:
        answer = httpx.get(status, timeout=60)
        if answer.status_code == 200:
            break
        answer.raise_for_status()
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    outputs: list[dict[str, Any]] = answer.json()["output"]
    return seconds, server.cpu_seconds() - cpu, outputs


def _download_seconds(outputs: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    with httpx.Client(timeout=120) as client:
        for output in outputs:
            with client.stream("GET", output["url"]) as answer:
                for _ in answer.iter_bytes():
                    pass
    return time.perf_counter() - started


def bench_export_backend(backend: str, url: str, config: ExportBenchConfig, log: Path) -> ExportFigure:
    engine = open_engine(url)
    try:
        migrate(engine)
        count, _ = load_population(engine, SearchBenchConfig(patients=config.patients))
        with BenchServer(url, log) as server:
            exports, cpus, floors, downloads = [], [], [], []
            for _ in range(config.rounds):
                seconds, cpu, outputs = _export_once(server)
                exports.append(seconds)
                cpus.append(cpu)
                floors.append(_floor_seconds(engine))
                downloads.append(_download_seconds(outputs))
            exported = sum(int(o["count"]) for o in outputs)
    finally:
        engine.dispose()
    return ExportFigure(
        backend,
        exported,
        round(exported / statistics.median(exports)),
        round(statistics.median(cpus) / exported * 1e6, 1),
        round(exported / statistics.median(downloads)),
        round(count / statistics.median(floors)),
    )


def bench_export(
    database: BenchDatabaseOption = None,
    quick: QuickOption = False,
    json_file: JsonOption = None,
    postgres_admin: PostgresAdminOption = DEFAULT_POSTGRES_ADMIN,
    patients: Annotated[int | None, typer.Option("--patients", help="Population size")] = None,
) -> None:
    """$export resources per second (kick-off to manifest), server CPU per resource, downloads, and
    the ratio to a raw read (COPY on PostgreSQL) of the same rows."""
    config = ExportBenchConfig.quick() if quick else ExportBenchConfig()
    if patients is not None:
        config = ExportBenchConfig(patients=patients, rounds=config.rounds)
    figures = []
    with (
        tempfile.TemporaryDirectory(prefix="ehp-bench-") as folder,
        backend_databases(database, Path(folder), postgres_admin) as backends,
    ):
        for backend, url in backends:
            typer.echo(f"measuring {backend}...")
            figures.append(bench_export_backend(backend, url, config, Path(folder) / f"{backend}.log"))
    typer.echo(f"setup: {config.patients} patients, {config.rounds} rounds, medians")
    typer.echo(
        "| backend | resources | export /s | server CPU µs each | download /s | raw floor /s | ratio |"
    )
    typer.echo("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for f in figures:
        typer.echo(
            f"| {f.backend} | {f.resources} | {f.export_per_second} | {f.server_cpu_us_per_resource} "
            f"| {f.download_per_second} | {f.floor_per_second} | {f.ratio_to_floor} |"
        )
    if json_file is not None:
        json_file.write_bytes(
            orjson.dumps([asdict(f) | {"ratio_to_floor": f.ratio_to_floor} for f in figures])
        )
