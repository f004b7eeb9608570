"""The sign-in of EHP's web pages: ``/auth/signin``, ``/auth/signin/{provider}``, ``/auth/callback``
and ``/auth/signout``.

``GET /auth/signin?return_to=/passport`` offers each trusted identity provider that allows sign-in
(a button each) and EHP's own user names and passwords (throttled as the SMART log-in is). A
provider's button starts the OpenID Connect flow (:mod:`ehp.security.sign_in`): what it sent (state,
nonce, PKCE verifier, where to return) rides in a short-lived signed cookie until the provider
sends the browser back to ``/auth/callback``. A proven user gets a page session
(:mod:`ehp.security.sessions`) and goes back where they were; ``return_to`` is only ever a path of
this site. A failed sign-in is shown (401) and audited as a failed login.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from html import escape
from urllib.parse import parse_qsl, urlencode

import jwt
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ehp.security.authenticator import Authenticator
from ehp.security.keys import all_keys, signing_key
from ehp.security.page_text import PAGE_HEADERS, document, language_of
from ehp.security.page_text import text as _t
from ehp.security.sessions import (
    clear_session,
    close_session,
    current_session,
    from_own_origin,
    open_session,
    set_session,
)
from ehp.security.sign_in import Attempt, RelyingParty, SignInError
from ehp.security.throttle import LockedOut, checked_login
from ehp.security.tokens import EHP_ALGORITHM

ATTEMPT_COOKIE = "ehp_signin"
ATTEMPT_AUDIENCE = "urn:ehp:sign-in"
ATTEMPT_SECONDS = 600
DEFAULT_RETURN = "/passport"
CALLBACK_PATH = "/auth/callback"

FailedLogin = Callable[[str | None, str], None]


def safe_return(target: str | None) -> str:
    """``target`` if it is a path of this site, else the passport index (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 4000:
        return DEFAULT_RETURN
    if any(ord(character) < 32 for character in target):
        return DEFAULT_RETURN
    return target


def sign_in_link(return_to: str, language: str) -> str:
    return f"/auth/signin?{urlencode({'return_to': return_to, 'lang': language})}"


def sign_in_routes(
    engine: Engine, authenticator: Authenticator, relying_party: RelyingParty, failed_login: FailedLogin
) -> list[Route]:
    settings = authenticator.settings

    def site(request: Request) -> str:
        for base in settings.public_base_urls:
            return base.removesuffix("/fhir")
        return f"{request.url.scheme}://{request.url.netloc}"

    def page(language: str, return_to: str, message: str = "", status: int = 200, who: str = "") -> Response:
        parts = [f"<h2>{escape(_t(language, 'sign-in'))}</h2>"]
        if message:
            parts.append(f'<p class="error" role="alert">{escape(message)}</p>')
        if who:
            parts.append(f"<p>{escape(_t(language, 'signed-in-as', who=who))}</p>")
            onward = escape(_t(language, "continue"))
            parts.append(f'<p><a class="button" href="{escape(return_to)}">{onward}</a></p>')
            parts.append(
                f'<form method="post" action="/auth/signout?lang={language}">'
                f'<button type="submit">{escape(_t(language, "sign-out"))}</button></form>'
            )
        for provider, issuer in relying_party.providers.items():
            assert issuer.sign_in is not None
            query = urlencode({"return_to": return_to, "lang": language})
            label = _t(language, "sign-in-with", name=issuer.sign_in.name)
            link = f"/auth/signin/{provider}?{query}"
            parts.append(f'<p><a class="button" href="{escape(link)}">{escape(label)}</a></p>')
        if relying_party.providers:
            parts.append(f"<h3>{escape(_t(language, 'or-password'))}</h3>")
        parts.append(f"""<form method="post" action="/auth/signin?lang={language}">
<input type="hidden" name="return_to" value="{escape(return_to)}">
<label>{escape(_t(language, "username"))}
<input name="username" autocomplete="username" required></label>
<label>{escape(_t(language, "password"))}
<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">{escape(_t(language, "sign-in"))}</button>
</form>""")
        body = document(language, _t(language, "sign-in"), "\n".join(parts))
        return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)

    def signed_in(request: Request, subject: str, return_to: str, provider: str | None) -> Response:
        token = open_session(engine, settings, subject, provider)
        response = RedirectResponse(return_to, status_code=303, headers=PAGE_HEADERS)
        set_session(response, request, token)
        response.delete_cookie(ATTEMPT_COOKIE, path="/auth")
        return response

    def attempt_ticket(attempt: Attempt, return_to: str, language: str) -> str:
        key = signing_key(engine)
        now = int(time.time())
        claims = {
            "aud": ATTEMPT_AUDIENCE,
            "provider": attempt.provider,
            "state": attempt.state,
            "nonce": attempt.nonce,
            "verifier": attempt.verifier,
            "return_to": return_to,
            "lang": language,
            "iat": now,
            "exp": now + ATTEMPT_SECONDS,
        }
        return jwt.encode(claims, key.private_key, algorithm=EHP_ALGORITHM, headers={"kid": key.kid})

    def read_attempt(ticket: str | None) -> tuple[Attempt, str, str]:
        if not ticket:
            raise SignInError("this browser did not start a sign-in here (or it took over 10 minutes)")
        try:
            kid = jwt.get_unverified_header(ticket).get("kid")
            key = next(k for k in all_keys(engine) if k.kid == kid)
            claims = jwt.decode(
                ticket, key.private_key.public_key(), algorithms=[EHP_ALGORITHM], audience=ATTEMPT_AUDIENCE
            )
            attempt = Attempt(
                str(claims["provider"]), str(claims["state"]), str(claims["nonce"]), str(claims["verifier"])
            )
        except (jwt.InvalidTokenError, StopIteration, KeyError):
            raise SignInError("the sign-in expired or was tampered with: start again") from None
        return attempt, safe_return(str(claims.get("return_to"))), str(claims.get("lang", "ru"))

    async def show(request: Request) -> Response:
        language = language_of(request)
        return_to = safe_return(request.query_params.get("return_to"))
        session = await run_in_threadpool(current_session, authenticator, request)
        return page(language, return_to, who=session.subject if session else "")

    async def with_password(request: Request) -> Response:
        language = language_of(request)
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        return_to = safe_return(form.get("return_to"))
        username = form.get("username", "")
        address = request.client.host if request.client else None
        try:
            password = form.get("password", "")
            subject = await run_in_threadpool(checked_login, engine, username, password, address)
        except LockedOut as locked:
            failed_login(address, f"sign-in for '{username[:100]}' refused: locked after failed attempts")
            message = _t(language, "locked", minutes=max(1, (locked.wait + 59) // 60))
            answer = page(language, return_to, message, 429)
            answer.headers["Retry-After"] = str(locked.wait)
            return answer
        if subject is None:
            failed_login(address, f"wrong password for '{username[:100]}'")
            return page(language, return_to, _t(language, "wrong"), 401)
        return await run_in_threadpool(signed_in, request, subject, return_to, None)

    async def start(request: Request) -> Response:
        language = language_of(request)
        return_to = safe_return(request.query_params.get("return_to"))
        provider = request.path_params["provider"]
        attempt = Attempt.new(provider)
        try:
            target = await run_in_threadpool(
                relying_party.authorization_url, attempt, site(request) + CALLBACK_PATH, language
            )
        except SignInError as failure:
            status = 502 if provider in relying_party.providers else 404
            return page(language, return_to, f"{_t(language, 'failed')}: {failure}", status)
        response = RedirectResponse(target, status_code=302, headers=PAGE_HEADERS)
        response.set_cookie(
            ATTEMPT_COOKIE,
            attempt_ticket(attempt, return_to, language),
            max_age=ATTEMPT_SECONDS,
            path="/auth",
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",
        )
        return response

    async def callback(request: Request) -> Response:
        language = language_of(request)
        address = request.client.host if request.client else None
        return_to = DEFAULT_RETURN
        try:
            attempt, return_to, language = read_attempt(request.cookies.get(ATTEMPT_COOKIE))
            language = request.query_params.get("lang", language)
            language = language if language in ("kk", "ru", "en") else "ru"
            if request.query_params.get("state") != attempt.state:
                raise SignInError("the provider's answer is not for this sign-in (state differs)")
            error = request.query_params.get("error")
            if error:
                described = request.query_params.get("error_description", "")
                raise SignInError(f"the provider said {error[:40]}: {described[:100]}")
            code = request.query_params.get("code")
            if not code:
                raise SignInError("the provider sent no code")
            who = await run_in_threadpool(relying_party.finish, attempt, code, site(request) + CALLBACK_PATH)
        except SignInError as failure:
            failed_login(address, f"sign-in through an identity provider failed: {failure}")
            answer = page(language, return_to, f"{_t(language, 'failed')}: {failure}", 401)
            answer.delete_cookie(ATTEMPT_COOKIE, path="/auth")
            return answer
        return await run_in_threadpool(signed_in, request, who.subject, return_to, who.issuer)

    async def sign_out(request: Request) -> Response:
        language = language_of(request)
        if not from_own_origin(request):
            return page(language, DEFAULT_RETURN, _t(language, "cross-site"), 403)
        session = await run_in_threadpool(current_session, authenticator, request)
        if session is not None:
            await run_in_threadpool(close_session, engine, settings, session)
        response = RedirectResponse(f"/auth/signin?lang={language}", status_code=303, headers=PAGE_HEADERS)
        clear_session(response)
        return response

    return [
        Route("/auth/signin", show, methods=["GET"]),
        Route("/auth/signin", with_password, methods=["POST"]),
        Route("/auth/signin/{provider}", start, methods=["GET"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
        Route("/auth/signout", sign_out, methods=["POST"]),
    ]
