"""Connection hygiene below HTTP: slow senders and one address's flood cannot hold the server.

uvicorn reads a request's headers for as long as the client takes, and accepts any number of
connections from one address: 400 connections trickling their headers held a server for 60 s.
:class:`GuardedProtocol` (uvicorn's httptools protocol, extended) closes a connection whose
request headers are not complete within ``EHP_HEADER_TIMEOUT_SECONDS`` (10) of its first byte
(or of the connection), and refuses more than ``EHP_MAX_CONNECTIONS_PER_ADDRESS`` (256) open
connections from one address. The body has its own deadline, at the HTTP layer
(``api/http.py``: ``EHP_BODY_TIMEOUT_SECONDS``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ehp.environment import seconds, whole_number

log = logging.getLogger(__name__)


HEADER_TIMEOUT_SECONDS = seconds("EHP_HEADER_TIMEOUT_SECONDS", 10.0)
MAX_CONNECTIONS_PER_ADDRESS = whole_number("EHP_MAX_CONNECTIONS_PER_ADDRESS", 256)
"""Behind a reverse proxy every connection comes from the proxy: raise it there, or let the proxy cap."""
_open: Counter[str] = Counter()
"""Open connections per client address, in this process (one event loop)."""


class GuardedProtocol(HttpToolsProtocol):
    _header_timer: asyncio.TimerHandle | None = None
    _address: str | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        if address is not None:
            if _open[address] >= MAX_CONNECTIONS_PER_ADDRESS:
                log.warning("refusing a connection from %s: %d already open", address, _open[address])
                transport.close()
                return
            _open[address] += 1
            self._address = address
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        if self._address is not None:
            _open[self._address] -= 1
            if _open[self._address] <= 0:
                del _open[self._address]
            self._address = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

    def _start_header_timer(self) -> None:
        self._stop_header_timer()
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            log.info("closing a connection from %s: no complete request headers in time", self._address)
            self.transport.close()
