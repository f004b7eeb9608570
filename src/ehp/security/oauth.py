"""The token endpoint's grants, introspection (RFC 7662) and revocation (RFC 7009).

``POST /auth/token`` answers three grants: ``authorization_code`` (SMART App Launch),
``refresh_token`` (rotated, :mod:`ehp.security.refresh`) and ``client_credentials`` (Backend
Services). Apps get an OpenID Connect ``id_token`` when they asked ``openid``: signed by EHP's
issuer key (ES256), ``aud`` the app, with ``fhirUser`` (the user's absolute FHIR URL) and the
``nonce`` of the authorization request.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import Engine

from ehp.scopes import ScopeError, Scopes
from ehp.security.app_launch import (
    PUBLIC,
    TOKEN_SECONDS,
    AppClient,
    authenticate_app,
    redeem_code,
)
from ehp.security.assertions import ASSERTION_TYPE, OAuthError, unverified_issuer, verify_assertion
from ehp.security.authenticator import Authenticator
from ehp.security.backend_services import backend_client, exchange
from ehp.security.keys import signing_key
from ehp.security.refresh import (
    issue_refresh,
    refresh_client,
    refresh_info,
    revoke_refresh,
    use_refresh,
)
from ehp.security.revocation import revoke_token
from ehp.security.tokens import EHP_ALGORITHM, LEEWAY_SECONDS, MAX_TOKEN_CHARACTERS, TokenError, issue_token

ID_TOKEN_SECONDS = 3600
INTROSPECTED_CLAIMS = ("iss", "aud", "exp", "iat", "client_id", "patient", "fhirUser")
PEOPLE = ("Patient/", "Practitioner/", "PractitionerRole/")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a request to the authorization server came: its token endpoint and FHIR base."""

    token_url: str
    fhir_base: str


class OAuthServer:
    def __init__(self, engine: Engine, authenticator: Authenticator) -> None:
        self._engine = engine
        self._authenticator = authenticator
        self._settings = authenticator.settings

    def token(self, form: dict[str, str], authorization: str | None, endpoint: Endpoint) -> dict[str, Any]:
        grant = form.get("grant_type")
        if grant == "client_credentials":
            return exchange(
                self._engine,
                form,
                endpoint.token_url,
                issuer=self._settings.issuer,
                audience=self._settings.audience,
                jwks_cache=self._authenticator.jwks_cache,
            )
        if grant not in ("authorization_code", "refresh_token"):
            raise OAuthError(
                "unsupported_grant_type",
                "grant_type must be authorization_code, refresh_token or client_credentials",
            )
        if not self._authenticator.embedded:
            raise OAuthError("unsupported_grant_type", "this server's users sign in at the external provider")
        if grant == "refresh_token" and not _authenticates(form, authorization):
            # a public app may refresh with the token alone (RFC 6749 §6): the token names its app
            held = refresh_client(self._engine, form.get("refresh_token", ""))
            if held is None:
                raise OAuthError("invalid_grant", "the refresh token is unknown, expired or revoked")
            form = {**form, "client_id": held}
        client = authenticate_app(
            self._engine, form, authorization, endpoint.token_url, self._authenticator.jwks_cache
        )
        if grant == "authorization_code":
            code = redeem_code(self._engine, form, client)
            return self._answer(client, code.subject, code.scope, code.patient, code.nonce, endpoint)
        live = refresh_info(self._engine, form.get("refresh_token", ""))
        if live is not None:
            _narrowed(live.scope, form.get("scope"))  # a refused scope must not spend the token
        used = use_refresh(
            self._engine, form.get("refresh_token", ""), client.client_id, self._settings.issuer
        )
        scope = _narrowed(used.scope, form.get("scope"))
        return self._answer(
            client, used.subject, scope, used.patient, None, endpoint, family=(used.family, used.expires)
        )

    def _answer(
        self,
        client: AppClient,
        subject: str,
        scope: str,
        patient: str | None,
        nonce: str | None,
        endpoint: Endpoint,
        family: tuple[str, int] | None = None,
    ) -> dict[str, Any]:
        key = signing_key(self._engine)
        answer: dict[str, Any] = {
            "access_token": issue_token(
                key.private_key,
                key.kid,
                issuer=self._settings.issuer,
                audience=self._settings.audience,
                subject=subject,
                scope=scope,
                ttl_seconds=TOKEN_SECONDS,
                client_id=client.client_id,
                patient=patient,
            ),
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": scope,
        }
        if patient is not None:
            answer["patient"] = patient
            answer["need_patient_banner"] = True
        elif subject.startswith("Patient/"):
            answer["patient"] = subject.removeprefix("Patient/")
        words = scope.split()
        if "openid" in words and ("fhirUser" in words or "profile" in words):
            claims: dict[str, Any] = {
                "iss": self._settings.issuer,
                "sub": subject,
                "aud": client.client_id,
                "iat": int(time.time()),
                "exp": int(time.time()) + ID_TOKEN_SECONDS,
                "jti": str(uuid.uuid4()),
            }
            if subject.startswith(PEOPLE):
                claims["fhirUser"] = f"{endpoint.fhir_base}/{subject}"
            if nonce is not None:
                claims["nonce"] = nonce
            answer["id_token"] = jwt.encode(
                claims, key.private_key, algorithm=EHP_ALGORITHM, headers={"kid": key.kid}
            )
        refresh = issue_refresh(
            self._engine,
            client.client_id,
            subject,
            scope,
            patient,
            family=family[0] if family else None,
            expires=family[1] if family else None,
        )
        if refresh is not None:
            answer["refresh_token"] = refresh
        return answer

    def introspect(
        self, form: dict[str, str], authorization: str | None, endpoint: Endpoint
    ) -> dict[str, Any]:
        """RFC 7662, for registered clients only: Backend Services clients and confidential apps."""
        self._introspecting_client(form, authorization, endpoint)
        token = form.get("token", "")
        if not token or len(token) > MAX_TOKEN_CHARACTERS:
            return {"active": False}
        if form.get("token_type_hint") != "refresh_token":
            try:
                verified = self._authenticator.verify(f"Bearer {token}")
            except TokenError:
                verified = None
            if verified is not None:
                claims = verified.claims
                answer: dict[str, Any] = {
                    "active": True,
                    "scope": verified.scopes.text,
                    "sub": verified.subject,
                    "token_type": "Bearer",
                }
                answer.update((name, claims[name]) for name in INTROSPECTED_CLAIMS if name in claims)
                return answer
        grant = refresh_info(self._engine, token)
        if grant is None:
            return {"active": False}
        return {
            "active": True,
            "scope": grant.scope,
            "client_id": grant.client_id,
            "sub": grant.subject,
            "exp": grant.expires,
            "iat": grant.issued,
            "token_type": "refresh_token",
            **({"patient": grant.patient} if grant.patient else {}),
        }

    def _introspecting_client(
        self, form: dict[str, str], authorization: str | None, endpoint: Endpoint
    ) -> None:
        assertion = form.get("client_assertion")
        if assertion is not None and form.get("client_assertion_type") == ASSERTION_TYPE:
            backend = backend_client(self._engine, unverified_issuer(assertion))
            if backend is not None:
                verify_assertion(
                    self._engine,
                    assertion,
                    backend.client_id,
                    backend.keys,
                    endpoint.token_url,
                    self._authenticator.jwks_cache,
                )
                return
        if assertion is None and not (authorization or "").lower().startswith("basic "):
            raise OAuthError("invalid_client", "introspection is for registered clients: authenticate", 401)
        client = authenticate_app(
            self._engine, form, authorization, endpoint.token_url, self._authenticator.jwks_cache
        )
        if client.auth_method == PUBLIC:
            raise OAuthError("invalid_client", "public apps cannot introspect tokens", 401)

    def revoke(self, form: dict[str, str]) -> None:
        """RFC 7009: whoever holds a token may revoke it; nothing is told about the token."""
        token = form.get("token", "")
        if not token or len(token) > MAX_TOKEN_CHARACTERS:
            return
        if form.get("token_type_hint") != "access_token" and revoke_refresh(self._engine, token):
            return
        try:
            verified = self._authenticator.verify(f"Bearer {token}")
        except TokenError:
            return  # unknown, expired or already revoked: nothing to do
        jti = verified.claims.get("jti")
        if isinstance(jti, str) and verified.claims.get("iss") == self._settings.issuer:
            revoke_token(
                self._engine, self._settings.issuer, jti, int(verified.claims["exp"]) + LEEWAY_SECONDS
            )


def _authenticates(form: dict[str, str], authorization: str | None) -> bool:
    return bool(form.get("client_id") or form.get("client_assertion") or authorization)


def _narrowed(granted: str, asked: str | None) -> str:
    """A refresh may ask for fewer scopes than the family holds, never more."""
    if not asked:
        return granted
    held = set(granted.split())
    wanted = asked.split()
    try:
        Scopes.parse(asked)
    except ScopeError as failure:
        raise OAuthError("invalid_scope", str(failure)) from None
    wider = [scope for scope in wanted if scope not in held]
    if wider:
        raise OAuthError("invalid_scope", f"a refresh cannot add scopes: {' '.join(wider)[:200]}")
    return " ".join(wanted)
