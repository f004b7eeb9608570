"""The ``ehp iin`` and ``ehp registry`` commands (registered in :mod:`ehp.cli` by :func:`register`)."""

from __future__ import annotations

import random
import tempfile
from contextlib import AbstractContextManager, nullcontext
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ehp.bench.mpi_quality import dataset, evaluate
from ehp.bench.servers import DEFAULT_POSTGRES_ADMIN, BenchServer, throwaway_postgres
from ehp.registry.iin import iin_birth_date_and_sex, make_iin
from ehp.registry.iin_rule import iin_problem
from ehp.registry.loading import LoadError, load
from ehp.registry.organizations import (
    ORGANIZATION_COLUMNS,
    PRACTITIONER_COLUMNS,
    CsvError,
    builtin_region_rows,
    code_systems,
    organization_resources,
    practitioner_resources,
    read_rows,
)
from ehp.registry.settings import iin_system
from ehp.store.database import DatabaseUrlError

iin_app = typer.Typer(
    help="The IIN (individual identification number): check, generate.", no_args_is_help=True
)
registry_app = typer.Typer(
    help="National registries: organisations and practitioners, the patient matcher's quality.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``ehp iin ...`` and ``ehp registry ...`` to the ``ehp`` command."""
    app.add_typer(iin_app, name="iin")
    app.add_typer(registry_app, name="registry")


class SexOption(StrEnum):
    male = "male"
    female = "female"


@iin_app.command("check")
def iin_check(iin: Annotated[str, typer.Argument(help="The 12 digits to check.")]) -> None:
    """Say whether IIN is valid and what it encodes (exit status 1 when it is not valid)."""
    problem = iin_problem(iin)
    if problem is not None:
        typer.echo(f"{iin}: not a valid IIN: {problem}", err=True)
        raise typer.Exit(1)
    born, sex = iin_birth_date_and_sex(iin)
    typer.echo(f"{iin}: valid; born {born.isoformat()}, {sex}, serial {iin[7:11]}")


@iin_app.command("generate")
def iin_generate(
    birth_date: Annotated[
        str | None, typer.Option(help="Birth date YYYY-MM-DD (1800-2099; default: random, 1930 to today).")
    ] = None,
    sex: Annotated[SexOption | None, typer.Option(help="male or female (default: random).")] = None,
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many distinct IINs.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Random seed, for repeatable output.")] = None,
) -> None:
    """Print valid IINs (synthetic: issued to nobody), one a line."""
    rng = random.Random(seed)
    fixed_date: date | None = None
    if birth_date is not None:
        try:
            fixed_date = date.fromisoformat(birth_date)
        except ValueError:
            raise typer.BadParameter(
                f"'{birth_date}' is not a date YYYY-MM-DD", param_hint="--birth-date"
            ) from None
        if not 1800 <= fixed_date.year <= 2099:
            raise typer.BadParameter("an IIN encodes births in 1800-2099", param_hint="--birth-date")
        most = 9000 if sex is not None else 18_000
        if count > most:
            raise typer.BadParameter(
                f"a birth date has about {most:,} IINs{' of a sex' if sex else ''}", param_hint="--count"
            )
    made: set[str] = set()
    span = (date.today() - date(1930, 1, 1)).days
    while len(made) < count:
        born = fixed_date or date(1930, 1, 1) + timedelta(days=rng.randrange(span + 1))
        chosen = sex.value if sex is not None else rng.choice(("male", "female"))
        iin = make_iin(born, "male" if chosen == "male" else "female", rng.randrange(10_000))
        if iin is not None and iin not in made:
            made.add(iin)
            typer.echo(iin)


@iin_app.command("system")
def iin_system_command() -> None:
    """Print the IIN's Identifier.system URI (the EHP_IIN_SYSTEM variable, else the default)."""
    typer.echo(iin_system())


@registry_app.command("load-orgs")
def load_orgs(
    csv_file: Annotated[
        Path | None, typer.Argument(help="Organisations CSV (see docs/architecture.md, Registries).")
    ] = None,
    practitioners: Annotated[
        Path | None, typer.Option(help="Practitioners CSV: a Practitioner and PractitionerRole per row.")
    ] = None,
    regions: Annotated[
        bool, typer.Option("--regions", help="Also load the country's built-in regions and districts.")
    ] = False,
    url: Annotated[str | None, typer.Option(help="FHIR base of a running server.")] = None,
    database: Annotated[
        str | None, typer.Option(help="Load straight into this database (sqlite:///... or postgresql://...).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Load organisations (and practitioners) from CSV, idempotently: ids derive from the CSV codes."""
    if (url is None) == (database is None):
        raise typer.BadParameter("give either --url or --database")
    if csv_file is None and practitioners is None and not regions:
        raise typer.BadParameter("give an organisations CSV, --practitioners CSV or --regions")
    try:
        resources = code_systems()
        rows = builtin_region_rows() if regions else []
        if csv_file is not None:
            rows += read_rows(csv_file, ORGANIZATION_COLUMNS, ("code", "kind", "name"))
        resources += list(organization_resources(rows))
        if practitioners is not None:
            required = ("iin", "family", "given", "organization", "specialty")
            people = read_rows(practitioners, PRACTITIONER_COLUMNS, required)
            resources += list(practitioner_resources(people, iin_system()))
        summary = load(resources, url=url, database=database, show_progress=not quiet)
    except (CsvError, LoadError, DatabaseUrlError) as failure:
        typer.echo(f"error: {failure}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"loaded {summary.resources} resources in {summary.batches} batches in {summary.seconds:.1f}s")


@registry_app.command("mpi-quality")
def mpi_quality(
    people: Annotated[
        int, typer.Option(min=50, help="Synthetic people (a share of them gets a duplicate).")
    ] = 5000,
    share: Annotated[float, typer.Option(min=0.01, max=0.5, help="Share of people with a duplicate.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed of the population and the duplicates.")] = 1,
    backend: Annotated[
        list[str] | None, typer.Option(help="sqlite and/or postgresql (default: both).")
    ] = None,
    postgres_admin: Annotated[
        str, typer.Option(help="Admin URL used to create the throwaway PostgreSQL database.")
    ] = DEFAULT_POSTGRES_ADMIN,
) -> None:
    """Precision and recall of Patient/$match on a synthetic population with injected duplicates."""
    data = dataset(people, seed=seed, share=share)
    defects = ", ".join(f"{name} {count}" for name, count in sorted(data.defects.items()))
    typer.echo(f"{len(data.patients)} records, {len(data.pairs)} duplicate pairs; defects: {defects}")
    for name in backend or ["sqlite", "postgresql"]:
        with tempfile.TemporaryDirectory(prefix="ehp-mpi-") as folder:
            if name == "sqlite":
                url_context: AbstractContextManager[str] = nullcontext(f"sqlite:///{folder}/mpi.db")
            elif name == "postgresql":
                url_context = throwaway_postgres(postgres_admin)
            else:
                raise typer.BadParameter("use sqlite or postgresql", param_hint="--backend")
            with url_context as url, BenchServer(url, Path(folder) / "server.log") as server:
                result = evaluate(server.base, data, server_cpu=server.cpu_seconds)
        typer.echo(
            f"{name}: precision {result.precision:.4f}, recall {result.recall:.4f} "
            f"({result.found_pairs} of {result.true_pairs} pairs found, {result.predicted_pairs} predicted); "
            f"$match {result.matches_per_second:.0f}/s (4 clients), median {result.match_ms_median:.1f} ms, "
            f"p95 {result.match_ms_p95:.1f} ms, server CPU {result.server_cpu_ms or 0:.1f} ms each; "
            f"load {result.load_seconds:.1f}s"
        )
