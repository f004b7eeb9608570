"""Helpers for the registry tests: fresh IINs, Patients and operation calls over HTTP."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import httpx

from ehp.registry.iin import IIN_SYSTEM, make_iin

FHIR_JSON = {"Content-Type": "application/fhir+json"}
_rng = random.Random()


def fresh_iin(born: date, sex: str) -> str:
    """A valid IIN of that birth date and sex, with a random serial (tests share one server)."""
    while True:
        iin = make_iin(born, "male" if sex == "male" else "female", _rng.randrange(10_000))
        if iin is not None:
            return iin


def patient(
    family: str = "Ахметов",
    given: tuple[str, ...] = ("Нұрлан",),
    born: date | None = date(1985, 6, 14),
    sex: str | None = "male",
    iin: str | None = None,
    **more: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient"}
    if iin is not None:
        resource["identifier"] = [{"system": IIN_SYSTEM, "value": iin}]
    resource["name"] = [{"family": family, "given": list(given)}]
    if sex is not None:
        resource["gender"] = sex
    if born is not None:
        resource["birthDate"] = born.isoformat()
    return resource | more


def create(fhir: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    response = fhir.post(resource["resourceType"], json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def put(fhir: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    response = fhir.put(f"{resource['resourceType']}/{resource['id']}", json=resource, headers=FHIR_JSON)
    assert response.status_code in (200, 201), response.text
    stored: dict[str, Any] = response.json()
    return stored


def parameters(**values: Any) -> dict[str, Any]:
    """A Parameters resource: ``organization={"valueReference": {...}}`` is one parameter (``_`` is ``-``)."""
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": name.replace("_", "-"), **value} for name, value in values.items()],
    }


def operation(fhir: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return fhir.post(path, json=body, headers=FHIR_JSON)


def issue(response: httpx.Response) -> dict[str, Any]:
    """The first issue of an OperationOutcome response."""
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    first: dict[str, Any] = outcome["issue"][0]
    return first


_SYLLABLES = ("ба", "қа", "жа", "тө", "ле", "ну", "ры", "сә", "мұ", "ға", "ке", "ді", "шо", "ұл", "ай", "ер")


def unique_family(ending: str = "ов") -> str:
    """A Kazakh-looking family name no other test uses (tests share a server)."""
    return "".join(_rng.choice(_SYLLABLES) for _ in range(4)).capitalize() + ending
