"""``ehp bench access``: what authorization and audit cost, as a ratio to ``--auth none``.

One database holds the synthetic population of ``ehp bench search`` plus, per patient, an active
attachment (``EpisodeOfCare``) to its polyclinic, and a ``PractitionerRole`` putting doctor
``pr0`` at polyclinic ``org0``. Two servers run on that database side by side: one with
``--auth none``, one with authentication, where every request carries doctor ``pr0``'s token and
goes through the whole access path (grant, SQL filter, audit through the write-behind queue). The
same requests (reads by id and searches about patients attached to ``org0``) go to both, in
alternating rounds; the figures are the medians of the rounds. The ratio that counts is the
server CPU per request (it does not move with what else the machine runs); the p50 latency ratio
is given too.
"""

from __future__ import annotations

import random
import statistics
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
import typer
from sqlalchemy import Engine

from ehp.bench.load import Job, run_load
from ehp.bench.options import BenchDatabaseOption, JsonOption, PostgresAdminOption, QuickOption
from ehp.bench.search_bench import BENCH_CONTEXT, OBSERVATION_CODES, SearchBenchConfig, load_population
from ehp.bench.servers import DEFAULT_POSTGRES_ADMIN, BenchServer
from ehp.bench.store_bench import backend_databases
from ehp.fhir.codes import ATTACHMENT, EPISODE_TYPE
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.security.authenticator import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from ehp.security.keys import signing_key
from ehp.security.tokens import issue_token
from ehp.store.database import migrate, open_engine

DOCTOR = "Practitioner/pr0"


@dataclass(frozen=True, slots=True)
class AccessBenchConfig:
    patients: int = 2_000
    requests: int = 1_000
    """Requests per interaction and round."""
    rounds: int = 3
    clients: int = 2

    @classmethod
    def quick(cls) -> AccessBenchConfig:
        return cls(patients=100, requests=60, rounds=1, clients=1)


@dataclass(slots=True)
class Measurement:
    per_second: float
    p50_ms: float
    server_cpu_us: float


@dataclass(slots=True)
class AccessFigure:
    name: str
    example: str
    none: Measurement
    auth: Measurement

    @property
    def cpu_ratio(self) -> float:
        return round(self.auth.server_cpu_us / self.none.server_cpu_us, 2)

    @property
    def p50_ratio(self) -> float:
        return round(self.auth.p50_ms / self.none.p50_ms, 2)


@dataclass(slots=True)
class AccessBenchResult:
    backend: str
    resources: int
    attached: int
    """Patients the doctor may see."""
    figures: list[AccessFigure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "resources": self.resources,
            "attached": self.attached,
            "figures": [
                asdict(figure) | {"cpu_ratio": figure.cpu_ratio, "p50_ratio": figure.p50_ratio}
                for figure in self.figures
            ],
        }


def _access_resources(config: SearchBenchConfig) -> Iterator[dict[str, Any]]:
    """Attachments of every patient to its polyclinic, and doctor pr0's role at org0."""
    yield {
        "resourceType": "PractitionerRole",
        "id": "role-pr0",
        "active": True,
        "practitioner": {"reference": DOCTOR},
        "organization": {"reference": "Organization/org0"},
    }
    for number in range(config.patients):
        yield {
            "resourceType": "EpisodeOfCare",
            "id": f"att{number}",
            "status": "active",
            "type": [{"coding": [{"system": EPISODE_TYPE, "code": ATTACHMENT.code}]}],
            "patient": {"reference": f"Patient/p{number}"},
            "managingOrganization": {"reference": f"Organization/org{number % config.organizations}"},
        }


def load(engine: Engine, population: SearchBenchConfig) -> int:
    migrate(engine)
    written, _ = load_population(engine, population)
    store = open_store(engine)
    register_search_parameters(store)
    extra = list(_access_resources(population))
    for start in range(0, len(extra), 1000):
        with store.transaction(BENCH_CONTEXT) as tx:
            for resource in extra[start : start + 1000]:
                tx.write(resource["resourceType"], resource["id"], resource, "PUT", fresh_id=True)
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    return written + len(extra)


def _jobs(path: str, attached: list[int], config: AccessBenchConfig, seed: int) -> dict[str, list[Job]]:
    rng = random.Random(seed)
    reads = [
        Job("GET", f"{path}/Observation/o{rng.choice(attached)}-{rng.randrange(10)}")
        for _ in range(config.requests)
    ]
    by_patient = [
        Job("GET", f"{path}/Observation?subject=Patient/p{rng.choice(attached)}")
        for _ in range(config.requests)
    ]
    by_code = [
        Job("GET", f"{path}/Observation?code={rng.choice(OBSERVATION_CODES)}&_count=20")
        for _ in range(config.requests)
    ]
    return {
        "read by id (Observation/{id})": reads,
        "search: a patient's Observations (Observation?subject=...)": by_patient,
        "search: Observations by code, 20 a page (Observation?code=...&_count=20)": by_code,
    }


def _measure(server: BenchServer, jobs: list[Job], clients: int, headers: dict[str, str]) -> Measurement:
    before = server.cpu_seconds()
    wall, outcomes = run_load(server.base, jobs, clients, headers)
    cpu = server.cpu_seconds() - before
    failed = [outcome for outcome in outcomes if outcome.status != 200]
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(outcomes)} requests failed, e.g. status {failed[0].status}"
        )
    latencies = sorted(outcome.seconds for outcome in outcomes)
    return Measurement(
        per_second=round(len(outcomes) / wall, 1),
        p50_ms=round(latencies[len(latencies) // 2] * 1000, 3),
        server_cpu_us=round(cpu / len(outcomes) * 1e6, 1),
    )


def _median(samples: list[Measurement]) -> Measurement:
    return Measurement(
        per_second=statistics.median(m.per_second for m in samples),
        p50_ms=statistics.median(m.p50_ms for m in samples),
        server_cpu_us=statistics.median(m.server_cpu_us for m in samples),
    )


def bench_backend(backend: str, database: str, config: AccessBenchConfig, folder: Path) -> AccessBenchResult:
    population = SearchBenchConfig(patients=config.patients, seed=7)
    engine = open_engine(database)
    try:
        resources = load(engine, population)
        key = signing_key(engine)
    finally:
        engine.dispose()
    token = issue_token(
        key.private_key,
        key.kid,
        issuer=DEFAULT_ISSUER,
        audience=DEFAULT_AUDIENCE,
        subject=DOCTOR,
        scope="user/*.rs",
        ttl_seconds=24 * 3600,
    )
    attached = [n for n in range(config.patients) if n % population.organizations == 0]
    result = AccessBenchResult(backend, resources, len(attached))
    samples: dict[str, dict[str, list[Measurement]]] = {}
    with (
        BenchServer(database, folder / f"{backend}-none.log") as open_server,
        BenchServer(database, folder / f"{backend}-auth.log", auth="required") as secured,
    ):
        path = urlsplit(open_server.base).path
        warm = _jobs(path, attached, AccessBenchConfig(requests=20), seed=1)
        for jobs in warm.values():
            _measure(open_server, jobs, 1, {})
            _measure(secured, jobs, 1, {"Authorization": f"Bearer {token}"})
        for round_number in range(config.rounds):
            for name, jobs in _jobs(path, attached, config, seed=100 + round_number).items():
                figures = samples.setdefault(name, {"none": [], "auth": []})
                figures["none"].append(_measure(open_server, jobs, config.clients, {}))
                figures["auth"].append(
                    _measure(secured, jobs, config.clients, {"Authorization": f"Bearer {token}"})
                )
    examples = {name: jobs[0].path for name, jobs in _jobs(path, attached, config, seed=0).items()}
    for name, figures in samples.items():
        result.figures.append(
            AccessFigure(name, examples[name], _median(figures["none"]), _median(figures["auth"]))
        )
    return result


def format_results(results: list[AccessBenchResult], config: AccessBenchConfig) -> str:
    lines = [
        f"setup: {config.patients} patients, {config.requests} requests per interaction and round, "
        f"{config.rounds} rounds (medians), {config.clients} client processes, 1 worker per server",
        "",
        "| backend | interaction | none req/s | auth req/s | none CPU us/req | auth CPU us/req "
        "| CPU ratio | p50 none ms | p50 auth ms | p50 ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        for f in result.figures:
            lines.append(
                f"| {result.backend} | {f.name} | {f.none.per_second:,.0f} | {f.auth.per_second:,.0f} "
                f"| {f.none.server_cpu_us:,.0f} | {f.auth.server_cpu_us:,.0f} | {f.cpu_ratio} "
                f"| {f.none.p50_ms} | {f.auth.p50_ms} | {f.p50_ratio} |"
            )
    lines.append("")
    for result in results:
        lines.append(
            f"{result.backend}: {result.resources:,} resources; "
            f"the doctor may see {result.attached:,} patients"
        )
    return "\n".join(lines)


def bench_access(
    database: BenchDatabaseOption = None,
    patients: Annotated[int | None, typer.Option(help="Population size (about 17 resources each).")] = None,
    requests: Annotated[int | None, typer.Option(help="Requests per interaction and round.")] = None,
    rounds: Annotated[int | None, typer.Option(help="Alternating rounds (the medians are reported).")] = None,
    quick: QuickOption = False,
    json_file: JsonOption = None,
    postgres_admin: PostgresAdminOption = DEFAULT_POSTGRES_ADMIN,
) -> None:
    """The cost of authorization and audit on reads and searches, as a ratio to --auth none."""
    config = AccessBenchConfig.quick() if quick else AccessBenchConfig()
    config = AccessBenchConfig(
        patients=patients or config.patients,
        requests=requests or config.requests,
        rounds=rounds or config.rounds,
        clients=config.clients,
    )
    with tempfile.TemporaryDirectory(prefix="ehp-bench-") as folder:
        results = []
        with backend_databases(database, Path(folder), postgres_admin) as backends:
            for backend, url in backends:
                typer.echo(f"loading and measuring {backend}...")
                results.append(bench_backend(backend, url, config, Path(folder)))
    typer.echo(format_results(results, config))
    if json_file is not None:
        payload = {"config": asdict(config), "results": [result.as_dict() for result in results]}
        json_file.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
