"""Sending registry resources to a server (``--url``) or straight to a database (``--database``).

Resources go in transaction Bundles of ``PUT`` entries (fixed ids, so a second run leaves the same
content), through the same validation and business rules as any write: over HTTP to a running
server, or in process through a :class:`~ehp.api.service.FhirService` on the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ehp.api.messages import FhirRequest
from ehp.api.routes import core_routes
from ehp.api.service import FhirService, Settings
from ehp.context import RequestContext
from ehp.fhir.jsonio import JsonError, dumps, loads
from ehp.registry.routes import registry_routes
from ehp.registry.rules import registry_rules
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.store.database import migrate, open_engine

Json = dict[str, Any]
BATCH = 200
LOADER_CONTEXT = RequestContext(actor="Device/ehp-registry-load", purpose="HOPERAT")


class LoadError(Exception):
    """A batch was refused; the message has the server's diagnostics."""


@dataclass(frozen=True, slots=True)
class LoadSummary:
    resources: int
    batches: int
    seconds: float


Send = Callable[[bytes], tuple[int, bytes]]


def load(resources: list[Json], *, url: str | None, database: str | None, show_progress: bool) -> LoadSummary:
    """PUT ``resources`` in transaction Bundles of :data:`BATCH`; stops at the first refused one."""
    started = time.monotonic()
    batches = [resources[start : start + BATCH] for start in range(0, len(resources), BATCH)]
    with _sender(url, database) as send, _progress(show_progress) as progress:
        task = progress.add_task("loading the registry", total=len(resources))
        for number, batch in enumerate(batches, start=1):
            status, body = send(dumps(_bundle(batch)))
            if status != 200:
                raise LoadError(
                    f"batch {number} of {len(batches)} was refused ({status}): {_diagnostics(body)}"
                )
            progress.advance(task, len(batch))
    return LoadSummary(len(resources), len(batches), time.monotonic() - started)


def _bundle(batch: list[Json]) -> Json:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": resource,
                "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
            }
            for resource in batch
        ],
    }


@contextmanager
def _sender(url: str | None, database: str | None) -> Iterator[Send]:
    if url is not None:
        with httpx.Client(base_url=url.rstrip("/") + "/", timeout=300) as client:

            def post(body: bytes) -> tuple[int, bytes]:
                try:
                    response = client.post(
                        "", content=body, headers={"Content-Type": "application/fhir+json"}
                    )
                except httpx.HTTPError as failure:
                    raise LoadError(f"{url}: {failure}") from None
                return response.status_code, response.content

            yield post
        return
    assert database is not None
    engine = open_engine(database)
    try:
        migrate(engine)
        store = open_store(engine)
        register_search_parameters(store)
        service = FhirService(store, Settings(), [*core_routes(), *registry_routes()], registry_rules())

        def handle(body: bytes) -> tuple[int, bytes]:
            response = service.handle(
                LOADER_CONTEXT, FhirRequest("POST", "", body=body), "urn:ehp:registry-load"
            )
            return response.status, dumps(response.resource) if response.resource is not None else b""

        yield handle
    finally:
        engine.dispose()


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show,
    )


def _diagnostics(body: bytes) -> str:
    try:
        outcome = loads(body)
        return "; ".join(str(issue.get("diagnostics")) for issue in outcome.get("issue", []))
    except (JsonError, AttributeError):
        return body[:500].decode("utf-8", "replace")
