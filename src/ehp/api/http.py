"""HTTP in and out of the FHIR service: authentication, body limits, formats, the request id."""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ehp.api.messages import FhirRequest, FhirResponse
from ehp.api.negotiation import FHIR_JSON, check_content_type, check_format
from ehp.api.routing import Match
from ehp.api.service import FhirService, error_response
from ehp.context import RequestContext, development_context
from ehp.errors import Category, FhirError, audit_unavailable, error
from ehp.fhir.jsonio import dumps, dumps_pretty, loads
from ehp.fhir.primitives import is_whole_number
from ehp.security.authenticator import Authenticator
from ehp.security.tokens import TokenError

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
            refused = error(Category.UNAUTHENTICATED, "login", str(failure))
            refused.headers["WWW-Authenticate"] = 'Bearer realm="ehp", error="invalid_token"'
            raise refused from None

    async def _body(self, request: Request) -> bytes | None:
        if request.method in ("GET", "HEAD", "DELETE"):
            return None
        check_content_type(request.headers.get("content-type"))
        limit = self.service.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and is_whole_number(declared) and int(declared) > limit:
            raise error(
                Category.TOO_LARGE, "too-costly", f"the body is larger than the limit of {limit} bytes"
            )
        chunks: list[bytes] = []
        size = 0
        seconds = self.service.settings.body_timeout_seconds
        try:
            async with asyncio.timeout(seconds):  # a trickling body holds a connection no longer
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise error(
                            Category.TOO_LARGE,
                            "too-costly",
                            f"the body is larger than the limit of {limit} bytes",
                        )
                    chunks.append(chunk)
        except TimeoutError:
            raise error(
                Category.TIMEOUT, "timeout", f"the body did not arrive within {seconds:g} s"
            ) from None
        return b"".join(chunks)

    def _http(self, response: FhirResponse, request: Request) -> Response:
        headers = dict(response.headers)
        if response.stream is not None and request.method != "HEAD":
            return StreamingResponse(
                response.stream, status_code=response.status, headers=headers, media_type=response.media_type
            )
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
