"""The ASGI application: HTTP in, :class:`FhirService` in the middle, FHIR JSON out."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ehp.access.audit_queue import AuditQueue
from ehp.access.policy import AccessPolicy, AccessSettings
from ehp.api.errors import FhirError, audit_unavailable, error
from ehp.api.messages import FhirRequest, FhirResponse
from ehp.api.negotiation import FHIR_JSON, check_content_type, check_format
from ehp.api.routing import Match
from ehp.api.service import FhirService, Settings, error_response
from ehp.context import RequestContext, development_context
from ehp.fhir.definitions import resource_types
from ehp.fhir.jsonio import dumps, dumps_pretty, loads
from ehp.fhir.validation import warm_up
from ehp.passport.web import PassportPages
from ehp.registry.rules import registry_rules
from ehp.reindex.rule import SearchParameterRule
from ehp.search.compiled import compile_stats
from ehp.search.parameters import parameters_for
from ehp.security.app_launch import exchange_code
from ehp.security.audit import AnchorFile
from ehp.security.authenticator import Authenticator, IssuerSettings
from ehp.security.backend_services import OAuthError, exchange
from ehp.security.discovery import smart_configuration_document
from ehp.security.login_page import launch_routes
from ehp.security.tokens import TokenError
from ehp.store.database import migrate, open_engine
from ehp.store.store import Store
from ehp.sync.central_api import CentralSync

log = logging.getLogger(__name__)

MEDIA_TYPE = f"{FHIR_JSON}; charset=utf-8"
REQUEST_ID_HEADER = "X-Request-Id"
"""Names the request in the server log and in its AuditEvents (``{request id}-{n}``)."""
OPEN_PATHS = frozenset({"metadata"})
"""Paths answered without authentication (discovery)."""


class FhirApp:
    """Turns HTTP requests into :class:`FhirRequest` and responses back into HTTP."""

    def __init__(self, service: FhirService, authenticator: Authenticator | None) -> None:
        self.service = service
        self.authenticator = authenticator

    async def endpoint(self, request: Request) -> Response:
        path = request.path_params.get("path", "").strip("/")
        try:
            check_format(request.query_params.get("_format"), request.headers.get("accept"))
            ctx = self._context(request, path)
            body = await self._body(request)
            fhir_request = FhirRequest(
                method=request.method,
                path=path,
                query=list(request.query_params.multi_items()),
                headers={key.lower(): value for key, value in request.headers.items()},
                body=body,
            )
            match = self.service.router.match(fhir_request)
        except FhirError as failure:
            return self._http(error_response(failure), request)
        base = f"{request.url.scheme}://{request.url.netloc}/fhir"
        if self.service.access is None and match.route.inline:
            response = self.service.run(ctx, fhir_request, base, match)
        else:
            response = await run_in_threadpool(self._run, ctx, fhir_request, base, match)
        answer = self._http(response, request)
        answer.headers[REQUEST_ID_HEADER] = ctx.request_id
        return answer

    def _run(self, ctx: RequestContext, request: FhirRequest, base: str, match: Match) -> FhirResponse:
        """Run the request in a worker thread; with authentication on, it answers only once its
        audit records are committed (this thread may lead that commit). A read by id runs here
        too then, not on the event loop, so that it never waits for another thread's commit."""
        response = self.service.run(ctx, request, base, match)
        access = self.service.access
        if access is not None and match.route.shape != "metadata" and not access.recorded_here():
            return error_response(audit_unavailable())
        return response

    def _context(self, request: Request, path: str) -> RequestContext:
        client = request.client.host if request.client else None
        if self.authenticator is None or path in OPEN_PATHS:
            return development_context(client)
        try:
            return self.authenticator.context(request.headers.get("authorization"), client)
        except TokenError as failure:
            if self.service.access is not None:
                self.service.access.failed_login(
                    RequestContext(actor="anonymous", source_address=client), str(failure)
                )
            refused = error(401, "login", str(failure))
            refused.headers["WWW-Authenticate"] = 'Bearer realm="ehp", error="invalid_token"'
            raise refused from None

    async def _body(self, request: Request) -> bytes | None:
        if request.method in ("GET", "HEAD", "DELETE"):
            return None
        check_content_type(request.headers.get("content-type"))
        limit = self.service.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise error(413, "too-costly", f"the body is larger than the limit of {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise error(413, "too-costly", f"the body is larger than the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _http(self, response: FhirResponse, request: Request) -> Response:
        headers = dict(response.headers)
        if response.body is not None:
            content: bytes | None = response.body
        elif response.resource is not None:
            content = dumps(response.resource)
        else:
            content = None
        if content is not None and request.query_params.get("_pretty") == "true":
            content = dumps_pretty(loads(content))
        if request.method == "HEAD":
            content = None
        if content is None:
            return Response(status_code=response.status, headers=headers)
        return Response(content, status_code=response.status, headers=headers, media_type=MEDIA_TYPE)


def create_app(
    database_url: str,
    *,
    role: str = "node",
    auth: str = "required",
    migrate_schema: bool = True,
    issuer: IssuerSettings | None = None,
) -> Starlette:
    """Build the application for a database; the schema is migrated first unless told otherwise."""
    engine = open_engine(database_url)
    if migrate_schema:
        migrate(engine)
    store = Store(engine)
    register_search_parameters(store)
    warm_up()
    compile_stats()
    service = FhirService(store, Settings(role=role), (*registry_rules(), SearchParameterRule()))
    authenticator: Authenticator | None = None
    if auth == "none":
        log.warning(
            "AUTHENTICATION IS OFF (--auth none): anyone who can reach this server can read and write. "
            "Use it for development and tests only."
        )
    else:
        authenticator = Authenticator(engine, issuer or IssuerSettings.from_environment())
        service.access = AccessPolicy(
            store,
            AuditQueue(engine, lock=store.write_lock, anchors=AnchorFile.from_environment()),
            AccessSettings.from_environment(),
        )
    endpoint = FhirApp(service, authenticator).endpoint
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

    async def home(_: Request) -> Response:
        return RedirectResponse("/fhir/metadata")

    async def smart_configuration(request: Request) -> Response:
        return JSONResponse(
            smart_configuration_document(f"{request.url.scheme}://{request.url.netloc}", authenticator)
        )

    async def jwks(_: Request) -> Response:
        return JSONResponse(authenticator.jwks() if authenticator else {"keys": []})

    async def token_endpoint(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        settings = authenticator.settings if authenticator else IssuerSettings.from_environment()
        endpoint_url = f"{request.url.scheme}://{request.url.netloc}/auth/token"
        try:
            if form.get("grant_type") == "authorization_code":
                answer = await run_in_threadpool(
                    lambda: exchange_code(engine, form, issuer=settings.issuer, audience=settings.audience)
                )
            else:
                answer = await run_in_threadpool(
                    exchange, engine, form, endpoint_url, issuer=settings.issuer, audience=settings.audience
                )
        except OAuthError as failure:
            body = {"error": failure.code, "error_description": str(failure)}
            return JSONResponse(body, status_code=failure.status, headers={"Cache-Control": "no-store"})
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    def failed_login(source_address: str | None, reason: str) -> None:
        if service.access is not None:
            service.access.failed_login(
                RequestContext(actor="anonymous", source_address=source_address), reason
            )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if service.access is not None:
            service.access.audit.close()
        engine.dispose()

    sync_routes = CentralSync(store, authenticator, service.access).routes() if role == "central" else []
    app = Starlette(
        routes=[
            *sync_routes,
            Route("/", home),
            Route("/.well-known/smart-configuration", smart_configuration),
            Route("/fhir/.well-known/smart-configuration", smart_configuration),
            Route("/auth/jwks", jwks),
            Route("/auth/token", token_endpoint, methods=["POST"]),
            *launch_routes(
                engine,
                authenticator.settings if authenticator else IssuerSettings.from_environment(),
                failed_login,
            ),
            Route("/fhir", endpoint, methods=methods),
            Route("/fhir/{path:path}", endpoint, methods=methods),
            *PassportPages(service, authenticator).routes(),
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    return app


def register_search_parameters(store: Store) -> None:
    """Give every official search parameter its pid (idempotent, safe with several workers), and
    load the custom ones in effect."""
    store.params.ensure((t, code) for t in resource_types() for code in parameters_for(t))
    store.custom_parameters.refresh()


def app_from_environment() -> Starlette:
    """Factory for uvicorn workers: settings come from ``EHP_*`` variables set by ``ehp serve``."""
    return create_app(
        os.environ["EHP_DATABASE"],
        role=os.environ.get("EHP_ROLE", "node"),
        auth=os.environ.get("EHP_AUTH", "required"),
        migrate_schema=False,
    )
