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
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any
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
from ehp.security.throttle import clear, keys_of, locked_for, record_failure
from ehp.security.tokens import EHP_ALGORITHM
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
    "launch",
    "nonce",
)
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'",
}
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


LANGUAGES = ("kk", "ru", "en")
TEXTS: dict[str, tuple[str, str, str]] = {
    "title": ("Денсаулық паспорты", "Паспорт здоровья", "Electronic health passport"),
    "asks": ("Қосымша рұқсат сұрайды:", "Приложение запрашивает доступ:", "The application asks for access:"),
    "username": ("Пайдаланушы аты", "Имя пользователя", "User name"),
    "password": ("Құпиясөз", "Пароль", "Password"),
    "log-in": ("Кіру және рұқсат беру", "Войти и разрешить", "Log in and allow"),
    "wrong": (
        "Пайдаланушы аты немесе құпиясөз қате.",
        "Неверное имя или пароль.",
        "Wrong user name or password.",
    ),
    "locked": (
        "Тым көп сәтсіз әрекет. {minutes} минуттан кейін қайталаңыз.",
        "Слишком много неудачных попыток. Повторите через {minutes} мин.",
        "Too many failed attempts. Try again in {minutes} minute(s).",
    ),
    "cannot": ("Кіру мүмкін емес", "Вход невозможен", "Cannot log in"),
    "pick": ("Пациентті таңдаңыз", "Выберите пациента", "Choose the patient"),
    "pick-for": (
        "Қосымша осы пациенттің паспортын ғана ашады:",
        "Приложение откроет паспорт только этого пациента:",
        "The application will open this patient's passport only:",
    ),
    "search": ("Іздеу", "Найти", "Search"),
    "search-hint": ("Аты-жөні немесе ЖСН", "ФИО или ИИН", "Name or IIN"),
    "choose": ("Таңдау", "Выбрать", "Choose"),
    "nobody": (
        "Сізде құқықтық негіз бар пациент табылмады.",
        "Не найдено пациентов, к которым у вас есть законное основание.",
        "No patient you have a legal basis for was found.",
    ),
    "iin": ("ЖСН", "ИИН", "IIN"),
    "born": ("Туған күні", "Дата рождения", "Born"),
}


def language_of(request: Request) -> str:
    """``?lang=`` if given, else the first of ``Accept-Language`` EHP speaks, else Russian."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    ranked = []
    for position, part in enumerate(request.headers.get("accept-language", "").split(",")):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        ranked.append((-weight, position, tag.split("-")[0].lower()))
    return next((tag for _, _, tag in sorted(ranked) if tag in LANGUAGES), "ru")


def _t(language: str, key: str, **values: Any) -> str:
    return TEXTS[key][LANGUAGES.index(language)].format(**values)


def _document(language: str, title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="{language}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>EHP: {escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; padding: 1rem; color: #111; background: #fff; }}
main {{ max-width: 32rem; margin: 0 auto; }}
label {{ display: block; margin: .75rem 0; }}
input {{ display: block; width: 100%; box-sizing: border-box; padding: .6rem; font-size: 1rem;
  border: 1px solid #555; border-radius: 4px; }}
button {{ padding: .7rem 1.2rem; font-size: 1rem; background: #0b5394; color: #fff; border: 0;
  border-radius: 4px; cursor: pointer; }}
button:focus, input:focus {{ outline: 3px solid #f4b400; outline-offset: 2px; }}
.error {{ color: #a00000; font-weight: bold; }}
ul.patients {{ list-style: none; padding: 0; }}
ul.patients li {{ border: 1px solid #999; border-radius: 4px; padding: .6rem; margin: .5rem 0; }}
</style></head>
<body><main>
<h1>{escape(_t(language, "title"))}</h1>
{body}
</main></body></html>
"""


def _hidden(params: dict[str, str]) -> str:
    return "\n".join(
        f'<input type="hidden" name="{name}" value="{escape(params.get(name, ""))}">'
        for name in REQUEST_FIELDS
        if params.get(name)
    )


def _login_page(language: str, params: dict[str, str], granted: AuthorizeRequest, message: str = "") -> str:
    notice = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    body = f"""<p>{escape(_t(language, "asks"))} <strong>{escape(granted.client_id)}</strong>:
<code>{escape(granted.scope)}</code></p>
{notice}
<form method="post" action="/auth/authorize?lang={language}">
{_hidden(params)}
<label>{escape(_t(language, "username"))}
<input name="username" autocomplete="username" required></label>
<label>{escape(_t(language, "password"))}
<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">{escape(_t(language, "log-in"))}</button>
</form>"""
    return _document(language, _t(language, "title"), body)


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
    return _document(language, _t(language, "pick"), body)


def _error_page(language: str, failure: OAuthError) -> Response:
    body = (
        f'<h2>{escape(_t(language, "cannot"))}</h2><p class="error" role="alert">{escape(str(failure))}</p>'
    )
    return HTMLResponse(_document(language, _t(language, "cannot"), body), status_code=400, headers=_HEADERS)


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
) -> list[Route]:
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
                return HTMLResponse(page, headers=_HEADERS)
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
        return HTMLResponse(_login_page(language, params, granted), headers=_HEADERS)

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
        username = form.get("username", "")
        address = request.client.host if request.client else None
        keys = keys_of(username, address)
        wait = await run_in_threadpool(locked_for, engine, keys)
        if wait > 0:
            failed_login(address, f"login for '{username[:100]}' refused: locked after failed attempts")
            message = _t(language, "locked", minutes=max(1, (wait + 59) // 60))
            page = _login_page(language, params, granted, message)
            return HTMLResponse(page, status_code=429, headers={**_HEADERS, "Retry-After": str(wait)})
        subject = await run_in_threadpool(authenticate, engine, username, form.get("password", ""))
        if subject is None:
            await run_in_threadpool(record_failure, engine, keys)
            failed_login(address, f"wrong password for '{username[:100]}'")
            page = _login_page(language, params, granted, _t(language, "wrong"))
            return HTMLResponse(page, status_code=401, headers=_HEADERS)
        await run_in_threadpool(clear, engine, username)
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
            return HTMLResponse(page, headers=_HEADERS)
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
