"""SMART Backend Services: clinic systems and nodes get access tokens with a signed assertion.

A client is registered with the subject it acts as (``Organization/ID`` for a clinic system or a
node), its public keys (a JWKS by value or by URL) and the scopes it may hold. It asks
``POST /auth/token`` with ``grant_type=client_credentials``, the JWT-bearer ``client_assertion_type``
(:data:`~ehp.security.assertions.ASSERTION_TYPE`), a ``client_assertion`` JWT it signed (RS384,
ES384, RS256, ES256, PS256; see :mod:`ehp.security.assertions`) and the ``scope`` it wants; it
receives a token for the granted scopes, those asked for that its registration allows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, select

from ehp.scopes import ResourceScope, ScopeError, Scopes, parse_scope
from ehp.security.assertions import (
    ASSERTION_TYPE,
    ClientKeys,
    OAuthError,
    unverified_issuer,
    verify_assertion,
)
from ehp.security.jwks import JwksCache, check_public_jwks
from ehp.security.keys import signing_key
from ehp.security.schema import oauth_clients
from ehp.security.tokens import check_subject, issue_token
from ehp.store.database import writer

__all__ = ["ASSERTION_TYPE", "Client", "OAuthError", "exchange", "register_client", "remove_client"]

TOKEN_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    subject: str
    keys: ClientKeys
    scope: str


def register_client(
    engine: Engine,
    client_id: str,
    subject: str,
    jwks: dict[str, Any] | None,
    scope: str,
    *,
    jwks_uri: str | None = None,
) -> None:
    """Register (or replace) a Backend Services client, with its JWKS or the URL of one."""
    check_subject(subject)
    Scopes.parse(scope)
    if (jwks is None) == (jwks_uri is None):
        raise ValueError("give the client's JWKS or the URL of its JWKS (one of them)")
    if jwks is not None:
        check_public_jwks(jwks)
    elif not str(jwks_uri).startswith(("https://", "http://")):
        raise ValueError("the JWKS URL must be http(s)")
    with writer(engine).begin() as connection:
        connection.execute(delete(oauth_clients).where(oauth_clients.c.client_id == client_id))
        connection.execute(
            oauth_clients.insert().values(
                client_id=client_id,
                subject=subject,
                jwks=json.dumps(jwks) if jwks is not None else "",
                jwks_uri=jwks_uri,
                scope=scope,
                created=int(time.time()),
            )
        )


def remove_client(engine: Engine, client_id: str) -> str | None:
    """Delete a Backend Services client; returns the subject it acted as (``None``: unknown)."""
    with writer(engine).begin() as connection:
        subject = connection.execute(
            select(oauth_clients.c.subject).where(oauth_clients.c.client_id == client_id)
        ).scalar()
        connection.execute(delete(oauth_clients).where(oauth_clients.c.client_id == client_id))
    return str(subject) if subject is not None else None


def backend_client(engine: Engine, client_id: str) -> Client | None:
    with engine.connect() as connection:
        row = connection.execute(select(oauth_clients).where(oauth_clients.c.client_id == client_id)).first()
    if row is None:
        return None
    keys = ClientKeys(jwks=json.loads(row.jwks)) if row.jwks else ClientKeys(jwks_uri=row.jwks_uri)
    return Client(row.client_id, row.subject, keys, row.scope)


def granted_scopes(allowed_text: str, requested: str, *, who: str) -> str:
    """The requested resource scopes that the registration covers (others are dropped)."""
    try:
        asked = [(text, parse_scope(text)) for text in requested.split()]
    except ScopeError as failure:
        raise OAuthError("invalid_scope", str(failure)) from None
    allowed = Scopes.parse(allowed_text).resource_scopes
    granted = [text for text, scope in asked if scope is not None and within(scope, allowed)]
    if not granted:
        raise OAuthError("invalid_scope", f"none of the scopes '{requested}' is allowed for this {who}")
    return " ".join(granted)


def within(scope: ResourceScope, allowed: tuple[ResourceScope, ...]) -> bool:
    """Whether the registration's scopes give every permission of ``scope`` (a granular
    registered scope covers only the same search)."""
    return all(
        any(
            other.context == scope.context
            and permission in other.permissions
            and other.resource_type in ("*", scope.resource_type)
            and (not other.query or other.query == scope.query)
            for other in allowed
        )
        for permission in scope.permissions
    )


def exchange(
    engine: Engine,
    form: dict[str, str],
    token_endpoint: str,
    *,
    issuer: str,
    audience: str,
    jwks_cache: JwksCache,
) -> dict[str, Any]:
    """Answer a client-credentials token request (the JSON body of a 200 response)."""
    if form.get("grant_type") != "client_credentials":
        raise OAuthError("unsupported_grant_type", "grant_type must be client_credentials here")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError("invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}", 401)
    assertion = form.get("client_assertion", "")
    client = backend_client(engine, unverified_issuer(assertion))
    if client is None:
        raise OAuthError("invalid_client", "unknown client", 401)
    verify_assertion(engine, assertion, client.client_id, client.keys, token_endpoint, jwks_cache)
    scope = granted_scopes(client.scope, form.get("scope", ""), who="client")
    key = signing_key(engine)
    token = issue_token(
        key.private_key,
        key.kid,
        issuer=issuer,
        audience=audience,
        subject=client.subject,
        scope=scope,
        ttl_seconds=TOKEN_SECONDS,
        client_id=client.client_id,
    )
    return {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_SECONDS, "scope": scope}
