"""SMART Backend Services: clinic systems and nodes get access tokens with a signed assertion.

A client is registered with the subject it acts as (``Organization/ID`` for a clinic system or a
node), its public keys (JWKS) and the scopes it may hold. It asks ``POST /auth/token`` with
``grant_type=client_credentials``, the JWT-bearer ``client_assertion_type`` (:data:`ASSERTION_TYPE`),
a ``client_assertion`` JWT it signed (``iss`` = ``sub`` = client id, ``aud`` = the token endpoint,
``exp`` at most five minutes ahead, a unique ``jti``) and the ``scope`` it wants; it receives a
token for the granted scopes, those asked for that its registration allows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError

from ehp.scopes import ResourceScope, ScopeError, Scopes, parse_scope
from ehp.security.keys import signing_key
from ehp.security.schema import oauth_clients, used_assertions
from ehp.security.tokens import ALGORITHMS, LEEWAY_SECONDS, check_subject, issue_token
from ehp.store.database import writer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_SECONDS = 300
TOKEN_SECONDS = 300


class OAuthError(Exception):
    """An OAuth 2.0 error response (RFC 6749 §5.2): ``code`` is the ``error`` value."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    subject: str
    jwks: dict[str, Any]
    scope: str


def register_client(engine: Engine, client_id: str, subject: str, jwks: dict[str, Any], scope: str) -> None:
    """Register (or replace) a Backend Services client."""
    check_subject(subject)
    Scopes.parse(scope)
    if not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ValueError("the client's JWKS must hold at least one key")
    with writer(engine).begin() as connection:
        connection.execute(delete(oauth_clients).where(oauth_clients.c.client_id == client_id))
        connection.execute(
            oauth_clients.insert().values(
                client_id=client_id,
                subject=subject,
                jwks=json.dumps(jwks),
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


def _client(engine: Engine, client_id: str) -> Client | None:
    with engine.connect() as connection:
        row = connection.execute(select(oauth_clients).where(oauth_clients.c.client_id == client_id)).first()
    if row is None:
        return None
    return Client(row.client_id, row.subject, json.loads(row.jwks), row.scope)


def _client_key(client: Client, kid: str | None) -> Any:
    for jwk in client.jwks["keys"]:
        if kid is None or jwk.get("kid") == kid:
            return jwt.PyJWK(jwk).key
    raise OAuthError("invalid_client", f"no key '{kid}' is registered for client '{client.client_id}'", 401)


def _granted(client: Client, requested: str) -> str:
    """The requested scopes that the client's registration covers (others are dropped)."""
    try:
        asked = [(text, parse_scope(text)) for text in requested.split()]
    except ScopeError as failure:
        raise OAuthError("invalid_scope", str(failure)) from None
    allowed = Scopes.parse(client.scope).resource_scopes
    granted = [text for text, scope in asked if scope is not None and within(scope, allowed)]
    if not granted:
        raise OAuthError("invalid_scope", f"none of the scopes '{requested}' is allowed for this client")
    return " ".join(granted)


def within(scope: ResourceScope, allowed: tuple[ResourceScope, ...]) -> bool:
    return all(
        any(
            other.context == scope.context
            and permission in other.permissions
            and other.resource_type in ("*", scope.resource_type)
            for other in allowed
        )
        for permission in scope.permissions
    )


def exchange(
    engine: Engine, form: dict[str, str], token_endpoint: str, *, issuer: str, audience: str
) -> dict[str, Any]:
    """Answer a client-credentials token request (the JSON body of a 200 response)."""
    if form.get("grant_type") != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only grant_type=client_credentials is supported here")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError("invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}", 401)
    assertion = form.get("client_assertion", "")
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError as failure:
        raise OAuthError("invalid_client", f"malformed client assertion: {failure}", 401) from None
    client = _client(engine, str(unverified.get("iss", "")))
    if client is None:
        raise OAuthError("invalid_client", "unknown client", 401)
    if header.get("alg") not in ALGORITHMS:
        raise OAuthError("invalid_client", "the client assertion must be signed with ES256 or RS256", 401)
    try:
        claims = jwt.decode(
            assertion,
            _client_key(client, header.get("kid")),
            algorithms=list(ALGORITHMS),
            audience=token_endpoint,
            issuer=client.client_id,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "sub", "aud", "jti"]},
        )
    except jwt.InvalidTokenError as failure:
        raise OAuthError("invalid_client", f"client assertion refused: {failure}", 401) from None
    if claims["sub"] != client.client_id:
        raise OAuthError("invalid_client", "the assertion's sub must be the client id", 401)
    if claims["exp"] > time.time() + MAX_ASSERTION_SECONDS + LEEWAY_SECONDS:
        raise OAuthError("invalid_client", "the assertion may live at most five minutes", 401)
    _remember(engine, str(claims["jti"]), int(claims["exp"]))
    scope = _granted(client, form.get("scope", ""))
    key = signing_key(engine)
    token = issue_token(
        key.private_key,
        key.kid,
        issuer=issuer,
        audience=audience,
        subject=client.subject,
        scope=scope,
        ttl_seconds=TOKEN_SECONDS,
    )
    return {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_SECONDS, "scope": scope}


def _remember(engine: Engine, jti: str, expires: int) -> None:
    """Refuse a replayed assertion; forget assertions that have expired."""
    try:
        with writer(engine).begin() as connection:
            # remembered until the assertion could no longer be accepted: its exp plus the leeway
            stale = used_assertions.c.expires < int(time.time()) - LEEWAY_SECONDS
            connection.execute(delete(used_assertions).where(stale))
            connection.execute(used_assertions.insert().values(jti=jti, expires=expires))
    except IntegrityError:
        raise OAuthError(
            "invalid_client", "this client assertion was already used (jti replay)", 401
        ) from None
