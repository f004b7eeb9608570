"""``ehp demo``: a working server on an embedded SQLite store, filled on first start.

Until the synthetic country generator exists, the demo store is filled with the official FHIR R4
example resources (patients, observations, encounters, conformance resources...), loaded through
the same service the HTTP API uses, so everything in it passed validation.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.progress import track

from ehp.api.messages import FhirRequest
from ehp.api.service import FhirService
from ehp.context import SYSTEM_CONTEXT
from ehp.fhir.jsonio import JsonError, loads


def load_examples(service: FhirService, files: Iterable[Path], base: str) -> tuple[int, int]:
    """PUT every example resource; returns (loaded, refused)."""
    loaded = refused = 0
    for path in track(list(files), description="Loading the FHIR R4 examples"):
        try:
            resource = loads(path.read_bytes())
        except JsonError:
            refused += 1
            continue
        if not isinstance(resource, dict) or "id" not in resource or "resourceType" not in resource:
            refused += 1
            continue
        request = FhirRequest.from_url(
            "PUT", f"{resource['resourceType']}/{resource['id']}", resource=resource
        )
        response = service.handle(SYSTEM_CONTEXT, request, base)
        if response.status in (200, 201):
            loaded += 1
        else:
            refused += 1
    return loaded, refused
