"""``ehp token`` (an access token for a server on a database) and ``ehp audit verify``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ehp.security.app_launch import register_app
from ehp.security.audit import Anchor, verify
from ehp.security.authenticator import IssuerSettings
from ehp.security.backend_services import register_client
from ehp.security.keys import signing_key
from ehp.security.tokens import issue_token
from ehp.security.users import add_user
from ehp.store.database import migrate, open_engine

DEFAULT_SCOPES = {
    "admin": "system/*.cruds",
    "Organization": "system/*.cruds",
    "Patient": "patient/*.rs",
}


def token(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    subject: Annotated[
        str, typer.Option(help="Practitioner/ID, PractitionerRole/ID, Patient/ID, Organization/ID or admin.")
    ],
    scope: Annotated[
        str | None, typer.Option(help="SMART scopes, space-separated (default by subject kind).")
    ] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 3600,
) -> None:
    """Print a valid access token for a server on DATABASE (signed by its embedded issuer)."""
    engine = open_engine(database, pool_size=1)
    try:
        migrate(engine)
        key = signing_key(engine)
    finally:
        engine.dispose()
    settings = IssuerSettings.from_environment()
    kind = subject.split("/")[0]
    try:
        printed = issue_token(
            key.private_key,
            key.kid,
            issuer=settings.issuer,
            audience=settings.audience,
            subject=subject,
            scope=scope or DEFAULT_SCOPES.get(kind, "user/*.cruds"),
            ttl_seconds=ttl,
        )
    except ValueError as failure:
        raise typer.BadParameter(str(failure)) from None
    typer.echo(printed)


audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    expect_head: Annotated[
        str | None,
        typer.Option(
            help="A head recorded earlier (HASH or 'SEQ HASH'): it must still be in the intact chain, "
            "which may have grown since."
        ),
    ] = None,
    anchors: Annotated[
        Path | None,
        typer.Option(help="An anchor file the server appended to (EHP_AUDIT_ANCHOR): every line must hold."),
    ] = None,
) -> None:
    """Recompute the audit chain; exit 1 naming the first bad record, else print the head."""
    try:
        expected = [Anchor.parse(expect_head)] if expect_head is not None else []
        if anchors is not None:
            expected += [Anchor.parse(line) for line in anchors.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as failure:
        raise typer.BadParameter(str(failure)) from None
    engine = open_engine(database, pool_size=1)
    try:
        result = verify(engine, expected)
    finally:
        engine.dispose()
    if result.first_bad is not None:
        typer.echo(f"audit chain BROKEN at record {result.first_bad}: {result.problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {result.records} records, head {result.head}")


client_app = typer.Typer(help="SMART Backend Services clients (clinic systems, nodes).", no_args_is_help=True)


@client_app.command("register")
def client_register(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    client_id: Annotated[str, typer.Option(help="The client's id (the iss/sub of its assertions).")],
    subject: Annotated[str, typer.Option(help="Who the client acts as, e.g. Organization/ID.")],
    jwks: Annotated[Path, typer.Option(help="A JSON file with the client's public keys (a JWKS).")],
    scope: Annotated[str, typer.Option(help="The most the client may be granted, e.g. 'system/*.cruds'.")],
) -> None:
    """Register a client that authenticates with private_key_jwt at /auth/token."""
    engine = open_engine(database, pool_size=1)
    try:
        migrate(engine)
        register_client(engine, client_id, subject, json.loads(jwks.read_text()), scope)
    except ValueError as failure:
        raise typer.BadParameter(str(failure)) from None
    finally:
        engine.dispose()
    typer.echo(f"client '{client_id}' registered as {subject} with at most '{scope}'")


@client_app.command("register-app")
def client_register_app(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    client_id: Annotated[str, typer.Option(help="The app's client id.")],
    redirect_uri: Annotated[list[str], typer.Option(help="Where the app receives its code (repeatable).")],
    scope: Annotated[
        str, typer.Option(help="The most the app may be granted, e.g. 'patient/*.rs launch/patient'.")
    ],
) -> None:
    """Register a SMART app (a public client using the authorization code flow with PKCE)."""
    engine = open_engine(database, pool_size=1)
    try:
        migrate(engine)
        register_app(engine, client_id, redirect_uri, scope)
    except ValueError as failure:
        raise typer.BadParameter(str(failure)) from None
    finally:
        engine.dispose()
    typer.echo(f"app '{client_id}' registered with at most '{scope}'")


user_app = typer.Typer(help="People who log in to SMART apps (App Launch).", no_args_is_help=True)


@user_app.command("add")
def user_add(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    username: Annotated[str, typer.Option(help="The name to log in with.")],
    subject: Annotated[str, typer.Option(help="Practitioner/ID, PractitionerRole/ID, Patient/ID or admin.")],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters."),
    ],
) -> None:
    """Create (or replace) a user of the login page."""
    engine = open_engine(database, pool_size=1)
    try:
        migrate(engine)
        add_user(engine, username, subject, password)
    except ValueError as failure:
        raise typer.BadParameter(str(failure)) from None
    finally:
        engine.dispose()
    typer.echo(f"user '{username}' logs in as {subject}")
