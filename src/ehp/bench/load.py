"""A light HTTP load generator: client processes with persistent stdlib connections.

httpx costs several times more CPU per request than the server's own work on a read by id, and
threads of one process share one GIL; on a 2-core machine shared with the server that would
measure the client. Each client process here keeps one keep-alive ``http.client`` connection.
"""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Job:
    method: str
    path: str
    """Absolute path on the server, e.g. ``/fhir/Patient/123``."""
    body: bytes | None = None
    keep_body: bool = False
    """Return the response body (e.g. to learn the ids a transaction made)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    seconds: float
    status: int
    body: bytes | None


HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def _run_chunk(base: str, jobs: list[Job], extra_headers: dict[str, str]) -> list[Outcome]:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=300)
    headers = {**HEADERS, **extra_headers}
    outcomes = []
    try:
        for job in jobs:
            started = time.perf_counter()
            connection.request(job.method, job.path, body=job.body, headers=headers)
            response = connection.getresponse()
            body = response.read()
            outcomes.append(
                Outcome(time.perf_counter() - started, response.status, body if job.keep_body else None)
            )
    finally:
        connection.close()
    return outcomes


def run_load(
    base: str, jobs: list[Job], clients: int, extra_headers: dict[str, str] | None = None
) -> tuple[float, list[Outcome]]:
    """Run the jobs over ``clients`` processes; returns the wall time and every outcome."""
    chunks = [jobs[i::clients] for i in range(clients)]
    with ProcessPoolExecutor(clients) as pool:
        warm = [pool.submit(time.sleep, 0) for _ in range(clients)]
        for future in warm:
            future.result()
        started = time.perf_counter()
        futures = [pool.submit(_run_chunk, base, chunk, extra_headers or {}) for chunk in chunks]
        outcomes = [outcome for future in futures for outcome in future.result()]
        return time.perf_counter() - started, outcomes
