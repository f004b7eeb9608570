"""CORS, so that browser apps (SMART's ``fhirclient`` and the like) can reach EHP.

Discovery is public: ``/.well-known/smart-configuration``, ``/fhir/metadata`` and the issuer's
JWKS answer any origin. The API (``/fhir/...``) and the token, revocation and introspection
endpoints answer the origins of registered apps' redirect URIs and those of ``EHP_CORS_ORIGINS``
(space- or comma-separated), re-read from the database every few seconds. Preflight ``OPTIONS``
requests are answered here and never reach the API; a preflight from another origin is a 403.
Bearer tokens travel in a header, never in cookies, so credentials are not allowed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CORS_ORIGINS_VARIABLE = "EHP_CORS_ORIGINS"
ORIGINS_CACHE_SECONDS = 5.0
PUBLIC_PATHS = frozenset(
    {
        "/.well-known/smart-configuration",
        "/fhir/.well-known/smart-configuration",
        "/.well-known/openid-configuration",
        "/fhir/metadata",
        "/auth/jwks",
    }
)
APP_PATHS = ("/fhir", "/auth/token", "/auth/revoke", "/auth/introspect")
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = (
    "authorization, content-type, accept, accept-language, prefer, if-match, if-none-match, "
    "if-none-exist, if-modified-since, x-break-glass-reason, x-request-id"
)
EXPOSED_HEADERS = "location, content-location, etag, last-modified, x-request-id, x-progress, retry-after"
MAX_AGE_SECONDS = "600"


class AllowedOrigins:
    """The configured origins plus those of the registered apps (cached for a few seconds)."""

    def __init__(self, registered: Callable[[], frozenset[str]]) -> None:
        configured = os.environ.get(CORS_ORIGINS_VARIABLE, "").replace(",", " ").split()
        self._configured = frozenset(origin.rstrip("/").lower() for origin in configured)
        self._registered = registered
        self._lock = threading.Lock()
        self._cached: tuple[float, frozenset[str]] = (0.0, frozenset())

    def __contains__(self, origin: object) -> bool:
        if not isinstance(origin, str):
            return False
        origin = origin.lower()
        if origin in self._configured:
            return True
        now = time.monotonic()
        if now >= self._cached[0]:
            with self._lock:
                if now >= self._cached[0]:
                    self._cached = (now + ORIGINS_CACHE_SECONDS, self._registered())
        return origin in self._cached[1]


class CorsMiddleware:
    def __init__(self, app: ASGIApp, origins: AllowedOrigins) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        path: str = scope["path"]
        public = path in PUBLIC_PATHS
        if origin is None or not (public or path == "/fhir" or path.startswith(APP_PATHS)):
            await self.app(scope, receive, send)
            return
        allowed = "*" if public else origin if origin in self.origins else None
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(allowed)(scope, receive, send)
            return
        if allowed is None:
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"access-control-allow-origin", allowed.encode("latin-1")),
                    (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
                ]
                if allowed != "*":
                    extra.append((b"vary", b"Origin"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_cors)

    @staticmethod
    def _preflight(allowed: str | None) -> Response:
        if allowed is None:
            return PlainTextResponse(
                "this origin is not one of a registered app (nor in EHP_CORS_ORIGINS)", status_code=403
            )
        headers = {
            "Access-Control-Allow-Origin": allowed,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": MAX_AGE_SECONDS,
        }
        if allowed != "*":
            headers["Vary"] = "Origin"
        return Response(status_code=204, headers=headers)
