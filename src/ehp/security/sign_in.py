"""Signing in to EHP's pages through a trusted identity provider: EHP as an OpenID Connect relying
party (authorization code flow, OpenID Connect Core 1.0 §3.1, with PKCE S256).

The provider's endpoints come from its discovery document (``/.well-known/openid-configuration``,
whose ``issuer`` must be the configured one; kept for an hour). The code is exchanged with the
client secret (``client_secret_basic``). The ID token must be signed by a key of the issuer's JWKS
with one of its allowed algorithms, be for EHP's ``client_id`` (``azp`` too when several audiences),
unexpired, and carry the ``nonce`` this sign-in sent. Its claims, completed with the UserInfo
answer's (same ``sub``) when the claim naming the user is not in the ID token, are mapped to the
user here as the issuer's access tokens are (``fhirUser``, an IIN claim, or ``sub``).

Every failure is a :class:`SignInError` saying what went wrong; nothing the provider sends is
echoed at length.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from ehp.security.issuers import IIN_PREFIX, SUB, IinLookup, SignInClient, TrustedIssuer
from ehp.security.jwks import JwksCache
from ehp.security.tokens import LEEWAY_SECONDS, SUBJECT

DISCOVERY_SECONDS = 3600.0
HTTP_TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 256 * 1024
MAX_REASON = 160


class SignInError(Exception):
    """The sign-in did not prove who the user is (shown on the page, audited as a failed login)."""

    def __init__(self, message: str) -> None:
        super().__init__(message if len(message) <= MAX_REASON else message[: MAX_REASON - 1] + "…")


@dataclass(frozen=True, slots=True)
class ProviderEndpoints:
    authorization: str
    token: str
    userinfo: str | None
    end_session: str | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one sign-in sent the provider, kept (signed) in the browser until it comes back."""

    provider: str
    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls, provider: str) -> Attempt:
        return cls(provider, secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class SignedIn:
    subject: str
    """The user here: ``Practitioner/ID``, ``Patient/ID``..."""
    issuer: str
    claims: dict[str, Any]


class RelyingParty:
    """The trusted issuers that offer sign-in, and the two legs of the flow."""

    def __init__(
        self, issuers: tuple[TrustedIssuer, ...], jwks: JwksCache, iin_lookup: IinLookup | None
    ) -> None:
        self.providers = {issuer.sign_in.id: issuer for issuer in issuers if issuer.sign_in is not None}
        self._jwks = jwks
        self._iin_lookup = iin_lookup
        self._lock = threading.Lock()
        self._endpoints: dict[str, tuple[float, ProviderEndpoints]] = {}

    def client(self, provider: str) -> tuple[TrustedIssuer, SignInClient]:
        issuer = self.providers.get(provider)
        if issuer is None or issuer.sign_in is None:
            raise SignInError(f"no identity provider {provider[:40]!r} is configured for sign-in")
        return issuer, issuer.sign_in

    def endpoints(self, issuer: TrustedIssuer) -> ProviderEndpoints:
        now = time.monotonic()
        with self._lock:
            cached = self._endpoints.get(issuer.issuer)
        if cached is not None and cached[0] > now:
            return cached[1]
        document = _get_json(f"{issuer.issuer.rstrip('/')}/.well-known/openid-configuration")
        if document.get("issuer") != issuer.issuer:
            raise SignInError("the provider's discovery document names another issuer")
        try:
            found = ProviderEndpoints(
                authorization=_url(document, "authorization_endpoint"),
                token=_url(document, "token_endpoint"),
                userinfo=_url(document, "userinfo_endpoint") if "userinfo_endpoint" in document else None,
                end_session=(
                    _url(document, "end_session_endpoint") if "end_session_endpoint" in document else None
                ),
            )
        except KeyError as missing:
            raise SignInError(f"the provider's discovery document has no usable {missing}") from None
        with self._lock:
            self._endpoints[issuer.issuer] = (now + DISCOVERY_SECONDS, found)
        return found

    def authorization_url(self, attempt: Attempt, redirect_uri: str, language: str) -> str:
        """Where the browser goes to sign in at the provider."""
        issuer, client = self.client(attempt.provider)
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": client.scope,
            "state": attempt.state,
            "nonce": attempt.nonce,
            "code_challenge": attempt.challenge,
            "code_challenge_method": "S256",
            "ui_locales": language,
        }
        endpoint = self.endpoints(issuer).authorization
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    def finish(self, attempt: Attempt, code: str, redirect_uri: str) -> SignedIn:
        """Exchange the code and prove the user from the ID token."""
        issuer, client = self.client(attempt.provider)
        endpoints = self.endpoints(issuer)
        answer = _post_json(
            endpoints.token,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": attempt.verifier,
            },
            (client.client_id, client.client_secret),
        )
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError("the provider's token answer has no id_token")
        claims = self._verified(issuer, client, id_token, attempt.nonce)
        if _naming_claim(issuer) not in claims and endpoints.userinfo and answer.get("access_token"):
            claims = {**_userinfo(endpoints.userinfo, str(answer["access_token"]), claims["sub"]), **claims}
        try:
            subject = issuer.subject_of(claims, self._iin_lookup)
        except (LookupError, KeyError) as failure:
            raise SignInError(f"the provider's user is not known here: {failure}") from None
        if not SUBJECT.match(subject) or subject == "admin":
            raise SignInError("the provider's user is not a patient or practitioner here")
        return SignedIn(subject, issuer.issuer, claims)

    def _verified(
        self, issuer: TrustedIssuer, client: SignInClient, token: str, nonce: str
    ) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in issuer.algorithms:
                raise SignInError(f"the ID token is signed with {str(algorithm)[:10]}, which is not allowed")
            key = self._jwks.key(issuer.jwks_uri, header.get("kid"), algorithm)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=client.client_id,
                issuer=issuer.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except LookupError as failure:
            raise SignInError(f"the ID token's key is not the provider's: {failure}") from None
        except jwt.InvalidTokenError as failure:
            raise SignInError(f"the ID token is not valid: {failure}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != client.client_id:
            raise SignInError("the ID token is for several clients and not authorised for EHP")
        if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
            raise SignInError("the ID token's nonce is not this sign-in's (a replayed token?)")
        return claims


def _naming_claim(issuer: TrustedIssuer) -> str:
    if issuer.subject == SUB:
        return "sub"
    if issuer.subject.startswith(IIN_PREFIX):
        return issuer.subject.removeprefix(IIN_PREFIX)
    return "fhirUser"


def _url(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise KeyError(name)
    return value


def _get_json(url: str, bearer: str | None = None) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    try:
        answer = httpx.get(url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=False)
    except httpx.HTTPError as failure:
        raise SignInError(f"the identity provider could not be reached: {failure}") from None
    return _json_of(answer)


def _post_json(url: str, form: dict[str, str], auth: tuple[str, str]) -> dict[str, Any]:
    try:
        answer = httpx.post(url, data=form, auth=auth, timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=False)
    except httpx.HTTPError as failure:
        raise SignInError(f"the identity provider could not be reached: {failure}") from None
    return _json_of(answer)


def _json_of(answer: httpx.Response) -> dict[str, Any]:
    if len(answer.content) > MAX_ANSWER_BYTES:
        raise SignInError("the identity provider's answer is too large")
    try:
        document = json.loads(answer.content)
    except ValueError:
        document = None
    if answer.status_code != 200:
        error = document.get("error") if isinstance(document, dict) else None
        raise SignInError(f"the identity provider refused: HTTP {answer.status_code} {str(error or '')[:60]}")
    if not isinstance(document, dict):
        raise SignInError("the identity provider's answer is not a JSON object")
    return document


def _userinfo(url: str, access_token: str, subject: Any) -> dict[str, Any]:
    claims = _get_json(url, bearer=access_token)
    if claims.get("sub") != subject:
        raise SignInError("the provider's UserInfo is about another user than its ID token")
    return claims
