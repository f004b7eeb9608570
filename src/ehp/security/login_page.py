"""The login page of SMART App Launch: ``GET /auth/authorize`` shows it, ``POST`` logs in.

The page carries the validated authorization request in hidden fields; a successful login
redirects to the app with a one-time code, a failed one shows the page again (401) and is
audited as a failed login. Errors the app must hear (a bad scope, no PKCE...) are sent to its
registered redirect URI; errors before that URI is trusted are shown on the page.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ehp.security.app_launch import AuthorizeRequest, RedirectError, check_authorize, issue_code
from ehp.security.authenticator import IssuerSettings
from ehp.security.backend_services import OAuthError
from ehp.security.throttle import clear, keys_of, locked_for, record_failure
from ehp.security.users import authenticate

REQUEST_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "aud",
    "code_challenge",
    "code_challenge_method",
)
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'",
}

FailedLogin = Callable[[str | None, str], None]
"""Audits a failed login: (source address, reason)."""


def _page(params: dict[str, str], granted: AuthorizeRequest, message: str = "") -> str:
    hidden = "\n".join(
        f'<input type="hidden" name="{name}" value="{escape(params.get(name, ""))}">'
        for name in REQUEST_FIELDS
    )
    notice = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>EHP: log in</title></head>
<body>
<main>
<h1>Electronic health passport</h1>
<p>The application <strong>{escape(granted.client_id)}</strong> asks for access:
<code>{escape(granted.scope)}</code></p>
{notice}
<form method="post" action="/auth/authorize">
{hidden}
<label>User name <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in and allow</button>
</form>
</main>
</body></html>
"""


def _error_page(failure: OAuthError) -> Response:
    body = f"<!doctype html><title>EHP: error</title><h1>Cannot log in</h1><p>{escape(str(failure))}</p>"
    return HTMLResponse(body, status_code=400, headers=_HEADERS)


def _back_to_app(failure: RedirectError) -> Response:
    query = urlencode({"error": failure.code, "error_description": str(failure), "state": failure.state})
    return RedirectResponse(f"{failure.redirect_uri}?{query}", status_code=302)


def launch_routes(engine: Engine, settings: IssuerSettings, failed_login: FailedLogin) -> list[Route]:
    async def authorize_page(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            granted = await run_in_threadpool(check_authorize, engine, params, settings.audience)
        except RedirectError as failure:
            return _back_to_app(failure)
        except OAuthError as failure:
            return _error_page(failure)
        return HTMLResponse(_page(params, granted), headers=_HEADERS)

    async def log_in(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        params = {name: form.get(name, "") for name in REQUEST_FIELDS}
        try:
            granted = await run_in_threadpool(check_authorize, engine, params, settings.audience)
        except RedirectError as failure:
            return _back_to_app(failure)
        except OAuthError as failure:
            return _error_page(failure)
        username = form.get("username", "")
        address = request.client.host if request.client else None
        keys = keys_of(username, address)
        wait = await run_in_threadpool(locked_for, engine, keys)
        if wait > 0:
            failed_login(address, f"login for '{username[:100]}' refused: locked after failed attempts")
            minutes = max(1, (wait + 59) // 60)
            message = f"Too many failed attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}."
            page = _page(params, granted, message)
            return HTMLResponse(page, status_code=429, headers={**_HEADERS, "Retry-After": str(wait)})
        subject = await run_in_threadpool(authenticate, engine, username, form.get("password", ""))
        if subject is None:
            await run_in_threadpool(record_failure, engine, keys)
            failed_login(address, f"wrong password for '{username[:100]}'")
            page = _page(params, granted, "Wrong user name or password.")
            return HTMLResponse(page, status_code=401, headers=_HEADERS)
        await run_in_threadpool(clear, engine, username)
        code = await run_in_threadpool(issue_code, engine, granted, subject)
        query = urlencode({"code": code, "state": granted.state})
        return RedirectResponse(f"{granted.redirect_uri}?{query}", status_code=302)

    return [
        Route("/auth/authorize", authorize_page, methods=["GET"]),
        Route("/auth/authorize", log_in, methods=["POST"]),
    ]
