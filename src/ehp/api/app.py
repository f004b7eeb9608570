"""The ASGI application: HTTP in, :class:`FhirService` in the middle, FHIR JSON out."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ehp.api.errors import FhirError, error
from ehp.api.messages import FhirRequest, FhirResponse
from ehp.api.negotiation import FHIR_JSON, check_content_type, check_format
from ehp.api.service import FhirService, Settings, error_response
from ehp.context import RequestContext, development_context
from ehp.fhir.definitions import resource_types
from ehp.fhir.jsonio import dumps, dumps_pretty, loads
from ehp.fhir.validation import warm_up
from ehp.search.compiled import compile_stats
from ehp.search.parameters import parameters_for
from ehp.store.database import migrate, open_engine
from ehp.store.store import Store

log = logging.getLogger(__name__)

MEDIA_TYPE = f"{FHIR_JSON}; charset=utf-8"
OPEN_PATHS = frozenset({"metadata"})
"""Paths answered without authentication (discovery)."""


class FhirApp:
    """Turns HTTP requests into :class:`FhirRequest` and responses back into HTTP."""

    def __init__(self, service: FhirService, auth: str) -> None:
        self.service = service
        self.auth = auth

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
        if match.route.inline:
            response = self.service.run(ctx, fhir_request, base, match)
        else:
            response = await run_in_threadpool(self.service.run, ctx, fhir_request, base, match)
        return self._http(response, request)

    def _context(self, request: Request, path: str) -> RequestContext:
        client = request.client.host if request.client else None
        if self.auth == "none" or path in OPEN_PATHS:
            return development_context(client)
        failure = error(
            401, "login", "authentication is required; no token verifier is configured on this server"
        )
        failure.headers["WWW-Authenticate"] = 'Bearer realm="ehp"'
        raise failure

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
    database_url: str, *, role: str = "node", auth: str = "required", migrate_schema: bool = True
) -> Starlette:
    """Build the application for a database; the schema is migrated first unless told otherwise."""
    engine = open_engine(database_url)
    if migrate_schema:
        migrate(engine)
    store = Store(engine)
    register_search_parameters(store)
    warm_up()
    compile_stats()
    service = FhirService(store, Settings(role=role))
    if auth == "none":
        log.warning(
            "AUTHENTICATION IS OFF (--auth none): anyone who can reach this server can read and write. "
            "Use it for development and tests only."
        )
    endpoint = FhirApp(service, auth).endpoint
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

    async def home(_: Request) -> Response:
        return RedirectResponse("/fhir/metadata")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/fhir", endpoint, methods=methods),
            Route("/fhir/{path:path}", endpoint, methods=methods),
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    return app


def register_search_parameters(store: Store) -> None:
    """Give every official search parameter its pid (idempotent, safe with several workers)."""
    store.params.ensure((t, code) for t in resource_types() for code in parameters_for(t))


def app_from_environment() -> Starlette:
    """Factory for uvicorn workers: settings come from ``EHP_*`` variables set by ``ehp serve``."""
    return create_app(
        os.environ["EHP_DATABASE"],
        role=os.environ.get("EHP_ROLE", "node"),
        auth=os.environ.get("EHP_AUTH", "required"),
        migrate_schema=False,
    )
