"""The ``ehp`` command: ``serve``, ``demo``, ``bench`` and friends."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from ehp.bench.access_bench import bench_access
from ehp.bench.export_bench import bench_export
from ehp.bench.options import (
    DEFAULT_POSTGRES_ADMIN,
    BenchDatabaseOption,
    ClientsOption,
    JsonOption,
    PostgresAdminOption,
    QuickOption,
    WorkersOption,
)
from ehp.bench.passport_bench import bench_passport
from ehp.bench.roundtrip import bench_roundtrip
from ehp.bench.search_bench import bench_search
from ehp.bench.store_bench import (
    StoreBenchConfig,
    backend_databases,
    bench_backend,
    format_results,
    summary_json,
)
from ehp.bench.suite import SuiteConfig, run_suite
from ehp.bench.sync_bench import bench_sync
from ehp.bench.validation_bench import bench_validation
from ehp.bulk.cli import export_command
from ehp.bulk.importer import IMPORT_DIR_VARIABLE
from ehp.commands.registry import register as register_registry_commands
from ehp.demo import demo_hints, demo_logins, prepare_demo
from ehp.security.authenticator import PUBLIC_BASE_URLS_VARIABLE
from ehp.security.cli import audit_app, client_app, keys_app, launch, role_app, user_app
from ehp.security.cli import token as security_token
from ehp.security.issuers import TRUSTED_ISSUERS_VARIABLE, load_trusted_issuers
from ehp.server.app import create_app
from ehp.server.connections import GuardedProtocol
from ehp.store.database import DatabaseUrlError, migrate, open_engine
from ehp.sync.cli import start_sync, sync_app
from ehp.synth.commands import load as load_command
from ehp.synth.commands import synth as synth_command

app = typer.Typer(help="EHP: the electronic health passport platform (HL7 FHIR R4).", no_args_is_help=True)


class Role(StrEnum):
    node = "node"
    central = "central"


class Auth(StrEnum):
    none = "none"
    required = "required"


DatabaseOption = Annotated[
    str, typer.Option("--database", help="sqlite:///path/file.db or postgresql://user@host:port/db")
]


@app.command()
def serve(
    database: DatabaseOption,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    role: Annotated[
        Role, typer.Option(help="node: a polyclinic's or region's store; central: the national platform.")
    ] = Role.node,
    auth: Annotated[
        Auth, typer.Option(help="'none' turns authentication off: for development and tests only.")
    ] = Auth.required,
    workers: Annotated[int, typer.Option(help="Server processes (each with its own connection pool).")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    central: Annotated[
        str | None, typer.Option(help="Node: the centre's URL; every change is shipped there.")
    ] = None,
    node_id: Annotated[str | None, typer.Option(help="Node: this node's id at the centre.")] = None,
    organization: Annotated[
        list[str] | None,
        typer.Option(help="Node: an organisation it serves, Organization/ID (repeatable)."),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="Node: its Backend Services client id at the centre.")
    ] = None,
    client_key: Annotated[
        Path | None, typer.Option(help="Node: the PEM private key signing its client assertions.")
    ] = None,
    trusted_issuers: Annotated[
        Path | None,
        typer.Option(
            help="A JSON list of external identity providers whose tokens are accepted (issuer, "
            "jwks_uri, audience, algorithms, subject: fhirUser | iin:<claim> | sub)."
        ),
    ] = None,
    public_base_url: Annotated[
        list[str] | None,
        typer.Option(help="A FHIR base URL apps know this server by (repeatable; default: the URL served)."),
    ] = None,
    import_dir: Annotated[
        Path | None,
        typer.Option(help="$import reads file:// inputs from this folder (and nowhere else)."),
    ] = None,
) -> None:
    """Serve the FHIR API at http://HOST:PORT/fhir, creating or migrating the schema first."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if trusted_issuers is not None:
        try:
            load_trusted_issuers(trusted_issuers)
        except ValueError as failure:
            raise typer.BadParameter(str(failure), param_hint="--trusted-issuers") from None
        os.environ[TRUSTED_ISSUERS_VARIABLE] = str(trusted_issuers.resolve())
    if public_base_url:
        os.environ[PUBLIC_BASE_URLS_VARIABLE] = " ".join(public_base_url)
    if import_dir is not None:
        if not import_dir.is_dir():
            raise typer.BadParameter(f"{import_dir} is not a folder", param_hint="--import-dir")
        os.environ[IMPORT_DIR_VARIABLE] = str(import_dir.resolve())
    try:
        engine = open_engine(database)
    except DatabaseUrlError as failure:
        raise typer.BadParameter(str(failure), param_hint="--database") from None
    migrate(engine)
    engine.dispose()
    start_sync(database, role.value, central, node_id, organization or [], client_id, client_key)
    typer.echo(f"EHP {role.value} serving FHIR R4 at http://{host}:{port}/fhir")
    if workers > 1:
        os.environ.update({"EHP_DATABASE": database, "EHP_ROLE": role.value, "EHP_AUTH": auth.value})
        uvicorn.run(
            "ehp.server.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=access_log,
            log_level="info",
            http=GuardedProtocol,
        )
        return
    application = create_app(database, role=role.value, auth=auth.value, migrate_schema=False)
    uvicorn.run(
        application, host=host, port=port, access_log=access_log, log_level="info", http=GuardedProtocol
    )


@app.command()
def migrate_db(database: DatabaseOption) -> None:
    """Create or migrate the schema of a database without serving it."""
    engine = open_engine(database)
    migrate(engine)
    engine.dispose()
    typer.echo("schema is up to date")


@app.command()
def demo(
    folder: Annotated[Path, typer.Option(help="Where the demo's SQLite store lives.")] = Path("demo-data"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Start a demo server on an embedded SQLite store, generating a synthetic region the first time."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    database = prepare_demo(folder)
    application = create_app(database, role="node", auth="none")
    logins = demo_logins(folder, database)
    typer.echo("\n" + "\n".join(demo_hints(folder, f"http://{host}:{port}/fhir", logins)) + "\n")
    uvicorn.run(application, host=host, port=port, access_log=False, log_level="warning")


app.command()(synth_command)
app.command()(load_command)


bench_app = typer.Typer(help="Reproducible benchmarks (figures go to docs/benchmarks.md).")
app.add_typer(bench_app, name="bench")


@bench_app.callback(invoke_without_command=True)
def bench_suite(
    context: typer.Context,
    quick: QuickOption = False,
    people: Annotated[int | None, typer.Option(help="Synthetic population size (default 10,000).")] = None,
    database: BenchDatabaseOption = None,
    json_file: JsonOption = None,
    postgres_admin: PostgresAdminOption = DEFAULT_POSTGRES_ADMIN,
    clients: ClientsOption = None,
    workers: WorkersOption = None,
) -> None:
    """The suite on a synthetic country: ingest, read by id and searches, each with a raw-SQL floor.

    Without a subcommand it runs the suite (``--quick``: 100 people); the subcommands measure one
    area in more depth.
    """
    if context.invoked_subcommand is not None:
        return
    config = SuiteConfig.quick() if quick else SuiteConfig()
    config = replace(
        config,
        people=people or config.people,
        clients=clients or config.clients,
        workers=workers or config.workers,
    )
    run = run_suite(config, database, postgres_admin, progress=typer.echo)
    typer.echo(run.table())
    if json_file is not None:
        json_file.write_bytes(run.as_json())


bench_app.command("search")(bench_search)
bench_app.command("sync")(bench_sync)
bench_app.command("passport")(bench_passport)
bench_app.command("access")(bench_access)
bench_app.command("validation")(bench_validation)
bench_app.command("export")(bench_export)
bench_app.command("roundtrip")(bench_roundtrip)


@bench_app.command("store")
def bench_store(
    database: BenchDatabaseOption = None,
    quick: QuickOption = False,
    json_file: JsonOption = None,
    postgres_admin: PostgresAdminOption = DEFAULT_POSTGRES_ADMIN,
    clients: ClientsOption = None,
    workers: WorkersOption = None,
) -> None:
    """Ingest (transaction bundles), create and read-by-id throughput, with ratios to a raw-SQL floor."""
    config = StoreBenchConfig.quick() if quick else StoreBenchConfig()
    config = replace(config, clients=clients or config.clients, workers=workers or config.workers)
    with tempfile.TemporaryDirectory(prefix="ehp-bench-") as folder:
        results = []
        with backend_databases(database, Path(folder), postgres_admin) as backends:
            for backend, url in backends:
                typer.echo(f"measuring {backend}...")
                results.append(bench_backend(backend, url, config, Path(folder) / f"{backend}.log"))
    typer.echo(format_results(results, config))
    if json_file is not None:
        json_file.write_bytes(summary_json(results, config))


app.command("token")(security_token)
app.command("export")(export_command)
app.command("launch")(launch)
app.add_typer(audit_app, name="audit")
app.add_typer(client_app, name="client")
app.add_typer(user_app, name="user")
app.add_typer(role_app, name="role")
app.add_typer(keys_app, name="keys")
register_registry_commands(app)
app.add_typer(sync_app, name="sync")


if __name__ == "__main__":
    app()
