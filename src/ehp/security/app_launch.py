"""SMART App Launch 2: the authorization code flow with PKCE, for people using an app.

1. The app sends the user to ``GET /auth/authorize?response_type=code&client_id=...&redirect_uri=
   ...&scope=...&state=...&aud=<FHIR base URL>&code_challenge=...&code_challenge_method=S256``
   (plus ``launch=...`` in an EHR launch, ``nonce=...`` for OpenID Connect).
2. The user logs in (:mod:`ehp.security.login_page`); a practitioner asking ``launch/patient``
   picks the patient among those they have a legal basis for. They are sent back to
   ``redirect_uri?code=...&state=...``.
3. The app exchanges the code at ``POST /auth/token`` (``grant_type=authorization_code``, ``code``,
   ``redirect_uri``, ``code_verifier``, and its client authentication: ``client_id`` alone for a
   public app, HTTP Basic with its secret, or a ``client_assertion`` JWT) for an access token, an
   ``id_token`` when it asked ``openid``, and a refresh token for ``offline_access`` or
   ``online_access`` (:mod:`ehp.security.refresh`).

A token with a patient in context (``patient`` in the answer and in the token) opens that
patient's passport only. ``patient/`` scopes need such a context for anyone but a citizen: a
practitioner who asks for them without ``launch/patient`` or an EHR launch does not get them.
Codes live 60 seconds and are used once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from sqlalchemy import Engine, delete, select

from ehp.scopes import OTHER_SCOPES, ScopeError, Scopes, parse_scope
from ehp.security.assertions import (
    ASSERTION_TYPE,
    ClientKeys,
    OAuthError,
    unverified_issuer,
    verify_assertion,
)
from ehp.security.backend_services import within
from ehp.security.jwks import JwksCache, check_public_jwks
from ehp.security.launch_schema import app_clients, authorization_codes, launch_contexts
from ehp.security.users import hash_password, password_matches
from ehp.store.database import writer

CODE_SECONDS = 60
TOKEN_SECONDS = 3600
LAUNCH_SECONDS = 300
PUBLIC = "none"
SECRET = "client_secret_basic"
PRIVATE_KEY_JWT = "private_key_jwt"
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
MAX_NONCE_CHARACTERS = 255


@dataclass(frozen=True, slots=True)
class AppClient:
    client_id: str
    redirect_uris: tuple[str, ...]
    scope: str
    auth_method: str
    secret_hash: str | None
    keys: ClientKeys
    launch_uri: str | None

    @property
    def confidential(self) -> bool:
        return self.auth_method != PUBLIC


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scope: str
    """The scopes granted: those asked for that the app's registration allows."""
    state: str
    challenge: str
    nonce: str | None = None
    launch: str | None = None
    """The ``launch`` id of an EHR launch, not yet resolved to its patient."""

    @property
    def wants_patient(self) -> bool:
        return "launch/patient" in self.scope.split()


class RedirectError(OAuthError):
    """An error told to the app at its (verified) redirect URI, not shown on the page."""

    def __init__(self, code: str, description: str, redirect_uri: str, state: str) -> None:
        super().__init__(code, description)
        self.redirect_uri = redirect_uri
        self.state = state


def register_app(
    engine: Engine,
    client_id: str,
    redirect_uris: list[str],
    scope: str,
    *,
    secret: str | None = None,
    jwks: dict[str, Any] | None = None,
    jwks_uri: str | None = None,
    launch_uri: str | None = None,
) -> None:
    """Register (or replace) a SMART app: public (nothing more), confidential symmetric
    (``secret``) or confidential asymmetric (``jwks`` or ``jwks_uri``)."""
    Scopes.parse(scope)
    if not redirect_uris or any(not _http(uri) or " " in uri for uri in redirect_uris):
        raise ValueError("an app needs at least one http(s) redirect URI")
    if sum(value is not None for value in (secret, jwks, jwks_uri)) > 1:
        raise ValueError("an app authenticates one way: a secret, a JWKS or a JWKS URL")
    if secret is not None and len(secret) < 16:
        raise ValueError("a client secret must have at least 16 characters")
    if jwks is not None:
        check_public_jwks(jwks)
    if jwks_uri is not None and not _http(jwks_uri):
        raise ValueError("the JWKS URL must be http(s)")
    if launch_uri is not None and not _http(launch_uri):
        raise ValueError("the launch URL must be http(s)")
    method = SECRET if secret is not None else PRIVATE_KEY_JWT if (jwks or jwks_uri) else PUBLIC
    with writer(engine).begin() as connection:
        connection.execute(delete(app_clients).where(app_clients.c.client_id == client_id))
        connection.execute(
            app_clients.insert().values(
                client_id=client_id,
                redirect_uris=" ".join(redirect_uris),
                scope=scope,
                created=int(time.time()),
                auth_method=method,
                secret_hash=hash_password(secret) if secret is not None else None,
                jwks=json.dumps(jwks) if jwks is not None else None,
                jwks_uri=jwks_uri,
                launch_uri=launch_uri,
            )
        )


def _http(uri: str) -> bool:
    return uri.startswith(("https://", "http://"))


def app_client(engine: Engine, client_id: str) -> AppClient | None:
    with engine.connect() as connection:
        row = connection.execute(select(app_clients).where(app_clients.c.client_id == client_id)).first()
    if row is None:
        return None
    return AppClient(
        row.client_id,
        tuple(row.redirect_uris.split()),
        row.scope,
        row.auth_method,
        row.secret_hash,
        ClientKeys(json.loads(row.jwks) if row.jwks else None, row.jwks_uri),
        row.launch_uri,
    )


def launchable_apps(engine: Engine) -> list[str]:
    """The apps with an EHR-launch URL, for the passport page's "open in app"."""
    with engine.connect() as connection:
        found = connection.execute(
            select(app_clients.c.client_id)
            .where(app_clients.c.launch_uri.is_not(None))
            .order_by(app_clients.c.client_id)
        )
        return [str(client_id) for client_id in found.scalars()]


def registered_origins(engine: Engine) -> frozenset[str]:
    """The origins of every registered app's redirect URIs (for CORS)."""
    with engine.connect() as connection:
        uris = connection.execute(select(app_clients.c.redirect_uris)).scalars().all()
    return frozenset(_origin(uri) for text in uris for uri in text.split())


def _origin(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}".lower()


def check_authorize(engine: Engine, params: dict[str, str], audiences: Collection[str]) -> AuthorizeRequest:
    """Validate an authorization request. Errors before the redirect URI is trusted are page
    errors (:class:`OAuthError`); after, they go back to the app (:class:`RedirectError`).
    ``audiences`` are this server's public FHIR base URLs: the ``aud`` must be one of them."""
    client_id = params.get("client_id", "")
    client = app_client(engine, client_id)
    if client is None:
        raise OAuthError("invalid_client", f"unknown app '{client_id[:100]}'")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        raise OAuthError("invalid_request", "redirect_uri is not one registered for this app")
    state = params.get("state", "")

    def refuse(code: str, description: str) -> RedirectError:
        return RedirectError(code, description, redirect_uri, state)

    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "response_type must be 'code'")
    if params.get("aud", "").rstrip("/") not in {audience.rstrip("/") for audience in audiences}:
        raise refuse("invalid_request", f"aud must be this FHIR server's base URL ({', '.join(audiences)})")
    if params.get("code_challenge_method") != "S256" or not _CHALLENGE.match(
        params.get("code_challenge", "")
    ):
        raise refuse("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256")
    nonce = params.get("nonce") or None
    if nonce is not None and len(nonce) > MAX_NONCE_CHARACTERS:
        raise refuse("invalid_request", f"nonce longer than {MAX_NONCE_CHARACTERS} characters")
    scope = granted_app_scopes(client.scope, params.get("scope", ""), refuse)
    launch = params.get("launch") or None
    if launch is not None and "launch" not in scope.split():
        raise refuse("invalid_scope", "an EHR launch asks for the 'launch' scope")
    if launch is None and "launch" in scope.split():
        raise refuse("invalid_request", "the 'launch' scope needs the launch parameter the EHR gave")
    return AuthorizeRequest(client_id, redirect_uri, scope, state, params["code_challenge"], nonce, launch)


def granted_app_scopes(allowed_text: str, requested: str, refuse: Any) -> str:
    """The asked scopes that the registration allows (the others SMART defines always are)."""
    allowed = Scopes.parse(allowed_text).resource_scopes
    granted = []
    for text in requested.split():
        try:
            scope = parse_scope(text)
        except ScopeError as failure:
            raise refuse("invalid_scope", str(failure)) from None
        if scope is None or within(scope, allowed):
            granted.append(text)
    if not any(parse_scope(text) is not None for text in granted):
        raise refuse("invalid_scope", f"none of the scopes '{requested[:200]}' is allowed for this app")
    return " ".join(dict.fromkeys(granted))


def scope_for(request: AuthorizeRequest, subject: str, patient: str | None) -> str:
    """The scope granted to ``subject``: ``patient/`` scopes only with a patient in context (a
    citizen's own passport is theirs without one)."""
    if patient is not None or subject.startswith("Patient/"):
        return request.scope
    kept = [text for text in request.scope.split() if text in OTHER_SCOPES or not text.startswith("patient/")]
    if not any(text not in OTHER_SCOPES for text in kept):
        raise RedirectError(
            "invalid_scope",
            "patient/ scopes need a patient in context: ask for launch/patient, or launch from the EHR",
            request.redirect_uri,
            request.state,
        )
    return " ".join(kept)


def new_launch(engine: Engine, patient: str, issued_by: str, client_id: str | None = None) -> str:
    """A one-time ``launch`` id for an EHR launch of ``patient`` by ``issued_by`` (5 minutes)."""
    launch = secrets.token_urlsafe(24)
    now = int(time.time())
    with writer(engine).begin() as connection:
        connection.execute(delete(launch_contexts).where(launch_contexts.c.expires < now))
        connection.execute(
            launch_contexts.insert().values(
                launch_hash=_hash(launch),
                patient=patient,
                issued_by=issued_by,
                client_id=client_id,
                expires=now + LAUNCH_SECONDS,
            )
        )
    return launch


def take_launch(engine: Engine, request: AuthorizeRequest, subject: str) -> str:
    """The patient of the request's EHR launch, for the user who logged in (used up)."""
    assert request.launch is not None
    with writer(engine).begin() as connection:
        row = connection.execute(
            select(launch_contexts).where(launch_contexts.c.launch_hash == _hash(request.launch))
        ).first()
        connection.execute(
            delete(launch_contexts).where(launch_contexts.c.launch_hash == _hash(request.launch))
        )

    def refuse(description: str) -> RedirectError:
        return RedirectError("invalid_request", description, request.redirect_uri, request.state)

    if row is None or row.expires < time.time():
        raise refuse("the launch is unknown, used or expired")
    if row.client_id is not None and row.client_id != request.client_id:
        raise refuse("the launch was for another app")
    if row.issued_by != subject:
        raise refuse("the launch was started by another user")
    return str(row.patient)


def issue_code(engine: Engine, request: AuthorizeRequest, subject: str, patient: str | None = None) -> str:
    """A one-time code for the logged-in ``subject`` (only its hash is stored)."""
    code = secrets.token_urlsafe(32)
    now = int(time.time())
    scope = scope_for(request, subject, patient)
    with writer(engine).begin() as connection:
        connection.execute(delete(authorization_codes).where(authorization_codes.c.expires < now))
        connection.execute(
            authorization_codes.insert().values(
                code_hash=_hash(code),
                client_id=request.client_id,
                redirect_uri=request.redirect_uri,
                subject=subject,
                scope=scope,
                challenge=request.challenge,
                expires=now + CODE_SECONDS,
                patient=patient,
                nonce=request.nonce,
            )
        )
    return code


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """What an exchanged code stood for."""

    client: AppClient
    subject: str
    scope: str
    patient: str | None
    nonce: str | None


def authenticate_app(
    engine: Engine,
    form: dict[str, str],
    authorization: str | None,
    token_endpoint: str,
    jwks_cache: JwksCache,
) -> AppClient:
    """The app calling the token endpoint, authenticated as its registration says: ``client_id``
    alone (public), HTTP Basic or ``client_secret`` in the body (symmetric), or a
    ``client_assertion`` (asymmetric)."""
    basic_id, basic_secret = _basic(authorization)
    assertion = form.get("client_assertion")
    if assertion is not None:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError("invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}", 401)
        client_id = unverified_issuer(assertion)
    else:
        client_id = basic_id or form.get("client_id", "")
    client = app_client(engine, client_id)
    if client is None:
        raise OAuthError("invalid_client", "unknown client", 401)
    if form.get("client_id") not in (None, client.client_id):
        raise OAuthError("invalid_client", "client_id does not match the client's authentication", 401)
    if client.auth_method == PUBLIC:
        if assertion is not None or basic_secret is not None:
            raise OAuthError("invalid_client", "this app is public: it sends its client_id only", 401)
        return client
    if client.auth_method == SECRET:
        secret = basic_secret if basic_secret is not None else form.get("client_secret")
        if secret is None or client.secret_hash is None or not password_matches(client.secret_hash, secret):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client
    if assertion is None:
        raise OAuthError(
            "invalid_client", "this app authenticates with a client_assertion (private_key_jwt)", 401
        )
    verify_assertion(engine, assertion, client.client_id, client.keys, token_endpoint, jwks_cache)
    return client


def _basic(authorization: str | None) -> tuple[str | None, str | None]:
    if not authorization or not authorization.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", 401) from None
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", 401)
    return unquote_plus(client_id), unquote_plus(secret)


def redeem_code(engine: Engine, form: dict[str, str], client: AppClient) -> CodeGrant:
    """Use up the code of ``grant_type=authorization_code`` (whatever the outcome) and check it."""
    code_hash = _hash(form.get("code", ""))
    with writer(engine).begin() as connection:
        row = connection.execute(
            select(authorization_codes).where(authorization_codes.c.code_hash == code_hash)
        ).first()
        connection.execute(delete(authorization_codes).where(authorization_codes.c.code_hash == code_hash))
    if row is None or row.expires < time.time():
        raise OAuthError("invalid_grant", "the code is unknown, used or expired")
    if client.client_id != row.client_id or form.get("redirect_uri") != row.redirect_uri:
        raise OAuthError(
            "invalid_grant", "client_id and redirect_uri must be those of the authorization request"
        )
    verifier = form.get("code_verifier", "")
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    if not _VERIFIER.match(verifier) or not secrets.compare_digest(computed, row.challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge (PKCE)")
    return CodeGrant(client, row.subject, row.scope, row.patient, row.nonce)
