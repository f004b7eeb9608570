"""``ehp bench export``: Bulk Data ``$export`` and ``$import`` throughput beside raw SQL.

The population of ``ehp bench search`` is written into a fresh database per backend, a server
(``--auth none``, one worker) runs a system-level ``$export`` of it, and the figure is the
resources per second from kick-off to the completion manifest, with the server's CPU per resource.
The floor reads the same current contents in one statement: ``COPY (SELECT ...) TO STDOUT`` on
PostgreSQL, a plain ``SELECT`` on SQLite. Each is measured ``rounds`` times, alternately; medians.
Then every file is downloaded, and the download rate is given too.

The import leg sends the downloaded files to a second, empty database's server with ``$import``
(from ``file://`` inside its ``--import-dir``): resources per second from kick-off to manifest
(validation, rules, indexing and all), the server's CPU per resource (its preparation processes
included), beside the floor of writing the same lines raw: ``COPY`` into a table of (type, id,
content) on PostgreSQL, one ``executemany`` on SQLite.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from sqlalchemy import Engine, false, select

from ehp.bench.options import BenchDatabaseOption, JsonOption, PostgresAdminOption, QuickOption
from ehp.bench.search_bench import SearchBenchConfig, load_population
from ehp.bench.servers import DEFAULT_POSTGRES_ADMIN, BenchServer, throwaway_postgres
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
    import_per_second: float = 0.0
    import_cpu_us_per_resource: float = 0.0
    import_floor_per_second: float = 0.0

    @property
    def ratio_to_floor(self) -> float:
        return round(self.export_per_second / self.floor_per_second, 3)

    @property
    def import_ratio_to_floor(self) -> float:
        return (
            round(self.import_per_second / self.import_floor_per_second, 3)
            if self.import_floor_per_second
            else 0.0
        )


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


def _download_seconds(outputs: list[dict[str, Any]], folder: Path | None = None) -> float:
    started = time.perf_counter()
    with httpx.Client(timeout=120) as client:
        for number, output in enumerate(outputs):
            with client.stream("GET", output["url"]) as answer:
                if folder is None:
                    for _ in answer.iter_bytes():
                        pass
                    continue
                with (folder / f"{number:03d}-{output['type']}.ndjson").open("wb") as file:
                    for chunk in answer.iter_bytes():
                        file.write(chunk)
    return time.perf_counter() - started


def run_import(
    server: BenchServer, files: list[tuple[str, Path]], poll: float = 0.05
) -> tuple[float, dict[str, Any]]:
    """``$import`` of these (type, file) inputs, from kick-off to manifest: (seconds, manifest)."""
    inputs = [
        {
            "name": "input",
            "part": [
                {"name": "type", "valueCode": kind},
                {"name": "url", "valueUri": path.resolve().as_uri()},
            ],
        }
        for kind, path in files
    ]
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "inputFormat", "valueCode": "application/fhir+ndjson"}, *inputs],
    }
    started = time.perf_counter()
    kick = httpx.post(f"{server.base}/$import", json=body, headers={"Prefer": "respond-async"}, timeout=60)
    kick.raise_for_status()
    while True:
        answer = httpx.get(kick.headers["Content-Location"], timeout=60)
        if answer.status_code == 200:
            manifest: dict[str, Any] = answer.json()
            return time.perf_counter() - started, manifest
        answer.raise_for_status()
        time.sleep(poll)


def _import_once(
    server: BenchServer, folder: Path, outputs: list[dict[str, Any]]
) -> tuple[float, float, int]:
    files = [(o["type"], folder / f"{number:03d}-{o['type']}.ndjson") for number, o in enumerate(outputs)]
    cpu = server.cpu_seconds()
    seconds, manifest = run_import(server, files)
    written = sum(int(o["count"]) for o in manifest["output"])
    return seconds, server.cpu_seconds() - cpu, written


def _import_floor_seconds(engine: Engine, folder: Path) -> float:
    """Writing the same lines raw, with their type and id, in one statement."""
    rows = []
    for path in sorted(folder.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            resource = orjson.loads(line)
            rows.append((resource["resourceType"], resource["id"], line))
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS bench_import_floor")
        connection.exec_driver_sql(
            "CREATE TABLE bench_import_floor (resource_type TEXT, id TEXT, content BYTEA)"
            if engine.dialect.name == "postgresql"
            else "CREATE TABLE bench_import_floor (resource_type TEXT, id TEXT, content BLOB)"
        )
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cursor.copy("COPY bench_import_floor (resource_type, id, content) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany("INSERT INTO bench_import_floor VALUES (?, ?, ?)", rows)
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def bench_export_backend(
    backend: str, url: str, config: ExportBenchConfig, log: Path, target_url: str | None = None
) -> ExportFigure:
    """Export from ``url``; with ``target_url`` (an empty database), import the files there."""
    engine = open_engine(url)
    files = log.parent / f"{backend}-files"
    files.mkdir(exist_ok=True)
    try:
        migrate(engine)
        count, _ = load_population(engine, SearchBenchConfig(patients=config.patients))
        with BenchServer(url, log) as server:
            exports, cpus, floors, downloads = [], [], [], []
            for number in range(config.rounds):
                seconds, cpu, outputs = _export_once(server)
                exports.append(seconds)
                cpus.append(cpu)
                floors.append(_floor_seconds(engine))
                downloads.append(_download_seconds(outputs, files if number == 0 else None))
            exported = sum(int(o["count"]) for o in outputs)
    finally:
        engine.dispose()
    figure = ExportFigure(
        backend,
        exported,
        round(exported / statistics.median(exports)),
        round(statistics.median(cpus) / exported * 1e6, 1),
        round(exported / statistics.median(downloads)),
        round(count / statistics.median(floors)),
    )
    if target_url is not None:
        target = open_engine(target_url)
        try:
            migrate(target)
            import_args = ["--import-dir", str(files)]
            with BenchServer(target_url, log.with_suffix(".import.log"), extra_args=import_args) as server:
                seconds, cpu, written = _import_once(server, files, outputs)
            floor = _import_floor_seconds(target, files)
        finally:
            target.dispose()
        figure.import_per_second = round(written / seconds)
        figure.import_cpu_us_per_resource = round(cpu / written * 1e6, 1)
        figure.import_floor_per_second = round(written / floor)
    return figure


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
            with _empty_database(backend, Path(folder), postgres_admin) as target:
                figures.append(
                    bench_export_backend(backend, url, config, Path(folder) / f"{backend}.log", target)
                )
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
    typer.echo("")
    typer.echo("| backend | import /s | server CPU µs each | raw write floor /s | ratio |")
    typer.echo("| --- | ---: | ---: | ---: | ---: |")
    for f in figures:
        typer.echo(
            f"| {f.backend} | {f.import_per_second} | {f.import_cpu_us_per_resource} "
            f"| {f.import_floor_per_second} | {f.import_ratio_to_floor} |"
        )
    if json_file is not None:
        ratios = [
            {"ratio_to_floor": f.ratio_to_floor, "import_ratio_to_floor": f.import_ratio_to_floor}
            for f in figures
        ]
        json_file.write_bytes(orjson.dumps([asdict(f) | r for f, r in zip(figures, ratios, strict=True)]))


@contextmanager
def _empty_database(backend: str, folder: Path, postgres_admin: str) -> Iterator[str]:
    if backend == "postgresql":
        with throwaway_postgres(postgres_admin) as url:
            yield url
    else:
        yield f"sqlite:///{folder / 'import-target.db'}"
