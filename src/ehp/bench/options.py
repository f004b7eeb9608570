"""The command-line options every ``ehp bench`` command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ehp.bench.servers import DEFAULT_POSTGRES_ADMIN

BenchDatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Measure this empty database (default: a temporary SQLite file and a throwaway PostgreSQL one).",
    ),
]
QuickOption = Annotated[bool, typer.Option(help="A small smoke run.")]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON here.")]
PostgresAdminOption = Annotated[
    str, typer.Option(help="Admin URL used to create the throwaway PostgreSQL database.")
]
ClientsOption = Annotated[int | None, typer.Option(help="Concurrent client processes.")]
WorkersOption = Annotated[int | None, typer.Option(help="Server worker processes.")]

__all__ = [
    "DEFAULT_POSTGRES_ADMIN",
    "BenchDatabaseOption",
    "ClientsOption",
    "JsonOption",
    "PostgresAdminOption",
    "QuickOption",
    "WorkersOption",
]
