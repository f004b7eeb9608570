"""The ``ehp synth`` and ``ehp load`` commands (registered in :mod:`ehp.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import orjson
import typer

from ehp.bulk.folder import ERRORS_FILE, load_folder_database, load_folder_http
from ehp.registry.geography import REGION_CODES
from ehp.synth.generator import FORMATS, MANIFEST, SynthConfig, synthesize
from ehp.synth.loader import LoadError, load_database, load_http


def synth(
    people: Annotated[int, typer.Option(help="How many people (citizens, living and dead) to generate.")],
    out: Annotated[
        Path, typer.Option(help="Folder to write to (created; an earlier generated set is replaced).")
    ],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same bytes.")] = 1,
    output_format: Annotated[
        str, typer.Option("--format", help="ndjson: a file per resource type; bundles: transaction Bundles.")
    ] = "ndjson",
    region: Annotated[
        list[str] | None,
        typer.Option(help=f"Generate only this region (repeatable): {', '.join(REGION_CODES)}."),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Generate a synthetic country: its health care network and its people's lifelong records."""
    if output_format not in FORMATS:
        raise typer.BadParameter(f"use {' or '.join(FORMATS)}", param_hint="--format")
    try:
        config = SynthConfig(people=people, seed=seed, regions=tuple(region) if region else None)
        summary = synthesize(config, out, output_format, show_progress=not quiet)
    except ValueError as failure:
        raise typer.BadParameter(str(failure)) from None
    typer.echo(
        f"{summary.people} people, {summary.resources} resources in {summary.seconds:.1f}s "
        f"({summary.people / summary.seconds:.0f} people/s, "
        f"{summary.resources / summary.seconds:.0f} resources/s) into {out}"
    )


def load(
    folder: Annotated[
        Path,
        typer.Argument(help="A folder written by `ehp synth`, or of FHIR NDJSON / Bundle JSON files."),
    ],
    url: Annotated[
        str | None, typer.Option(help="FHIR base of a running server, e.g. http://127.0.0.1:8080/fhir")
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(help="Load straight into this database instead (sqlite:///... or postgresql://...)."),
    ] = None,
    clients: Annotated[int, typer.Option(help="Parallel HTTP clients (with --url).")] = 4,
    token: Annotated[
        str | None, typer.Option(envvar="EHP_TOKEN", help="Bearer token for the server (with --url).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Load a generated set, or any folder of FHIR NDJSON (Type.ndjson, Type.000.ndjson) or Bundle
    JSON files; resumably: an interrupted load continues where it stopped."""
    if (url is None) == (database is None):
        raise typer.BadParameter("give either --url or --database")
    if not is_generated_set(folder):
        _load_any_folder(folder, url, database, clients, token, quiet)
        return
    try:
        if url is not None:
            summary = load_http(folder, url, clients=clients, token=token, show_progress=not quiet)
        else:
            assert database is not None
            summary = load_database(folder, database, show_progress=not quiet)
    except (ValueError, LoadError) as failure:
        typer.echo(f"error: {failure}", err=True)
        raise typer.Exit(1) from None
    rate = summary.resources / summary.seconds if summary.seconds else 0.0
    typer.echo(
        f"loaded {summary.resources} resources in {summary.batches} batches in {summary.seconds:.1f}s "
        f"({rate:.0f} resources/s); {summary.skipped} batches were already done"
    )
    if summary.batches == 0 and summary.skipped:
        typer.echo(
            f"(to load the set again into a new database at this address, delete {folder}/.load-progress-*)"
        )


def is_generated_set(folder: Path) -> bool:
    """Whether ``ehp synth`` wrote the folder (its manifest lists the files), not another system."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        return "files" in orjson.loads(manifest.read_bytes())
    except orjson.JSONDecodeError:
        return False


def _load_any_folder(
    folder: Path, url: str | None, database: str | None, clients: int, token: str | None, quiet: bool
) -> None:
    try:
        if url is not None:
            summary = load_folder_http(folder, url, clients=clients, token=token, show_progress=not quiet)
        else:
            assert database is not None
            summary = load_folder_database(folder, database, show_progress=not quiet)
    except (ValueError, OSError, httpx.HTTPError) as failure:
        typer.echo(f"error: {failure}", err=True)
        raise typer.Exit(1) from None
    rate = summary.written / summary.seconds if summary.seconds else 0.0
    typer.echo(
        f"loaded {summary.written} resources and {summary.bundles} Bundle files in {summary.seconds:.1f}s "
        f"({rate:.0f} resources/s); {summary.refused} refused"
    )
    for line in summary.errors[:10]:
        typer.echo(f"  refused: {line}", err=True)
    if summary.refused and database is not None:
        typer.echo(f"  every refusal, as OperationOutcomes: {folder / ERRORS_FILE}", err=True)
