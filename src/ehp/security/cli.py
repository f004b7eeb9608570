"""``ehp token``, ``ehp audit verify``, ``ehp client``, ``ehp user`` and ``ehp role``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import typer
from sqlalchemy import Engine

from ehp.security.app_launch import app_client, new_launch, register_app
from ehp.security.audit import Anchor, verify
from ehp.security.authenticator import IssuerSettings
from ehp.security.backend_services import register_client, remove_client
from ehp.security.key_encryption import KeyEncryptionError, fingerprint, load_kek
from ehp.security.keys import rekey, signing_key
from ehp.security.revocation import revoke_subject
from ehp.security.roles import ROLES, Role, give_roles, roles_of, set_roles, take_roles
from ehp.security.tokens import MAX_TOKEN_SECONDS, check_subject, issue_token
from ehp.security.users import add_user, remove_user
from ehp.store.database import migrate, open_engine, writer

RoleOption = Annotated[
    list[str] | None,
    typer.Option(
        "--role",
        help=f"A role to give (repeatable): {', '.join(ROLES)}; a privacy officer as "
        "privacy-officer:Organization/ID.",
    ),
]
IssuerOption = Annotated[
    str | None,
    typer.Option(help="The issuer whose subject it is (default: this server's, EHP_ISSUER)."),
]


def _roles(texts: list[str] | None) -> list[Role]:
    try:
        return [Role.parse(text) for text in texts or []]
    except ValueError as failure:
        raise typer.BadParameter(str(failure), param_hint="--role") from None


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
    ttl: Annotated[
        int, typer.Option(help="Lifetime in seconds (at most a day).", min=1, max=MAX_TOKEN_SECONDS)
    ] = 3600,
) -> None:
    """Print a valid access token for a server on DATABASE (signed by its embedded issuer)."""
    with _database(database) as engine:
        try:
            key = signing_key(engine)
        except KeyEncryptionError as failure:
            typer.echo(f"cannot read the signing keys: {failure}", err=True)
            raise typer.Exit(1) from None
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
    # records are numbered 1..n without gaps (verify checks it): the head is record n
    typer.echo(f"audit chain intact: {result.records} records, head {result.records} {result.head}")


client_app = typer.Typer(help="SMART Backend Services clients (clinic systems, nodes).", no_args_is_help=True)


@client_app.command("register")
def client_register(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    client_id: Annotated[str, typer.Option(help="The client's id (the iss/sub of its assertions).")],
    subject: Annotated[str, typer.Option(help="Who the client acts as, e.g. Organization/ID.")],
    scope: Annotated[str, typer.Option(help="The most the client may be granted, e.g. 'system/*.cruds'.")],
    jwks: Annotated[
        Path | None, typer.Option(help="A JSON file with the client's public keys (a JWKS).")
    ] = None,
    jwks_uri: Annotated[str | None, typer.Option(help="Or the URL of the client's JWKS.")] = None,
    role: RoleOption = None,
) -> None:
    """Register a client that authenticates with private_key_jwt at /auth/token."""
    roles = _roles(role)
    with _database(database) as engine:
        try:
            keys = json.loads(jwks.read_text()) if jwks is not None else None
            register_client(engine, client_id, subject, keys, scope, jwks_uri=jwks_uri)
            set_roles(engine, IssuerSettings.from_environment().issuer, subject, roles)
        except (OSError, ValueError) as failure:
            raise typer.BadParameter(str(failure)) from None
    typer.echo(f"client '{client_id}' registered as {subject} with at most '{scope}'{_as(roles)}")


@client_app.command("register-app")
def client_register_app(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    client_id: Annotated[str, typer.Option(help="The app's client id.")],
    redirect_uri: Annotated[list[str], typer.Option(help="Where the app receives its code (repeatable).")],
    scope: Annotated[
        str, typer.Option(help="The most the app may be granted, e.g. 'patient/*.rs launch/patient'.")
    ],
    secret: Annotated[
        str | None,
        typer.Option(help="A confidential symmetric app: its client secret (HTTP Basic at /auth/token)."),
    ] = None,
    jwks: Annotated[
        Path | None, typer.Option(help="A confidential asymmetric app: a JSON file with its public keys.")
    ] = None,
    jwks_uri: Annotated[
        str | None, typer.Option(help="A confidential asymmetric app: the URL of its JWKS.")
    ] = None,
    launch_uri: Annotated[
        str | None, typer.Option(help="The app's launch URL, for EHR launches from the passport page.")
    ] = None,
) -> None:
    """Register a SMART app: public (PKCE only), or confidential with a secret or its keys."""
    with _database(database) as engine:
        try:
            keys = json.loads(jwks.read_text()) if jwks is not None else None
            register_app(
                engine,
                client_id,
                redirect_uri,
                scope,
                secret=secret,
                jwks=keys,
                jwks_uri=jwks_uri,
                launch_uri=launch_uri,
            )
        except (OSError, ValueError) as failure:
            raise typer.BadParameter(str(failure)) from None
    kind = "confidential" if secret or jwks or jwks_uri else "public"
    typer.echo(f"{kind} app '{client_id}' registered with at most '{scope}'")


def launch(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    patient: Annotated[str, typer.Option(help="The patient in context (a Patient id).")],
    user: Annotated[str, typer.Option(help="Who will log in to the app: Practitioner/ID, Patient/ID...")],
    client_id: Annotated[
        str | None, typer.Option(help="Only for this app; its launch URL is printed.")
    ] = None,
    iss: Annotated[str | None, typer.Option(help="The FHIR base URL the app is to use.")] = None,
) -> None:
    """Start an EHR launch: print a one-time launch id (or the app's launch URL), valid 5 minutes."""
    with _database(database) as engine:
        try:
            check_subject(user)
        except ValueError as failure:
            raise typer.BadParameter(str(failure), param_hint="--user") from None
        app = app_client(engine, client_id) if client_id is not None else None
        if client_id is not None and app is None:
            raise typer.BadParameter(f"no app '{client_id}' is registered", param_hint="--client-id")
        launch_id = new_launch(engine, patient, user, client_id)
    if app is not None and app.launch_uri and iss:
        separator = "&" if "?" in app.launch_uri else "?"
        typer.echo(f"{app.launch_uri}{separator}{urlencode({'iss': iss, 'launch': launch_id})}")
    else:
        typer.echo(launch_id)


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
    role: RoleOption = None,
) -> None:
    """Create (or replace) a user of the login page, with exactly the roles given."""
    roles = _roles(role)
    with _database(database) as engine:
        try:
            add_user(engine, username, subject, password)
            set_roles(engine, IssuerSettings.from_environment().issuer, subject, roles)
        except ValueError as failure:
            raise typer.BadParameter(str(failure)) from None
    typer.echo(f"user '{username}' logs in as {subject}{_as(roles)}")


@user_app.command("remove")
def user_remove(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    username: Annotated[str, typer.Option(help="The user to remove.")],
) -> None:
    """Remove a user: they can no longer log in, and every token issued to them stops working
    (within a second, on every server process)."""
    with _database(database) as engine:
        subject = remove_user(engine, username)
        if subject is None:
            raise typer.BadParameter(f"there is no user '{username}'", param_hint="--username")
        revoke_subject(engine, IssuerSettings.from_environment().issuer, subject)
    typer.echo(f"user '{username}' removed; the tokens of {subject} are revoked")


@client_app.command("remove")
def client_remove(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    client_id: Annotated[str, typer.Option(help="The Backend Services client to remove.")],
) -> None:
    """Remove a Backend Services client; the tokens of the subject it acted as stop working."""
    with _database(database) as engine:
        subject = remove_client(engine, client_id)
        if subject is None:
            raise typer.BadParameter(f"there is no client '{client_id}'", param_hint="--client-id")
        revoke_subject(engine, IssuerSettings.from_environment().issuer, subject)
    typer.echo(f"client '{client_id}' removed; the tokens of {subject} are revoked")


@contextmanager
def _database(database: str) -> Iterator[Engine]:
    """The server's database, migrated to the newest schema, for one command."""
    engine = open_engine(database, pool_size=1)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


def _as(roles: list[Role]) -> str:
    return f", roles: {', '.join(sorted(map(str, roles)))}" if roles else ""


role_app = typer.Typer(
    help="Roles given to a subject of an issuer: administrator, privacy officer, analyst.",
    no_args_is_help=True,
)


@role_app.command("add")
def role_add(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    subject: Annotated[str, typer.Option(help="Practitioner/ID, Patient/ID, Organization/ID or admin.")],
    role: RoleOption = None,
    issuer: IssuerOption = None,
) -> None:
    """Give roles to a subject (of an external identity provider too, with --issuer)."""
    roles = _roles(role)
    if not roles:
        raise typer.BadParameter("give at least one --role", param_hint="--role")
    with _database(database) as engine:
        try:
            with writer(engine).begin() as connection:
                give_roles(connection, issuer or IssuerSettings.from_environment().issuer, subject, roles)
        except ValueError as failure:
            raise typer.BadParameter(str(failure)) from None
    typer.echo(f"{subject}{_as(roles)}")


@role_app.command("remove")
def role_remove(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    subject: Annotated[str, typer.Option(help="Whose roles.")],
    role: RoleOption = None,
    issuer: IssuerOption = None,
) -> None:
    """Take roles (all of them without --role) from a subject; effective within 15 s."""
    roles = _roles(role)
    with _database(database) as engine, writer(engine).begin() as connection:
        take_roles(connection, issuer or IssuerSettings.from_environment().issuer, subject, roles or None)
    typer.echo(f"{subject}: {', '.join(map(str, roles)) if roles else 'all roles'} removed")


@role_app.command("list")
def role_list(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    subject: Annotated[str, typer.Option(help="Whose roles.")],
    issuer: IssuerOption = None,
) -> None:
    """Print a subject's roles, one a line."""
    with _database(database) as engine, engine.connect() as connection:
        held = roles_of(connection, issuer or IssuerSettings.from_environment().issuer, subject)
    for held_role in sorted(held):
        typer.echo(str(held_role))


keys_app = typer.Typer(help="The embedded issuer's signing keys, encrypted at rest.", no_args_is_help=True)


@keys_app.command("rekey")
def keys_rekey(
    database: Annotated[str, typer.Option("--database", help="The server's database URL.")],
    new_key_file: Annotated[
        Path, typer.Option(help="The new key-encryption key's file (created when it does not exist).")
    ],
) -> None:
    """Encrypt the signing keys with a new key-encryption key; then set
    EHP_KEY_ENCRYPTION_KEY_FILE to the new file for every server and command."""
    with _database(database) as engine:
        try:
            new_kek = load_kek(new_key_file)
            count = rekey(engine, new_kek)
        except KeyEncryptionError as failure:
            raise typer.BadParameter(str(failure)) from None
    typer.echo(f"{count} signing key(s) now encrypted with {new_key_file} ({fingerprint(new_kek)})")
