"""From an ``Authorization: Bearer`` header to the request's :class:`RequestContext`."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from jwt import PyJWKClient
from sqlalchemy import Engine

from ehp.context import RequestContext
from ehp.security.keys import SigningKey, all_keys, signing_key
from ehp.security.revocation import Revocations
from ehp.security.roles import roles_of
from ehp.security.tokens import LEEWAY_SECONDS, TokenError, VerifiedToken, verify_token

DEFAULT_ISSUER = "urn:ehp:issuer"
DEFAULT_AUDIENCE = "urn:ehp:fhir"
MAX_REMEMBERED_TOKENS = 10_000
ROLE_CACHE_SECONDS = 15.0
"""How long a subject's roles are reused: a role taken away stops working within this time."""


@dataclass(frozen=True, slots=True)
class IssuerSettings:
    issuer: str = DEFAULT_ISSUER
    """``iss`` of the embedded issuer's tokens (or of the external OpenID Connect provider)."""
    audience: str = DEFAULT_AUDIENCE
    """``aud`` this server accepts."""
    jwks_url: str | None = None
    """An external provider's JWKS; when set, its tokens are accepted instead of the embedded issuer's."""

    @classmethod
    def from_environment(cls) -> IssuerSettings:
        return cls(
            issuer=os.environ.get("EHP_ISSUER", DEFAULT_ISSUER),
            audience=os.environ.get("EHP_AUDIENCE", DEFAULT_AUDIENCE),
            jwks_url=os.environ.get("EHP_JWKS_URL") or None,
        )


class Authenticator:
    """Verifies bearer tokens against the embedded issuer's keys or an external JWKS."""

    def __init__(self, engine: Engine, settings: IssuerSettings) -> None:
        self.settings = settings
        self._engine = engine
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._jwks = PyJWKClient(settings.jwks_url, cache_keys=True) if settings.jwks_url else None
        self._roles: dict[str, tuple[float, frozenset[str]]] = {}
        self._revocations = Revocations(engine, settings.issuer)
        self._verified: dict[str, VerifiedToken] = {}
        """Tokens whose signature and claims were checked, until they expire (verifying an ES256
        signature costs more than a read by id)."""
        if self._jwks is None:
            signing_key(engine)
            self._reload()

    def _reload(self) -> None:
        with self._lock:
            self._keys = {key.kid: key for key in all_keys(self._engine)}

    def _key_for(self, kid: str | None) -> Any:
        if self._jwks is not None:
            if kid is None:
                raise LookupError("the token has no kid")
            return self._jwks.get_signing_key(kid).key
        if kid not in self._keys:
            self._reload()
        if kid is None or kid not in self._keys:
            raise LookupError(f"kid {kid!r}")
        return self._keys[kid].private_key.public_key()

    def verify(self, authorization: str | None) -> VerifiedToken:
        if not authorization:
            raise TokenError("authentication is required: send Authorization: Bearer <access token>")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenError("the Authorization header must be 'Bearer <access token>'")
        now = time.time()
        known = self._verified.get(token)
        if known is not None and known.claims["exp"] + LEEWAY_SECONDS > now:
            self._check_not_revoked(known)
            return known
        verified = verify_token(
            token, self._key_for, issuer=self.settings.issuer, audience=self.settings.audience
        )
        self._check_not_revoked(verified)
        if len(self._verified) >= MAX_REMEMBERED_TOKENS:
            self._verified = {
                key: value for key, value in self._verified.items() if value.claims["exp"] > now
            }
            if len(self._verified) >= MAX_REMEMBERED_TOKENS:
                self._verified.clear()
        self._verified[token] = verified
        return verified

    def _check_not_revoked(self, verified: VerifiedToken) -> None:
        claims = verified.claims
        jti = claims.get("jti")
        if self._revocations.is_revoked(
            jti if isinstance(jti, str) else None, verified.subject, claims["iat"]
        ):
            raise TokenError("the token was revoked (or its user or client removed)")

    def context(self, authorization: str | None, source_address: str | None) -> RequestContext:
        verified = self.verify(authorization)
        return RequestContext(
            actor=verified.subject,
            source_address=source_address,
            scopes=verified.scopes,
            roles=self.roles(verified.subject),
        )

    def roles(self, subject: str) -> frozenset[str]:
        """The roles given to ``subject`` of this server's issuer (cached for a few seconds)."""
        now = time.monotonic()
        cached = self._roles.get(subject)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self._engine.connect() as connection:
            found = frozenset(str(role) for role in roles_of(connection, self.settings.issuer, subject))
        if len(self._roles) >= MAX_REMEMBERED_TOKENS:
            self._roles.clear()
        self._roles[subject] = (now + ROLE_CACHE_SECONDS, found)
        return found

    def jwks(self) -> dict[str, Any]:
        """The public keys of the embedded issuer (empty with an external provider)."""
        return {"keys": [key.public_jwk() for key in self._keys.values()]}
