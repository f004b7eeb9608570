"""Sessions of EHP's web pages: a signed-in browser holds an EHP access token in a cookie.

After a sign-in (a user name and password, or a trusted identity provider) EHP's issuer signs an
ordinary access token for the user, for a work shift (8 hours), with the scopes of the pages
(``user/*.rs`` for staff, ``patient/*.rs`` for a citizen) and, after an external sign-in, the
provider in ``idp``. The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (no other
site's form or script sends it) and ``Secure`` over HTTPS. Only the pages read it: the FHIR API
takes tokens from the ``Authorization`` header alone, so a cookie never authorises an API call.
A form the pages accept with the cookie must also come from their own origin (``Origin`` or
``Sec-Fetch-Site``), and signing out revokes the token at once.
"""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from ehp.security.authenticator import Authenticator, IssuerSettings
from ehp.security.keys import signing_key
from ehp.security.revocation import revoke_token
from ehp.security.tokens import TokenError, VerifiedToken, issue_token

SESSION_COOKIE = "ehp_session"
SESSION_SECONDS = 8 * 3600


def page_scope(subject: str) -> str:
    return "patient/*.rs" if subject.startswith("Patient/") else "user/*.rs"


def open_session(
    engine: Engine, settings: IssuerSettings, subject: str, identity_provider: str | None = None
) -> str:
    """The session token of a user who just signed in."""
    key = signing_key(engine)
    return issue_token(
        key.private_key,
        key.kid,
        issuer=settings.issuer,
        audience=settings.audience,
        subject=subject,
        scope=page_scope(subject),
        ttl_seconds=SESSION_SECONDS,
        identity_provider=identity_provider,
    )


def close_session(engine: Engine, settings: IssuerSettings, session: VerifiedToken) -> None:
    jti = session.claims.get("jti")
    if isinstance(jti, str):
        revoke_token(engine, settings.issuer, jti, int(session.claims["exp"]))


def session_cookie(request: Request) -> str | None:
    value = request.cookies.get(SESSION_COOKIE)
    return value or None


def current_session(authenticator: Authenticator, request: Request) -> VerifiedToken | None:
    """The browser's live page session, if it has one."""
    cookie = session_cookie(request)
    if cookie is None:
        return None
    try:
        return authenticator.verify(f"Bearer {cookie}")
    except TokenError:
        return None


def page_credentials(request: Request) -> tuple[str | None, bool]:
    """The ``Authorization`` value a page request carries, and whether it came from the cookie
    (a bearer header, which scripts and tests send, wins)."""
    header = request.headers.get("authorization")
    if header:
        return header, False
    cookie = session_cookie(request)
    return (f"Bearer {cookie}", True) if cookie else (None, False)


def from_own_origin(request: Request) -> bool:
    """Whether a form post was sent by EHP's own pages (a cross-site request forgery is not)."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == f"{request.url.scheme}://{request.url.netloc}"
    return request.headers.get("sec-fetch-site") == "same-origin"


def set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
