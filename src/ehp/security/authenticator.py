"""From an ``Authorization: Bearer`` header to the request's :class:`RequestContext`.

A token is verified by who issued it (its ``iss``): EHP's own issuer (ES256, keys in the database),
or one of the trusted external identity providers (:mod:`ehp.security.issuers`), each with its own
JWKS, algorithms, audience and mapping of its users to subjects here. A token of any other issuer
is a 401.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy import Engine

from ehp.context import RequestContext
from ehp.security.issuers import (
    FHIR_USER_OR_SUB,
    SHORT_FORM_ALGORITHMS,
    TRUSTED_ISSUERS_VARIABLE,
    IinLookup,
    TrustedIssuer,
    load_trusted_issuers,
)
from ehp.security.jwks import JwksCache
from ehp.security.keys import SigningKey, all_keys, signing_key
from ehp.security.revocation import Revocations
from ehp.security.roles import roles_of
from ehp.security.tokens import EHP_ALGORITHM, LEEWAY_SECONDS, TokenError, VerifiedToken, verify_token

DEFAULT_ISSUER = "urn:ehp:issuer"
DEFAULT_AUDIENCE = "urn:ehp:fhir"
PUBLIC_BASE_URLS_VARIABLE = "EHP_PUBLIC_BASE_URLS"
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
    trusted: tuple[TrustedIssuer, ...] = ()
    """External identity providers whose tokens are accepted beside the embedded issuer's."""
    public_base_urls: tuple[str, ...] = ()
    """The FHIR base URLs apps know this server by (``aud`` of an authorization request); empty:
    the URL the request came to."""

    @classmethod
    def from_environment(cls) -> IssuerSettings:
        trusted_file = os.environ.get(TRUSTED_ISSUERS_VARIABLE)
        bases = os.environ.get(PUBLIC_BASE_URLS_VARIABLE, "").replace(",", " ").split()
        return cls(
            issuer=os.environ.get("EHP_ISSUER", DEFAULT_ISSUER),
            audience=os.environ.get("EHP_AUDIENCE", DEFAULT_AUDIENCE),
            jwks_url=os.environ.get("EHP_JWKS_URL") or None,
            trusted=tuple(load_trusted_issuers(Path(trusted_file))) if trusted_file else (),
            public_base_urls=tuple(base.rstrip("/") for base in bases),
        )

    def audiences(self, request_base: str) -> tuple[str, ...]:
        """The ``aud`` values an app may send: the configured base URLs, else this request's."""
        return self.public_base_urls or (request_base.rstrip("/"),)


class Authenticator:
    """Verifies bearer tokens against the embedded issuer's keys or a trusted provider's JWKS."""

    def __init__(self, engine: Engine, settings: IssuerSettings, iin_lookup: IinLookup | None = None) -> None:
        self.settings = settings
        self._engine = engine
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._iin_lookup = iin_lookup
        self.jwks_cache = JwksCache()
        self._external: dict[str, TrustedIssuer] = {issuer.issuer: issuer for issuer in settings.trusted}
        self.embedded = settings.jwks_url is None
        """Whether EHP's own issuer signs the tokens of ``settings.issuer`` (else the provider of
        ``EHP_JWKS_URL`` does, the one-issuer short form)."""
        if not self.embedded:
            assert settings.jwks_url is not None
            self._external[settings.issuer] = TrustedIssuer(
                settings.issuer,
                settings.jwks_url,
                (settings.audience,),
                SHORT_FORM_ALGORITHMS,
                FHIR_USER_OR_SUB,
            )
        self._roles: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}
        self._revocations = Revocations(engine, settings.issuer)
        self._verified: dict[str, VerifiedToken] = {}
        """Tokens whose signature and claims were checked, until they expire (verifying an ES256
        signature costs more than a read by id)."""
        if self.embedded:
            signing_key(engine)
            self._reload()

    def _reload(self) -> None:
        with self._lock:
            self._keys = {key.kid: key for key in all_keys(self._engine)}

    def _embedded_key(self, kid: str | None) -> Any:
        if kid not in self._keys:
            self._reload()
        if kid is None or kid not in self._keys:
            raise LookupError(f"kid {str(kid)[:64]!r}")
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
        verified = self._verify_new(token)
        self._check_not_revoked(verified)
        if len(self._verified) >= MAX_REMEMBERED_TOKENS:
            self._verified = {
                key: value for key, value in self._verified.items() if value.claims["exp"] > now
            }
            if len(self._verified) >= MAX_REMEMBERED_TOKENS:
                self._verified.clear()
        self._verified[token] = verified
        return verified

    def _verify_new(self, token: str) -> VerifiedToken:
        if len(token) > 16_384:
            raise TokenError("token longer than 16384 characters")
        try:
            issuer = str(jwt.decode(token, options={"verify_signature": False}).get("iss", ""))
        except jwt.InvalidTokenError as failure:
            raise TokenError(f"malformed token: {failure}") from None
        external = self._external.get(issuer)
        if external is not None:
            return verify_token(
                token,
                lambda kid, alg: self.jwks_cache.key(external.jwks_uri, kid, alg),
                issuer=external.issuer,
                audience=list(external.audience),
                algorithms=external.algorithms,
                subject_of=lambda claims: external.subject_of(claims, self._iin_lookup),
            )
        if not self.embedded or issuer != self.settings.issuer:
            raise TokenError(f"tokens of issuer {issuer[:100]!r} are not accepted here")
        return verify_token(
            token,
            lambda kid, _alg: self._embedded_key(kid),
            issuer=self.settings.issuer,
            audience=self.settings.audience,
            algorithms=(EHP_ALGORITHM,),
        )

    def _check_not_revoked(self, verified: VerifiedToken) -> None:
        claims = verified.claims
        if claims.get("iss") != self.settings.issuer:
            return  # an external provider revokes its own tokens
        jti = claims.get("jti")
        if self._revocations.is_revoked(
            jti if isinstance(jti, str) else None, verified.subject, claims["iat"]
        ):
            raise TokenError("the token was revoked (or its user or client removed)")

    def context(self, authorization: str | None, source_address: str | None) -> RequestContext:
        verified = self.verify(authorization)
        patient = verified.claims.get("patient")
        return RequestContext(
            actor=verified.subject,
            source_address=source_address,
            scopes=verified.scopes,
            roles=self.roles(verified.subject, self.home_issuer(verified.claims)),
            patient_in_context=patient if isinstance(patient, str) and patient else None,
        )

    def home_issuer(self, claims: dict[str, Any]) -> str:
        """Whose user the token's subject is: its issuer's, or, for EHP's own token of a user who
        signed in through a trusted provider (``idp``), that provider's."""
        issuer = str(claims["iss"])
        provider = claims.get("idp")
        if issuer == self.settings.issuer and self.embedded and isinstance(provider, str):
            return provider
        return issuer

    def roles(self, subject: str, issuer: str | None = None) -> frozenset[str]:
        """The roles given to ``subject`` of ``issuer`` (default: this server's; cached a few seconds)."""
        issuer = issuer or self.settings.issuer
        now = time.monotonic()
        cached = self._roles.get((issuer, subject))
        if cached is not None and cached[0] > now:
            return cached[1]
        with self._engine.connect() as connection:
            found = frozenset(str(role) for role in roles_of(connection, issuer, subject))
        if len(self._roles) >= MAX_REMEMBERED_TOKENS:
            self._roles.clear()
        self._roles[(issuer, subject)] = (now + ROLE_CACHE_SECONDS, found)
        return found

    def jwks(self) -> dict[str, Any]:
        """The public keys of the embedded issuer (empty with an external provider)."""
        return {"keys": [key.public_jwk() for key in self._keys.values()]}
