"""The passport web pages for clinicians: ``/passport`` (find a patient) and ``/passport/{id}``.

Pages are rendered on the server with Jinja2 (templates in ``templates/``); a small script
(``static/passport.js``, no external library, nothing fetched from elsewhere) draws the timeline and
the charts as SVG from JSON embedded in the page. Data is read in process, on behalf of the
request's context: the patient search goes through :class:`~ehp.api.service.FhirService` (the
same route, scope checks and search engine as ``GET /fhir/Patient``), the record through
:func:`~ehp.passport.record.read_patient` and :func:`~ehp.passport.record.load_record` (the same
path as ``$summary``), under the same access decision and audit as the API. Without ``--auth none``
the pages need the same bearer token as the API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ehp.api.messages import FhirRequest
from ehp.api.service import FhirService
from ehp.context import RequestContext, development_context
from ehp.fhir.primitives import is_whole_number
from ehp.passport.describe import care_date, what
from ehp.passport.i18n import DEFAULT_LANGUAGE, LANGUAGE_NAMES, LANGUAGES, labels
from ehp.passport.ips import details
from ehp.passport.record import load_record, read_patient
from ehp.passport.view import EVENT_KINDS, PassportView, name_in, passport_view
from ehp.registry.iin import IIN_SYSTEM
from ehp.scopes import Scopes
from ehp.search.query import Scope
from ehp.security.app_launch import app_client, launchable_apps, new_launch
from ehp.security.authenticator import Authenticator
from ehp.security.login_page import Candidate, PatientDirectory
from ehp.security.page_text import language_of
from ehp.security.permissions import readable_types
from ehp.security.sessions import clear_session, from_own_origin, page_credentials
from ehp.security.sign_in_page import sign_in_link
from ehp.security.tokens import TokenError

Json = dict[str, Any]
INDEX_SIZE = 50
PAGE_AUDIT = "passport-page"
"""The audit subtype of a view of the passport page."""

_templates = Environment(loader=PackageLoader("ehp.passport", "templates"), autoescape=select_autoescape())
_templates.globals.update(describe=what, detail=details, when=lambda resource: care_date(resource)[:10])


def _json_for_script(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</`` can close the element)."""
    return orjson.dumps(value).decode().replace("</", "<\\/")


class ScopeRefused(Exception):
    """The token's SMART scopes do not cover the page (403)."""


class PassportPages:
    def __init__(self, service: FhirService, authenticator: Authenticator | None) -> None:
        self.service = service
        self.authenticator = authenticator

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/passport", self.index),
            Route("/passport/{patient_id}", self.passport),
            Route("/passport/{patient_id}/launch", self.launch_app, methods=["POST"]),
            Mount("/passport-static", app=StaticFiles(packages=[("ehp.passport", "static")])),
        ]

    def _context(self, request: Request) -> RequestContext:
        client = request.client.host if request.client else None
        if self.authenticator is None:
            return development_context(client)
        authorization, _ = page_credentials(request)
        return self.authenticator.context(authorization, client)

    def _not_signed_in(self, request: Request, language: str, failure: TokenError) -> Response:
        """A browser without a session goes to the sign-in page and comes back; a bad or expired
        credential is a 401 page (its cookie dropped) with the way to sign in again."""
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        authorization, from_cookie = page_credentials(request)
        if authorization is None and request.method == "GET":
            return RedirectResponse(sign_in_link(here, language), status_code=303)
        page = self._page(
            "error.html",
            language,
            401,
            heading="login-required",
            message=str(failure),
            sign_in=sign_in_link(here, language),
        )
        if from_cookie:
            clear_session(page)
        return page

    @staticmethod
    def _language(request: Request) -> str:
        """``?lang=``, else the browser's ``Accept-Language``, else Russian."""
        language = language_of(request)
        return language if language in LANGUAGES else DEFAULT_LANGUAGE

    def _page(self, template: str, language: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = _templates.get_template(template).render(
            lang=language, labels=labels(language), languages=LANGUAGE_NAMES, **values
        )
        return HTMLResponse(body, status_code=status)

    async def _recorded(self) -> bool:
        """The page leaves only once its audit records are stored (as the FHIR API's answers do)."""
        access = self.service.access
        return access is None or await access.recorded()

    def _unaudited(self, language: str) -> HTMLResponse:
        page = self._page("error.html", language, 503, heading="audit-unavailable", message="")
        page.headers["Retry-After"] = "5"
        return page

    async def index(self, request: Request) -> Response:
        language = self._language(request)
        try:
            ctx = self._context(request)
        except TokenError as failure:
            return self._not_signed_in(request, language, failure)
        text = request.query_params.get("q", "").strip()
        base = f"{request.url.scheme}://{request.url.netloc}/fhir"
        patients = await run_in_threadpool(self._find, ctx, text, base, language)
        if not await self._recorded():
            return self._unaudited(language)
        signed_in = page_credentials(request)[1]
        return self._page("index.html", language, q=text, patients=patients, signed_in=signed_in)

    def patient_directory(self) -> PatientDirectory:
        """The SMART patient picker's view of the patients a user may open: searched as that user
        (their grant filters it and the audit records it)."""

        def context(subject: str) -> RequestContext:
            scope = "patient/Patient.rs" if subject.startswith("Patient/") else "user/Patient.rs"
            roles = self.authenticator.roles(subject) if self.authenticator is not None else frozenset()
            return RequestContext(actor=subject, scopes=Scopes.parse(scope), roles=roles)

        def candidates(
            subject: str, query: list[tuple[str, str]], text: str, language: str
        ) -> list[Candidate]:
            found = self._find(context(subject), text, "http://ehp.invalid/fhir", language, query)
            return [Candidate(p["id"], p["name"], p["iin"], p["born"]) for p in found]

        def search(subject: str, text: str, language: str) -> list[Candidate]:
            return candidates(subject, [], text, language)

        def get(subject: str, patient_id: str, language: str) -> Candidate | None:
            found = candidates(subject, [("_id", patient_id)], "", language)
            return found[0] if len(found) == 1 and found[0].id == patient_id else None

        return PatientDirectory(search, get)

    def _find(
        self,
        ctx: RequestContext,
        text: str,
        base: str,
        language: str,
        criteria: list[tuple[str, str]] | None = None,
    ) -> list[Json]:
        query = [("_count", str(INDEX_SIZE)), ("_sort", "family"), *(criteria or [])]
        if is_whole_number(text):
            query.append(("identifier", f"{IIN_SYSTEM}|{text}"))
        elif text:
            query.append(("name", text))
        response = self.service.handle(ctx, FhirRequest("GET", "Patient", query=query), base)
        if response.status != 200 or response.resource is None:
            return []
        found = []
        for entry in orjson.loads(orjson.dumps(response.resource)).get("entry", []):
            patient: Json = entry["resource"]
            if patient.get("resourceType") != "Patient":
                continue
            iin = next(
                (i["value"] for i in patient.get("identifier", []) if i.get("system") == IIN_SYSTEM), ""
            )
            found.append(
                {
                    "id": patient["id"],
                    "name": name_in(patient, language),
                    "iin": iin,
                    "born": patient.get("birthDate", ""),
                }
            )
        return found

    async def passport(self, request: Request) -> Response:
        language = self._language(request)
        try:
            ctx = self._context(request)
        except TokenError as failure:
            return self._not_signed_in(request, language, failure)
        patient_id = request.path_params["patient_id"]
        base = f"{request.url.scheme}://{request.url.netloc}/fhir"
        try:
            view = await run_in_threadpool(self._view, ctx, patient_id, base, language)
        except ScopeRefused as refused:
            await self._recorded()
            return self._page("error.html", language, 403, heading="forbidden", message=str(refused))
        if not await self._recorded():
            return self._unaudited(language)
        if view is None:
            return self._page(
                "error.html", language, 404, heading="no-patients", message=f"Patient/{patient_id}"
            )
        data = {
            "events": view.events,
            "charts": view.charts,
            "birth": view.header.birth_date,
            "end": view.header.deceased or datetime.now(UTC).date().isoformat(),
            "labels": labels(language),
            "kinds": list(EVENT_KINDS),
        }
        counts = {kind: sum(1 for e in view.events if e["k"] == kind) for kind in EVENT_KINDS}
        return self._page(
            "passport.html",
            language,
            view=view,
            patient_id=patient_id,
            data=_json_for_script(data),
            kinds=EVENT_KINDS,
            counts=counts,
            signed_in=page_credentials(request)[1],
            apps=await run_in_threadpool(launchable_apps, self.service.store.engine)
            if self.authenticator is not None
            else [],
        )

    async def launch_app(self, request: Request) -> Response:
        """ "Open in app": an EHR launch of this patient for the viewing user (SMART App Launch).
        The user must be able to open the passport (the check is an audited read of the Patient);
        the app gets a one-time ``launch`` id and this server's FHIR base as ``iss``."""
        language = self._language(request)
        if self.authenticator is None:
            return self._page(
                "error.html", language, 403, heading="forbidden", message="authentication is off"
            )
        try:
            ctx = self._context(request)
        except TokenError as failure:
            return self._not_signed_in(request, language, failure)
        if page_credentials(request)[1] and not from_own_origin(request):
            return self._page("error.html", language, 403, heading="forbidden", message="cross-site request")
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        patient_id = request.path_params["patient_id"]
        base = f"{request.url.scheme}://{request.url.netloc}/fhir"
        engine = self.service.store.engine
        app = await run_in_threadpool(app_client, engine, form.get("client_id", ""))
        if app is None or not app.launch_uri:
            return self._page("error.html", language, 404, heading="no-patients", message="no such app")
        read = FhirRequest("GET", f"Patient/{patient_id}")
        answer = await run_in_threadpool(self.service.handle, ctx, read, base)
        if not await self._recorded():
            return self._unaudited(language)
        if answer.status != 200:
            return self._page(
                "error.html", language, 404, heading="no-patients", message=f"Patient/{patient_id}"
            )
        launch = await run_in_threadpool(new_launch, engine, patient_id, ctx.actor, app.client_id)
        separator = "&" if "?" in app.launch_uri else "?"
        target = f"{app.launch_uri}{separator}{urlencode({'iss': base, 'launch': launch})}"
        return RedirectResponse(target, status_code=303)

    def _view(self, ctx: RequestContext, patient_id: str, base: str, language: str) -> PassportView | None:
        """The page's data, or None for a patient that is unknown, deleted or not the caller's to see.

        With authentication on, the caller's grant decides as it does for ``$everything``: a patient
        without a legal basis is answered like an unknown one, the record is read through the
        caller's access filter, and the view (or the refusal) is audited.
        """
        reader = self.service.store.reader(ctx)
        access = self.service.access.access(ctx) if self.service.access is not None else None
        stored = read_patient(reader, patient_id)
        if stored is None or stored.content is None:
            return None
        if access is not None:
            access.touched.add(patient_id)
            if not access.grant.may_see({patient_id}, "Patient"):
                what = f"Patient/{patient_id}"
                access.policy.audit.put(access.records(PAGE_AUDIT, "R", "refused", what))
                return None
        visible = access.search_filter() if access is not None else None
        only = readable_types(ctx, None)
        if only == () or not ctx.may("Patient", "r"):
            if access is not None:
                access.policy.audit.put(access.records(PAGE_AUDIT, "R", "refused", f"Patient/{patient_id}"))
            raise ScopeRefused("the access token's scopes do not allow reading the passport")
        patient = orjson.loads(stored.content)
        record = load_record(reader, Scope(reader.params, base), patient, only=only, visible=visible)
        if access is not None:
            access.policy.audit.put(access.records(PAGE_AUDIT, "R", "success", f"Patient/{patient_id}"))
        return passport_view(record, language, datetime.now(UTC).date())
