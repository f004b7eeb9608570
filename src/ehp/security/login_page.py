"""The pages of SMART App Launch: log in (``GET``/``POST /auth/authorize``) and pick the patient
(``POST /auth/authorize/patient``).

The login page carries the validated authorization request in hidden fields. After a good login:

- an EHR launch (``launch=...``) takes its patient from the launch, for the user who started it;
- ``launch/patient`` shows the patient picker: a practitioner searches among the patients they
  have a legal basis for (the search runs as they would run it, filtered and audited); a citizen
  who represents nobody is their own patient at once. The picker's form holds a signed ticket
  (ES256, 10 minutes) of who logged in and what was asked, so nothing in it can be forged;
- otherwise there is no patient in context.

Then the user is sent to the app with a one-time code. A failed login shows the page again (401)
and is audited; errors the app must hear (a bad scope, no PKCE...) go to its registered redirect
URI, errors before that URI is trusted are shown on the page. The pages speak Kazakh, Russian and
English, chosen by ``Accept-Language`` (or ``?lang=``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qsl, urlencode

import jwt
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ehp.security.app_launch import (
    AuthorizeRequest,
    RedirectError,
    check_authorize,
    issue_code,
    take_launch,
)
from ehp.security.assertions import OAuthError
from ehp.security.authenticator import IssuerSettings
from ehp.security.keys import all_keys, signing_key
from ehp.security.page_text import PAGE_HEADERS, document, language_of
from ehp.security.page_text import text as _t
from ehp.security.sessions import from_own_origin
from ehp.security.throttle import LockedOut, checked_login
from ehp.security.tokens import EHP_ALGORITHM

REQUEST_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "aud",
    "code_challenge",
    "code_challenge_method",
    "launch",
    "nonce",
)
TICKET_AUDIENCE = "urn:ehp:patient-picker"
TICKET_SECONDS = 600
PICKER_SIZE = 20

FailedLogin = Callable[[str | None, str], None]
"""Audits a failed login: (source address, reason)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A patient the picker offers."""

    id: str
    name: str
    iin: str
    born: str


@dataclass(frozen=True, slots=True)
class PatientDirectory:
    """The patients a user may open, found as that user would find them (filtered, audited)."""

    search: Callable[[str, str, str], list[Candidate]]
    """``(subject, text, language)``: those whose name or IIN matches (an empty text: the first few)."""
    get: Callable[[str, str, str], Candidate | None]
    """``(subject, patient id, language)``: that patient, if the subject may open them."""


def _hidden(params: dict[str, str]) -> str:
    return "\n".join(
        f'<input type="hidden" name="{name}" value="{escape(params.get(name, ""))}">'
        for name in REQUEST_FIELDS
        if params.get(name)
    )


def _login_page(
    language: str,
    params: dict[str, str],
    granted: AuthorizeRequest,
    message: str = "",
    providers: Sequence[tuple[str, str]] = (),
    who: str | None = None,
) -> str:
    """The log-in form; with ``who`` (a page session) a "continue as" button first, and a button
    for each identity provider users may sign in with (they come back here signed in)."""
    notice = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    action = f"/auth/authorize?lang={language}"
    parts = [
        f"""<p>{escape(_t(language, "asks"))} <strong>{escape(granted.client_id)}</strong>:
<code>{escape(granted.scope)}</code></p>""",
        notice,
    ]
    if who:
        parts.append(f"""<form method="post" action="{action}">
{_hidden(params)}
<input type="hidden" name="session" value="1">
<button type="submit">{escape(_t(language, "continue-as", who=who))}</button>
</form>""")
    here = "/auth/authorize?" + urlencode({name: params[name] for name in REQUEST_FIELDS if params.get(name)})
    for provider, name in providers:
        link = f"/auth/signin/{provider}?" + urlencode({"return_to": here, "lang": language})
        label = _t(language, "sign-in-with", name=name)
        parts.append(f'<p><a class="button" href="{escape(link)}">{escape(label)}</a></p>')
    if who or providers:
        parts.append(f"<h2>{escape(_t(language, 'or-password'))}</h2>")
    parts.append(f"""<form method="post" action="{action}">
{_hidden(params)}
<label>{escape(_t(language, "username"))}
<input name="username" autocomplete="username" required></label>
<label>{escape(_t(language, "password"))}
<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">{escape(_t(language, "log-in"))}</button>
</form>""")
    return document(language, _t(language, "title"), "\n".join(parts))


def _picker_page(language: str, ticket: str, text: str, candidates: list[Candidate]) -> str:
    def item(candidate: Candidate) -> str:
        name = candidate.name or f"Patient/{candidate.id}"
        facts = [
            f"{_t(language, key)}: {value}"
            for key, value in (("iin", candidate.iin), ("born", candidate.born))
            if value
        ]
        details = f"<br>{escape(' · '.join(facts))}" if facts else ""
        return f"""<li><form method="post" action="/auth/authorize/patient?lang={language}">
<input type="hidden" name="ticket" value="{escape(ticket)}">
<input type="hidden" name="patient" value="{escape(candidate.id)}">
<strong>{escape(name)}</strong>{details}<br>
<button type="submit" aria-label="{escape(_t(language, "choose"))}: {escape(name)}">
{escape(_t(language, "choose"))}</button></form></li>"""

    items = "\n".join(item(candidate) for candidate in candidates)
    found = f'<ul class="patients">{items}</ul>' if candidates else f"<p>{escape(_t(language, 'nobody'))}</p>"
    body = f"""<h2>{escape(_t(language, "pick"))}</h2>
<p>{escape(_t(language, "pick-for"))}</p>
<form method="post" action="/auth/authorize/patient?lang={language}" role="search">
<input type="hidden" name="ticket" value="{escape(ticket)}">
<label>{escape(_t(language, "search-hint"))}
<input name="q" value="{escape(text)}" autocomplete="off"></label>
<button type="submit">{escape(_t(language, "search"))}</button>
</form>
{found}"""
    return document(language, _t(language, "pick"), body)


def _error_page(language: str, failure: OAuthError) -> Response:
    body = (
        f'<h2>{escape(_t(language, "cannot"))}</h2><p class="error" role="alert">{escape(str(failure))}</p>'
    )
    page = document(language, _t(language, "cannot"), body)
    return HTMLResponse(page, status_code=400, headers=PAGE_HEADERS)


def _back_to_app(failure: RedirectError) -> Response:
    query = urlencode({"error": failure.code, "error_description": str(failure), "state": failure.state})
    separator = "&" if "?" in failure.redirect_uri else "?"
    return RedirectResponse(f"{failure.redirect_uri}{separator}{query}", status_code=302)


def _to_app(granted: AuthorizeRequest, code: str) -> Response:
    query = urlencode({"code": code, "state": granted.state})
    separator = "&" if "?" in granted.redirect_uri else "?"
    return RedirectResponse(f"{granted.redirect_uri}{separator}{query}", status_code=302)


def launch_routes(
    engine: Engine,
    settings: IssuerSettings,
    failed_login: FailedLogin,
    patients: PatientDirectory,
    session_subject: Callable[[Request], str | None] = lambda _: None,
    providers: Sequence[tuple[str, str]] = (),
) -> list[Route]:
    """``session_subject`` is who the browser's page session is of (they may continue without a
    password); ``providers`` the identity providers offered for sign-in, as (id, button name)."""

    def login_page(
        request: Request, language: str, params: dict[str, str], granted: AuthorizeRequest, message: str = ""
    ) -> str:
        return _login_page(language, params, granted, message, providers, session_subject(request))

    def audiences(request: Request) -> tuple[str, ...]:
        return settings.audiences(f"{request.url.scheme}://{request.url.netloc}/fhir")

    def ticket_for(subject: str, params: dict[str, str]) -> str:
        key = signing_key(engine)
        now = int(time.time())
        claims = {
            "aud": TICKET_AUDIENCE,
            "sub": subject,
            "req": params,
            "iat": now,
            "exp": now + TICKET_SECONDS,
        }
        return jwt.encode(claims, key.private_key, algorithm=EHP_ALGORITHM, headers={"kid": key.kid})

    def read_ticket(ticket: str) -> tuple[str, dict[str, str]]:
        try:
            kid = jwt.get_unverified_header(ticket).get("kid")
            key = next(k for k in all_keys(engine) if k.kid == kid)
            claims = jwt.decode(
                ticket, key.private_key.public_key(), algorithms=[EHP_ALGORITHM], audience=TICKET_AUDIENCE
            )
        except (jwt.InvalidTokenError, StopIteration):
            raise OAuthError(
                "invalid_request", "the patient picker's form expired: start again from the app"
            ) from None
        params = claims.get("req")
        if not isinstance(params, dict):
            raise OAuthError("invalid_request", "the patient picker's form is damaged")
        return str(claims["sub"]), {str(k): str(v) for k, v in params.items()}

    async def after_login(
        request: Request, language: str, granted: AuthorizeRequest, params: dict[str, str], subject: str
    ) -> Response:
        patient: str | None = None
        if granted.launch is not None:
            patient = await run_in_threadpool(take_launch, engine, granted, subject)
        elif granted.wants_patient:
            candidates = await run_in_threadpool(patients.search, subject, "", language)
            own = subject.removeprefix("Patient/")
            if subject.startswith("Patient/") and [c.id for c in candidates] in ([own], []):
                patient = own
            else:
                ticket = ticket_for(subject, params)
                page = _picker_page(language, ticket, "", candidates[:PICKER_SIZE])
                return HTMLResponse(page, headers=PAGE_HEADERS)
        code = await run_in_threadpool(issue_code, engine, granted, subject, patient)
        return _to_app(granted, code)

    async def authorize_page(request: Request) -> Response:
        language = language_of(request)
        params = {name: value for name, value in request.query_params.items() if name in REQUEST_FIELDS}
        try:
            granted = await run_in_threadpool(check_authorize, engine, params, audiences(request))
        except RedirectError as failure:
            return _back_to_app(failure)
        except OAuthError as failure:
            return _error_page(language, failure)
        page = await run_in_threadpool(login_page, request, language, params, granted)
        return HTMLResponse(page, headers=PAGE_HEADERS)

    async def log_in(request: Request) -> Response:
        language = language_of(request)
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        params = {name: form[name] for name in REQUEST_FIELDS if form.get(name)}
        try:
            granted = await run_in_threadpool(check_authorize, engine, params, audiences(request))
        except RedirectError as failure:
            return _back_to_app(failure)
        except OAuthError as failure:
            return _error_page(language, failure)
        if form.get("session") == "1":
            who = await run_in_threadpool(session_subject, request)
            if who is None or not from_own_origin(request):
                page = login_page(request, language, params, granted, _t(language, "session-gone"))
                return HTMLResponse(page, status_code=401, headers=PAGE_HEADERS)
            try:
                return await after_login(request, language, granted, params, who)
            except RedirectError as failure:
                return _back_to_app(failure)
        username = form.get("username", "")
        address = request.client.host if request.client else None
        try:
            subject = await run_in_threadpool(
                checked_login, engine, username, form.get("password", ""), address
            )
        except LockedOut as locked:
            failed_login(address, f"login for '{username[:100]}' refused: locked after failed attempts")
            message = _t(language, "locked", minutes=max(1, (locked.wait + 59) // 60))
            page = login_page(request, language, params, granted, message)
            headers = {**PAGE_HEADERS, "Retry-After": str(locked.wait)}
            return HTMLResponse(page, status_code=429, headers=headers)
        if subject is None:
            failed_login(address, f"wrong password for '{username[:100]}'")
            page = login_page(request, language, params, granted, _t(language, "wrong"))
            return HTMLResponse(page, status_code=401, headers=PAGE_HEADERS)
        try:
            return await after_login(request, language, granted, params, subject)
        except RedirectError as failure:
            return _back_to_app(failure)

    async def pick_patient(request: Request) -> Response:
        language = language_of(request)
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        try:
            subject, params = read_ticket(form.get("ticket", ""))
            granted = await run_in_threadpool(check_authorize, engine, params, audiences(request))
        except RedirectError as failure:
            return _back_to_app(failure)
        except OAuthError as failure:
            return _error_page(language, failure)
        chosen = form.get("patient")
        if chosen is None:
            text = form.get("q", "").strip()[:200]
            candidates = await run_in_threadpool(patients.search, subject, text, language)
            page = _picker_page(language, form["ticket"], text, candidates[:PICKER_SIZE])
            return HTMLResponse(page, headers=PAGE_HEADERS)
        allowed = await run_in_threadpool(patients.get, subject, chosen, language)
        if allowed is None:
            return _back_to_app(
                RedirectError(
                    "access_denied",
                    "the chosen patient is not one you may open",
                    granted.redirect_uri,
                    granted.state,
                )
            )
        try:
            code = await run_in_threadpool(issue_code, engine, granted, subject, chosen)
        except RedirectError as failure:
            return _back_to_app(failure)
        return _to_app(granted, code)

    return [
        Route("/auth/authorize", authorize_page, methods=["GET"]),
        Route("/auth/authorize", log_in, methods=["POST"]),
        Route("/auth/authorize/patient", pick_patient, methods=["POST"]),
    ]
