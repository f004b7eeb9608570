"""The server: one application assembled from the API, the passport pages, the federation
routes and the authorization server's endpoints, on one database."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ehp.access.audit_queue import AuditQueue
from ehp.access.policy import AccessPolicy, AccessSettings
from ehp.api.http import FhirApp
from ehp.api.openapi import openapi_document
from ehp.api.service import FhirService, Settings
from ehp.bulk.worker import BulkWorker
from ehp.context import RequestContext
from ehp.fhir.definitions import is_resource_type
from ehp.fhir.validation import warm_up
from ehp.index.compiled import compile_stats
from ehp.passport.web import PassportPages
from ehp.registry.rules import registry_rules
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.reindex.rule import SearchParameterRule
from ehp.security.app_launch import registered_origins
from ehp.security.assertions import OAuthError
from ehp.security.audit import AnchorFile
from ehp.security.authenticator import Authenticator, IssuerSettings
from ehp.security.cors import AllowedOrigins, CorsMiddleware
from ehp.security.discovery import openid_configuration_document, smart_configuration_document
from ehp.security.login_page import launch_routes
from ehp.security.oauth import Endpoint, OAuthServer
from ehp.security.sessions import current_session
from ehp.security.sign_in import RelyingParty
from ehp.security.sign_in_page import sign_in_routes
from ehp.server.people import iin_holders
from ehp.server.routes import build_routes
from ehp.store.database import migrate, open_engine
from ehp.store.timeouts import statement_timeout_from_environment
from ehp.sync.central_api import CentralSync

log = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store"}


OAuthAnswer = dict[str, Any]


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))


def _oauth_error(failure: OAuthError) -> Response:
    body = {"error": failure.code, "error_description": str(failure)}
    headers = dict(NO_STORE)
    if failure.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="ehp"'
    return JSONResponse(body, status_code=failure.status, headers=headers)


def create_app(
    database_url: str,
    *,
    role: str = "node",
    auth: str = "required",
    migrate_schema: bool = True,
    issuer: IssuerSettings | None = None,
) -> Starlette:
    """Build the application for a database; the schema is migrated first unless told otherwise."""
    engine = open_engine(database_url, statement_timeout=statement_timeout_from_environment())
    if migrate_schema:
        migrate(engine)
    store = open_store(engine)
    register_search_parameters(store)
    warm_up()
    compile_stats()
    service = FhirService(
        store, Settings(role=role), build_routes(), (*registry_rules(), SearchParameterRule())
    )
    authenticator: Authenticator | None = None
    if auth == "none":
        log.warning(
            "AUTHENTICATION IS OFF (--auth none): anyone who can reach this server can read and write. "
            "Use it for development and tests only."
        )
    else:
        authenticator = Authenticator(
            engine, issuer or IssuerSettings.from_environment(), iin_lookup=iin_holders(store)
        )
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

    async def openid_configuration(request: Request) -> Response:
        return JSONResponse(
            openid_configuration_document(f"{request.url.scheme}://{request.url.netloc}", authenticator)
        )

    async def api_docs(request: Request) -> Response:
        """The OpenAPI description of the FHIR API, from the route table (public, like metadata)."""
        wanted = request.query_params.get("types")
        types = [t for t in wanted.split(",") if is_resource_type(t)] if wanted else None
        base = f"{request.url.scheme}://{request.url.netloc}/fhir"
        return JSONResponse(openapi_document(service.router.routes, base, types))

    async def jwks(_: Request) -> Response:
        return JSONResponse(authenticator.jwks() if authenticator else {"keys": []})

    oauth = OAuthServer(engine, authenticator) if authenticator is not None else None

    def oauth_endpoint(request: Request) -> Endpoint:
        origin = f"{request.url.scheme}://{request.url.netloc}"
        return Endpoint(f"{origin}/auth/token", f"{origin}/fhir")

    async def answer_oauth(request: Request, grant: Callable[[OAuthServer], OAuthAnswer]) -> Response:
        """Run a token or introspection request; OAuth errors as RFC 6749 §5.2 says."""
        if oauth is None:
            failure = OAuthError("unsupported_grant_type", "authentication is off (--auth none): no tokens")
            return _oauth_error(failure)
        try:
            answer = await run_in_threadpool(grant, oauth)
        except OAuthError as failure:
            return _oauth_error(failure)
        return JSONResponse(answer, headers=NO_STORE)

    async def token_endpoint(request: Request) -> Response:
        form = await _form(request)
        authorization = request.headers.get("authorization")
        return await answer_oauth(
            request, lambda server: server.token(form, authorization, oauth_endpoint(request))
        )

    async def introspect_endpoint(request: Request) -> Response:
        form = await _form(request)
        authorization = request.headers.get("authorization")
        return await answer_oauth(
            request, lambda server: server.introspect(form, authorization, oauth_endpoint(request))
        )

    async def revoke_endpoint(request: Request) -> Response:
        """RFC 7009: whoever holds a token may revoke it; the answer is 200 whatever the token."""
        form = await _form(request)
        if oauth is not None:
            await run_in_threadpool(oauth.revoke, form)
        return Response(status_code=200, headers=NO_STORE)

    def failed_login(source_address: str | None, reason: str) -> None:
        if service.access is not None:
            service.access.failed_login(
                RequestContext(actor="anonymous", source_address=source_address), reason
            )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        bulk = BulkWorker(service)
        bulk.start()
        yield
        bulk.stop()
        if service.access is not None:
            service.access.audit.close()
        engine.dispose()

    pages = PassportPages(service, authenticator)
    sign_in: list[Route] = []
    providers: list[tuple[str, str]] = []
    if authenticator is not None and authenticator.embedded:
        party = RelyingParty(authenticator.settings.trusted, authenticator.jwks_cache, iin_holders(store))
        sign_in = sign_in_routes(engine, authenticator, party, failed_login)
        providers = [(key, issuer.sign_in.name) for key, issuer in party.providers.items() if issuer.sign_in]

    def session_subject(request: Request) -> str | None:
        session = current_session(authenticator, request) if authenticator is not None else None
        return session.subject if session is not None else None

    sync_routes = CentralSync(store, authenticator, service.access).routes() if role == "central" else []
    app = Starlette(
        routes=[
            *sync_routes,
            Route("/", home),
            Route("/.well-known/smart-configuration", smart_configuration),
            Route("/fhir/.well-known/smart-configuration", smart_configuration),
            Route("/.well-known/openid-configuration", openid_configuration),
            Route("/auth/jwks", jwks),
            Route("/auth/token", token_endpoint, methods=["POST"]),
            Route("/auth/revoke", revoke_endpoint, methods=["POST"]),
            Route("/auth/introspect", introspect_endpoint, methods=["POST"]),
            *launch_routes(
                engine,
                authenticator.settings if authenticator else IssuerSettings.from_environment(),
                failed_login,
                pages.patient_directory(),
                session_subject,
                providers,
            ),
            *sign_in,
            Route("/fhir/api-docs", api_docs),
            Route("/fhir", endpoint, methods=methods),
            Route("/fhir/{path:path}", endpoint, methods=methods),
            *pages.routes(),
        ],
        lifespan=lifespan,
        middleware=[Middleware(CorsMiddleware, origins=AllowedOrigins(lambda: registered_origins(engine)))],
    )
    app.state.service = service
    return app


def app_from_environment() -> Starlette:
    """Factory for uvicorn workers: settings come from ``EHP_*`` variables set by ``ehp serve``."""
    return create_app(
        os.environ["EHP_DATABASE"],
        role=os.environ.get("EHP_ROLE", "node"),
        auth=os.environ.get("EHP_AUTH", "required"),
        migrate_schema=False,
    )
