"""``ehp bench roundtrip``: a synthetic country out of one server by ``$export`` and into an empty
one by ``$import``, then both compared resource by resource.

1. ``ehp synth --people N`` (NDJSON), loaded straight into the source database (``ehp load
   --database``).
2. The source server exports everything (``ehp export``: kick-off, status, download of every file).
3. An empty database's server imports those files with ``$import`` (``--import-dir``).
4. Both servers export again and the two sets of files are compared type by type, line by line
   (both list each type in ``rid`` order, which the import keeps): equal per-type counts, and every
   resource equal apart from ``meta``. Memory stays flat (one line of each at a time).

The times of each step are printed, with resources per second.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from ehp.bench.export_bench import run_import
from ehp.bench.options import PostgresAdminOption
from ehp.bench.servers import DEFAULT_POSTGRES_ADMIN, BenchServer, throwaway_postgres
from ehp.bulk.cli import export_command
from ehp.synth.generator import SynthConfig, synthesize
from ehp.synth.loader import load_database


def _export(base: str, folder: Path) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    export_command(url=base, out=folder, quiet=True)
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return time.perf_counter() - started, manifest


def _import(server: BenchServer, folder: Path, manifest: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    numbers: dict[str, int] = {}
    files = []
    for output in manifest["output"]:
        number = numbers.get(output["type"], 0)
        numbers[output["type"]] = number + 1
        files.append((output["type"], folder / f"{output['type']}.{number:03d}.ndjson"))
    return run_import(server, files, poll=1.0)


def _lines(folder: Path, resource_type: str) -> Iterator[bytes]:
    for path in sorted(folder.glob(f"{resource_type}.*.ndjson")):
        with path.open("rb") as handle:
            yield from handle


def compare(first: Path, second: Path) -> tuple[dict[str, int], list[str]]:
    """Per-type counts of ``first``, and the differences found (at most 20 named)."""
    types = sorted(
        {path.name.split(".")[0] for path in first.glob("*.ndjson")}
        | {p.name.split(".")[0] for p in second.glob("*.ndjson")}
    )
    counts: dict[str, int] = {}
    differences: list[str] = []
    for resource_type in types:
        left, right = _lines(first, resource_type), _lines(second, resource_type)
        count = 0
        while True:
            a, b = next(left, None), next(right, None)
            if a is None and b is None:
                break
            if a is None or b is None:
                differences.append(f"{resource_type}: the counts differ after {count}")
                break
            count += 1
            one, other = orjson.loads(a), orjson.loads(b)
            one.pop("meta", None)
            other.pop("meta", None)
            if one != other and len(differences) < 20:
                differences.append(
                    f"{resource_type}/{one.get('id')} differs from {resource_type}/{other.get('id')}"
                )
        counts[resource_type] = count
    return counts, differences


def bench_roundtrip(
    people: Annotated[int, typer.Option("--people", help="People in the synthetic country")] = 100_000,
    backend: Annotated[str, typer.Option("--backend", help="postgresql or sqlite")] = "postgresql",
    postgres_admin: PostgresAdminOption = DEFAULT_POSTGRES_ADMIN,
    keep: Annotated[Path | None, typer.Option("--keep", help="Work in this folder and keep it")] = None,
) -> None:
    """$export a synthetic country from one server, $import it into an empty one, compare them."""
    with tempfile.TemporaryDirectory(prefix="ehp-roundtrip-") as scratch:
        folder = keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        summary = synthesize(SynthConfig(people=people), folder / "synth", "ndjson", show_progress=False)
        typer.echo(f"synth: {summary.resources} resources in {time.perf_counter() - started:.0f} s")
        with (
            _database(backend, folder, "source", postgres_admin) as source_url,
            _database(backend, folder, "target", postgres_admin) as target_url,
        ):
            started = time.perf_counter()
            loaded = load_database(folder / "synth", source_url, show_progress=False)
            typer.echo(f"load: {loaded.resources} resources in {time.perf_counter() - started:.0f} s")
            with BenchServer(source_url, folder / "source.log") as source:
                seconds, manifest = _export(source.base, folder / "exported")
            total = sum(int(o["count"]) for o in manifest["output"])
            typer.echo(f"$export: {total} resources in {seconds:.0f} s ({total / seconds:.0f}/s)")
            arguments = ["--import-dir", str(folder / "exported")]
            with BenchServer(target_url, folder / "target.log", extra_args=arguments) as target:
                seconds, imported = _import(target, folder / "exported", manifest)
                written = sum(int(o["count"]) for o in imported["output"])
                refused = sum(int(e["count"]) for e in imported["error"])
                rate = written / seconds
                typer.echo(
                    f"$import: {written} resources in {seconds:.0f} s ({rate:.0f}/s), {refused} refused"
                )
                _export(target.base, folder / "again")
            counts, differences = compare(folder / "exported", folder / "again")
        compared = sum(counts.values())
        typer.echo(f"compared {compared} resources of {len(counts)} types: {len(differences)} differences")
        for line in differences:
            typer.echo(f"  {line}")
        if differences or refused:
            raise typer.Exit(1)


class _database:
    """A fresh database of the backend, dropped at the end (PostgreSQL) or a file in the folder."""

    def __init__(self, backend: str, folder: Path, name: str, admin: str) -> None:
        self.backend, self.folder, self.name, self.admin = backend, folder, name, admin
        self._context: Any = None

    def __enter__(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.folder / f'{self.name}.db'}"
        self._context = throwaway_postgres(self.admin)
        url: str = self._context.__enter__()
        return url

    def __exit__(self, *exc: object) -> None:
        if self._context is not None:
            self._context.__exit__(*exc)
