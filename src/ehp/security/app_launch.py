"""SMART App Launch (standalone): authorization code with PKCE, for people using an app.

1. The app sends the user to ``GET /auth/authorize?response_type=code&client_id=...&redirect_uri=
   ...&scope=...&state=...&aud=<FHIR base>&code_challenge=...&code_challenge_method=S256``.
2. The server shows its login page; the user logs in (``POST /auth/authorize``, see
   :mod:`ehp.security.login_page`) and is sent back to ``redirect_uri?code=...&state=...``.
3. The app exchanges the code at ``POST /auth/token`` (``grant_type=authorization_code``, ``code``,
   ``redirect_uri``, ``client_id``, ``code_verifier``) for an access token of the user's subject,
   with the requested scopes its registration allows; ``patient`` names the citizen for a
   Patient user. Codes live 60 seconds and are used once; PKCE (S256) is required.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, select

from ehp.scopes import ScopeError, Scopes, parse_scope
from ehp.security.backend_services import OAuthError, within
from ehp.security.keys import signing_key
from ehp.security.launch_schema import app_clients, authorization_codes
from ehp.security.tokens import issue_token
from ehp.store.database import writer

CODE_SECONDS = 60
TOKEN_SECONDS = 3600
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scope: str
    """The scopes granted: those asked for that the app's registration allows."""
    state: str
    challenge: str


class RedirectError(OAuthError):
    """An error told to the app at its (verified) redirect URI, not shown on the page."""

    def __init__(self, code: str, description: str, redirect_uri: str, state: str) -> None:
        super().__init__(code, description)
        self.redirect_uri = redirect_uri
        self.state = state


def register_app(engine: Engine, client_id: str, redirect_uris: list[str], scope: str) -> None:
    """Register (or replace) a SMART app: a public client with its redirect URIs."""
    Scopes.parse(scope)
    if not redirect_uris or any(
        not uri.startswith(("https://", "http://")) or " " in uri for uri in redirect_uris
    ):
        raise ValueError("an app needs at least one http(s) redirect URI")
    with writer(engine).begin() as connection:
        connection.execute(delete(app_clients).where(app_clients.c.client_id == client_id))
        connection.execute(
            app_clients.insert().values(
                client_id=client_id,
                redirect_uris=" ".join(redirect_uris),
                scope=scope,
                created=int(time.time()),
            )
        )


def check_authorize(engine: Engine, params: dict[str, str], audience: str) -> AuthorizeRequest:
    """Validate an authorization request. Errors before the redirect URI is trusted are page
    errors (:class:`OAuthError`); after, they go back to the app (:class:`RedirectError`)."""
    client_id = params.get("client_id", "")
    with engine.connect() as connection:
        row = connection.execute(select(app_clients).where(app_clients.c.client_id == client_id)).first()
    if row is None:
        raise OAuthError("invalid_client", f"unknown app '{client_id}'")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in row.redirect_uris.split():
        raise OAuthError("invalid_request", "redirect_uri is not one registered for this app")
    state = params.get("state", "")

    def refuse(code: str, description: str) -> RedirectError:
        return RedirectError(code, description, redirect_uri, state)

    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "response_type must be 'code'")
    if params.get("aud") != audience:
        raise refuse("invalid_request", f"aud must be this FHIR server ({audience})")
    if params.get("code_challenge_method") != "S256" or not _CHALLENGE.match(
        params.get("code_challenge", "")
    ):
        raise refuse("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256")
    return AuthorizeRequest(
        client_id,
        redirect_uri,
        _granted(row.scope, params.get("scope", ""), refuse),
        state,
        params["code_challenge"],
    )


def _granted(allowed_text: str, requested: str, refuse: Any) -> str:
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
        raise refuse("invalid_scope", f"none of the scopes '{requested}' is allowed for this app")
    return " ".join(granted)


def issue_code(engine: Engine, request: AuthorizeRequest, subject: str) -> str:
    """A one-time code for the logged-in ``subject`` (only its hash is stored)."""
    code = secrets.token_urlsafe(32)
    now = int(time.time())
    with writer(engine).begin() as connection:
        connection.execute(delete(authorization_codes).where(authorization_codes.c.expires < now))
        connection.execute(
            authorization_codes.insert().values(
                code_hash=hashlib.sha256(code.encode()).hexdigest(),
                client_id=request.client_id,
                redirect_uri=request.redirect_uri,
                subject=subject,
                scope=request.scope,
                challenge=request.challenge,
                expires=now + CODE_SECONDS,
            )
        )
    return code


def exchange_code(engine: Engine, form: dict[str, str], *, issuer: str, audience: str) -> dict[str, Any]:
    """Answer ``grant_type=authorization_code``: the code is used up whatever the outcome."""
    code_hash = hashlib.sha256(form.get("code", "").encode()).hexdigest()
    with writer(engine).begin() as connection:
        row = connection.execute(
            select(authorization_codes).where(authorization_codes.c.code_hash == code_hash)
        ).first()
        connection.execute(delete(authorization_codes).where(authorization_codes.c.code_hash == code_hash))
    if row is None or row.expires < time.time():
        raise OAuthError("invalid_grant", "the code is unknown, used or expired")
    if form.get("client_id") != row.client_id or form.get("redirect_uri") != row.redirect_uri:
        raise OAuthError(
            "invalid_grant", "client_id and redirect_uri must be those of the authorization request"
        )
    verifier = form.get("code_verifier", "")
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    if not _VERIFIER.match(verifier) or not secrets.compare_digest(computed, row.challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge (PKCE)")
    key = signing_key(engine)
    token = issue_token(
        key.private_key,
        key.kid,
        issuer=issuer,
        audience=audience,
        subject=row.subject,
        scope=row.scope,
        ttl_seconds=TOKEN_SECONDS,
    )
    answer: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": TOKEN_SECONDS,
        "scope": row.scope,
    }
    if row.subject.startswith("Patient/"):
        answer["patient"] = row.subject.removeprefix("Patient/")
    return answer
