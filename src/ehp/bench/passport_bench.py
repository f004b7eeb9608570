"""``ehp bench passport``: ``$everything``, ``$summary`` and the passport page for patients with long records.

Set-up: the synthetic network of Astana and its first ``--people`` people (``ehp synth``'s
generator), plus a person with hypertension and diabetes whose record is grown to ``--records``
resources and a healthy adult grown to ``--page-records`` (:func:`~ehp.bench.passport_people.grow_record`:
more of their own visits with their measurements), written straight through the store, then
``ANALYZE``. A real server (``ehp serve``, one worker) answers one client at a time, so the
figures are latencies, not throughput:

* ``$summary`` of the first patient, ``--requests`` times;
* the whole ``$everything`` page set of the first patient (every page, following ``next``), at
  ``_count=1000`` and at the default page size, a quarter of ``--requests`` times each;
* the passport page of the second patient in Debian's Chromium: the time from navigation to
  the end of the page's script (timeline and charts drawn; ``performance.now()``), and the
  server's time for the HTML alone. Without ``/usr/bin/chromium`` only the server's time is given.
"""

from __future__ import annotations

import http.client
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
import typer

from ehp.bench.options import JsonOption, PostgresAdminOption, QuickOption
from ehp.bench.passport_people import grow_record, pick_people
from ehp.bench.servers import DEFAULT_POSTGRES_ADMIN, BenchServer, throwaway_postgres
from ehp.context import RequestContext
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.store.database import migrate, open_engine
from ehp.synth.generator import SynthConfig, generate

BENCH_CONTEXT = RequestContext(actor="Device/ehp-bench", purpose="HOPERAT")
CHROMIUM = Path("/usr/bin/chromium")
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PassportBenchConfig:
    records: int = 1000
    page_records: int = 5000
    people: int = 300
    requests: int = 200
    page_loads: int = 10

    @classmethod
    def quick(cls) -> PassportBenchConfig:
        return cls(records=200, page_records=400, people=0, requests=10, page_loads=2)


@dataclass(slots=True)
class Figure:
    name: str
    requests: int
    p50_ms: float
    p99_ms: float
    entries: int = 0
    """Entries per answer (per page set for $everything)."""
    server_cpu_ms: float = 0.0
    """CPU time of the server process per request (PostgreSQL's own CPU not included)."""


@dataclass(slots=True)
class PassportBenchResult:
    backend: str
    resources: int
    load_seconds: float
    record: int
    """Resources in the first patient's compartment (the $everything and $summary patient)."""
    page_record: int
    figures: list[Figure] = field(default_factory=list)
    note: str = ""


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 2) if ordered else 0.0


def _figure(name: str, samples: list[float], entries: int, cpu: float = 0.0) -> Figure:
    p50, p99 = _percentile(samples, 0.5), _percentile(samples, 0.99)
    return Figure(name, len(samples), p50, p99, entries, round(cpu / max(len(samples), 1) * 1000, 1))


def population(config: PassportBenchConfig) -> tuple[list[Json], str, str, int, int]:
    """Every resource to load, the two patients' ids and their record sizes."""
    people = pick_people(("chronic", "healthy-adult"))
    resources: dict[str, Json] = {}
    for count, group in generate(SynthConfig(people=max(config.people, 1), seed=1, regions=("astana",))):
        if count == 0 or config.people > 0:
            resources.update({f"{r['resourceType']}/{r['id']}": r for r in group})
    for resource in people.resources():
        resources[f"{resource['resourceType']}/{resource['id']}"] = resource
    every = list(resources.values())
    sizes = []
    for kind, size in (("chronic", config.records), ("healthy-adult", config.page_records)):
        patient_id = people.patients[kind]["id"]
        added = grow_record(every, patient_id, size)
        every.extend(added)
        sizes.append(size)
    return every, people.patients["chronic"]["id"], people.patients["healthy-adult"]["id"], sizes[0], sizes[1]


def load(database: str, resources: list[Json]) -> float:
    engine = open_engine(database)
    try:
        migrate(engine)
        store = open_store(engine)
        register_search_parameters(store)
        started = time.perf_counter()
        for start in range(0, len(resources), 1000):
            with store.transaction(BENCH_CONTEXT) as tx:
                for resource in resources[start : start + 1000]:
                    tx.write(resource["resourceType"], resource["id"], resource, "PUT", fresh_id=True)
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
        return time.perf_counter() - started
    finally:
        engine.dispose()


class Client:
    """One keep-alive ``http.client`` connection (httpx costs more CPU than the server's own work)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=300)

    def get(self, path: str) -> bytes:
        self.connection.request("GET", path, headers={"Accept": "application/fhir+json"})
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
        return body

    def close(self) -> None:
        self.connection.close()


def _page_set(client: Client, path: str) -> int:
    """Fetch every page of an $everything; returns the number of entries."""
    entries = 0
    next_path: str | None = path
    while next_path is not None:
        bundle = orjson.loads(client.get(next_path))
        entries += len(bundle.get("entry", []))
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        next_path = None if url is None else urlsplit(url).path + "?" + urlsplit(url).query
    return entries


def _timed(server: BenchServer, action: Any, times: int) -> tuple[list[float], Any, float]:
    """Latencies of ``times`` runs after a warm-up, the last result, and the server's CPU seconds."""
    samples = []
    result = None
    action()
    cpu = server.cpu_seconds()
    for _ in range(times):
        started = time.perf_counter()
        result = action()
        samples.append(time.perf_counter() - started)
    return samples, result, server.cpu_seconds() - cpu


def _browser_renders(url: str, loads: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    samples = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            for number in range(loads + 1):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url)
                page.wait_for_selector("body[data-ready=true]")
                if number > 0:  # the first load warms the server and the browser up
                    samples.append(page.evaluate("performance.now()") / 1000)
                page.close()
        finally:
            browser.close()
    return samples


def bench_backend(backend: str, database: str, config: PassportBenchConfig, log: Path) -> PassportBenchResult:
    resources, first, second, _, _ = population(config)
    seconds = load(database, resources)
    with BenchServer(database, log) as server:
        client = Client(server.base)
        try:
            fhir = urlsplit(server.base).path
            compartment = orjson.loads(client.get(f"{fhir}/Patient/{first}/*?_summary=count"))["total"]
            page_compartment = orjson.loads(client.get(f"{fhir}/Patient/{second}/*?_summary=count"))["total"]
            result = PassportBenchResult(
                backend, len(resources), round(seconds, 1), compartment, page_compartment
            )
            samples, body, cpu = _timed(
                server, lambda: client.get(f"{fhir}/Patient/{first}/$summary"), config.requests
            )
            result.figures.append(_figure("$summary", samples, len(orjson.loads(body)["entry"]), cpu))
            for count in ("1000", ""):
                query = f"?_count={count}" if count else ""
                samples, entries, cpu = _timed(
                    server,
                    lambda q=query: _page_set(client, f"{fhir}/Patient/{first}/$everything{q}"),
                    max(config.requests // 4, 2),
                )
                name = f"$everything page set (_count={count or 'default 50'})"
                result.figures.append(_figure(name, samples, entries, cpu))
            site = server.base.removesuffix("/fhir")
            page_path = urlsplit(f"{site}/passport/{second}").path
            samples, html, cpu = _timed(server, lambda: client.get(page_path), config.page_loads)
            result.figures.append(_figure("passport page HTML (server)", samples, len(html), cpu))
        finally:
            client.close()
        if CHROMIUM.exists():
            renders = _browser_renders(f"{site}/passport/{second}", config.page_loads)
            result.figures.append(
                _figure("passport page, navigation to timeline and charts drawn (Chromium)", renders, 0)
            )
        else:
            result.note = f"no browser figure: {CHROMIUM} is not installed"
    return result


def format_results(results: list[PassportBenchResult], config: PassportBenchConfig) -> str:
    lines = [
        f"setup: Astana network + {config.people} people; $everything/$summary patient grown to "
        f"{config.records} resources, page patient to {config.page_records}; one client, one server worker",
        "",
        "| backend | figure | requests | p50 ms | p99 ms | server CPU ms each | entries (bytes for HTML) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        for f in result.figures:
            lines.append(
                f"| {result.backend} | {f.name} | {f.requests} | {f.p50_ms} | {f.p99_ms} | {f.server_cpu_ms} "
                f"| {f.entries:,} |"
            )
    lines.append("")
    for result in results:
        lines.append(
            f"{result.backend}: {result.resources:,} resources loaded in {result.load_seconds}s; "
            "compartments "
            f"of {result.record:,} and {result.page_record:,} resources. {result.note}".rstrip()
        )
    return "\n".join(lines)


def bench_passport(
    database: Annotated[
        str | None,
        typer.Option("--database", help="Measure this empty database (default: a throwaway PostgreSQL one)."),
    ] = None,
    records: Annotated[
        int | None, typer.Option(help="Resources of the $everything/$summary patient.")
    ] = None,
    page_records: Annotated[
        int | None, typer.Option(help="Resources of the passport page's patient.")
    ] = None,
    people: Annotated[int | None, typer.Option(help="Other people of Astana loaded around them.")] = None,
    requests: Annotated[int | None, typer.Option(help="Requests per API figure.")] = None,
    quick: QuickOption = False,
    json_file: JsonOption = None,
    postgres_admin: PostgresAdminOption = DEFAULT_POSTGRES_ADMIN,
) -> None:
    """$everything and $summary latency (p50/p99) for a long record, and the passport page's render time."""
    base = PassportBenchConfig.quick() if quick else PassportBenchConfig()
    config = PassportBenchConfig(
        records=records or base.records,
        page_records=page_records or base.page_records,
        people=base.people if people is None else people,
        requests=requests or base.requests,
        page_loads=base.page_loads,
    )
    with tempfile.TemporaryDirectory(prefix="ehp-bench-") as folder:
        log = Path(folder) / "server.log"
        if database is not None:
            backend = "postgresql" if database.startswith("postgres") else "sqlite"
            results = [bench_backend(backend, database, config, log)]
        else:
            with throwaway_postgres(postgres_admin) as url:
                results = [bench_backend("postgresql", url, config, log)]
    typer.echo(format_results(results, config))
    if json_file is not None:
        json_file.write_bytes(
            orjson.dumps(
                {"config": asdict(config), "results": [asdict(r) for r in results]},
                option=orjson.OPT_INDENT_2,
            )
        )
