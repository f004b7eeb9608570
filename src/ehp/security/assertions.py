"""Client authentication with a signed JWT (``private_key_jwt``, RFC 7523), for Backend Services
clients and confidential asymmetric SMART apps alike.

The assertion's ``iss`` and ``sub`` are the client id, ``aud`` the token endpoint, ``exp`` at most
five minutes ahead and ``jti`` unique (a replay is refused until the assertion would have expired).
Keys come from the client's registered JWKS, by value or from its URL (:mod:`ehp.security.jwks`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError

from ehp.security.jwks import JwksCache, KeysUnavailable, key_in
from ehp.security.schema import used_assertions
from ehp.security.tokens import LEEWAY_SECONDS
from ehp.store.database import writer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256", "PS256", "PS384")
"""SMART names RS384 and ES384; the others are accepted too. Asymmetric only: never HMAC or none."""
MAX_ASSERTION_SECONDS = 300


class OAuthError(Exception):
    """An OAuth 2.0 error response (RFC 6749 §5.2): ``code`` is the ``error`` value."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class ClientKeys:
    """Where a client's public keys are: a JWKS by value, or the URL of one."""

    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None


def unverified_issuer(assertion: str) -> str:
    """The client id an assertion claims (its ``iss``), before anything is verified."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError as failure:
        raise OAuthError("invalid_client", f"malformed client assertion: {failure}", 401) from None
    return str(claims.get("iss", ""))


def verify_assertion(
    engine: Engine,
    assertion: str,
    client_id: str,
    keys: ClientKeys,
    token_endpoint: str,
    jwks_cache: JwksCache,
) -> dict[str, Any]:
    """Verify a client assertion of ``client_id`` and use up its ``jti``; returns its claims."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError as failure:
        raise OAuthError("invalid_client", f"malformed client assertion: {failure}", 401) from None
    algorithm = header.get("alg")
    if algorithm not in ASSERTION_ALGORITHMS:
        raise OAuthError(
            "invalid_client",
            f"the client assertion must be signed with one of {', '.join(ASSERTION_ALGORITHMS)}",
            401,
        )
    kid = header.get("kid")
    try:
        if keys.jwks is not None:
            key = key_in(list(keys.jwks.get("keys", [])), kid, algorithm)
        elif keys.jwks_uri is not None:
            key = jwks_cache.key(keys.jwks_uri, kid, algorithm)
        else:
            raise KeysUnavailable("the client has no keys")
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key,
            algorithms=[algorithm],
            audience=token_endpoint,
            issuer=client_id,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "sub", "aud", "jti"]},
        )
    except KeysUnavailable as failure:
        raise OAuthError("invalid_client", f"client '{client_id}': {failure}", 401) from None
    except jwt.InvalidTokenError as failure:
        raise OAuthError("invalid_client", f"client assertion refused: {failure}", 401) from None
    if claims["sub"] != client_id:
        raise OAuthError("invalid_client", "the assertion's sub must be the client id", 401)
    if claims["exp"] > time.time() + MAX_ASSERTION_SECONDS + LEEWAY_SECONDS:
        raise OAuthError("invalid_client", "the assertion may live at most five minutes", 401)
    _remember(engine, str(claims["jti"]), int(claims["exp"]))
    return claims


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
