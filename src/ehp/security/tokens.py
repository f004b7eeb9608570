"""Access tokens: JWTs signed by the embedded issuer (ES256), or by an external OpenID Connect
provider whose keys come from its JWKS.

Claims of an EHP token: ``iss`` (the issuer), ``aud`` (the FHIR audience), ``sub`` (the acting
subject: ``Practitioner/ID``, ``PractitionerRole/ID``, ``Patient/ID``, ``Organization/ID`` for a
clinic system, or ``admin``, a name like any other: roles are data, see :mod:`ehp.security.roles`),
``scope`` (SMART scopes), ``exp``/``nbf``/``iat``, ``jti``, and
``fhirUser`` for people, ``idp`` for a user who signed in through an external identity provider.
Verification pins the algorithms (``alg: none`` and HMAC never pass),
requires ``exp``, ``iat``, ``sub`` and ``scope``, and checks issuer and audience.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from ehp.scopes import ScopeError, Scopes

EHP_ALGORITHM = "ES256"
"""What EHP's own issuer signs with; its tokens verify with this algorithm only."""
ALGORITHMS = ("ES256", "RS256")
"""Signature algorithms accepted from the one-issuer external provider (``EHP_JWKS_URL``) unless
it says otherwise (asymmetric only)."""
SUBJECT = re.compile(
    r"^(admin|(Practitioner|PractitionerRole|Patient|Organization|Device)/[A-Za-z0-9\-.]{1,64})$"
)
LEEWAY_SECONDS = 30


MAX_TOKEN_CHARACTERS = 16_384
"""Longer tokens are refused unread (a 5 MB one was once parsed, audited and echoed whole)."""
MAX_REASON_CHARACTERS = 200
MAX_TOKEN_SECONDS = 24 * 3600
"""The longest lifetime EHP's issuer gives a token (``ehp token --ttl`` included)."""


class TokenError(Exception):
    """The token is missing, malformed, expired, wrongly signed or not for this server (HTTP 401).

    Its message goes into the 401 and the audit, so it is cut short: nothing an attacker sends is
    echoed at length."""

    def __init__(self, message: str) -> None:
        if len(message) > MAX_REASON_CHARACTERS:
            message = message[: MAX_REASON_CHARACTERS - 1] + "…"
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    subject: str
    scopes: Scopes
    claims: dict[str, Any]


def check_subject(subject: str) -> str:
    if not SUBJECT.match(subject):
        raise ValueError(
            f"subject '{subject}' must be Practitioner/ID, PractitionerRole/ID, Patient/ID, "
            "Organization/ID or admin"
        )
    return subject


def issue_token(
    key: ec.EllipticCurvePrivateKey,
    kid: str,
    *,
    issuer: str,
    audience: str,
    subject: str,
    scope: str,
    ttl_seconds: int,
    now: float | None = None,
    client_id: str | None = None,
    patient: str | None = None,
    identity_provider: str | None = None,
) -> str:
    """Sign an access token with the embedded issuer's key. ``patient`` is the patient in context
    (SMART launch): the token then opens that patient's passport only. ``identity_provider`` is the
    external issuer the user signed in with (claim ``idp``): their roles are those given to them
    as that issuer's user."""
    if not 0 < ttl_seconds <= MAX_TOKEN_SECONDS:
        raise ValueError(f"a token lives 1 to {MAX_TOKEN_SECONDS} seconds, not {ttl_seconds}")
    check_subject(subject)
    Scopes.parse(scope)
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "scope": scope,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
        "jti": str(uuid.uuid4()),
    }
    if subject.startswith(("Practitioner", "Patient")):
        claims["fhirUser"] = subject
    if client_id is not None:
        claims["client_id"] = client_id
    if patient is not None:
        claims["patient"] = patient
    if identity_provider is not None:
        claims["idp"] = identity_provider
    return jwt.encode(claims, key, algorithm=EHP_ALGORITHM, headers={"kid": kid})


def verify_token(
    token: str,
    key_for: Callable[[str | None, str], Any],
    *,
    issuer: str,
    audience: str | list[str],
    algorithms: tuple[str, ...] = ALGORITHMS,
    subject_of: Callable[[dict[str, Any]], str] | None = None,
) -> VerifiedToken:
    """Check signature, issuer, audience and time; ``key_for(kid, alg)`` returns the verification key.
    ``subject_of(claims)`` maps an external provider's claims to the acting subject (default: ``sub``)."""
    if len(token) > MAX_TOKEN_CHARACTERS:
        raise TokenError(f"token longer than {MAX_TOKEN_CHARACTERS} characters")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as failure:
        raise TokenError(f"malformed token: {failure}") from None
    if header.get("alg") not in algorithms:
        raise TokenError(
            f"token algorithm '{str(header.get('alg'))[:20]}' is not accepted (use {', '.join(algorithms)})"
        )
    try:
        key = key_for(header.get("kid"), header["alg"])
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[header["alg"]],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except LookupError as failure:
        raise TokenError(f"token signed with an unknown key: {failure}") from None
    except jwt.PyJWKClientError as failure:
        raise TokenError(f"the issuer's keys could not be had: {failure}") from None
    except (jwt.InvalidKeyError, ValueError, TypeError):
        # e.g. an RS256 header naming an EC key: PyJWT cannot even load the key ("Expecting a
        # PEM-formatted key"), which once surfaced as a 500
        raise TokenError(f"the key the token names does not verify {header.get('alg')} signatures") from None
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenError("token not valid yet") from None
    except jwt.InvalidTokenError as failure:
        raise TokenError(f"invalid token: {failure}") from None
    try:
        subject = subject_of(claims) if subject_of is not None else str(claims["sub"])
    except LookupError as failure:
        raise TokenError(f"the token's user is not known here: {failure}") from None
    if not SUBJECT.match(subject):
        raise TokenError(f"token subject '{subject}' is not a user, patient, organisation or admin")
    try:
        scopes = Scopes.parse(str(claims.get("scope", "")))
    except ScopeError as failure:
        raise TokenError(f"token scope: {failure}") from None
    return VerifiedToken(subject, scopes, claims)
