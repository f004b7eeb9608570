"""Server time: integer microseconds since the Unix epoch (UTC), the store's time unit."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_micros() -> int:
    """The current time, truncated to whole milliseconds (the precision ``meta.lastUpdated`` shows)."""
    return time.time_ns() // 1_000_000 * 1_000


def to_instant(micros: int) -> str:
    """FHIR ``instant`` text for a store time, e.g. ``2026-11-27T03:59:01.123Z``."""
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def to_http_date(micros: int) -> str:
    """RFC 9110 date for ``Last-Modified``."""
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
