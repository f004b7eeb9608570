"""``$coverage`` over HTTP: attached people, people with a passport, records written on a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx

from ehp.fhir.codes import FACILITY_KINDS
from tests.registry.helpers import create, put
from tests.registry.test_attachment import attach, citizen, organization
from tests.registry.test_merge import observation


def figures(parameters: dict[str, Any], name: str, org: str | None = None) -> dict[str, int]:
    """The figures of the ``name`` entry (``total``, or the ``region``/``organization`` of ``org``)."""
    for parameter in parameters["parameter"]:
        if parameter["name"] != name:
            continue
        parts = {part["name"]: part for part in parameter["part"]}
        if org is None or parts["organization"]["valueReference"]["reference"] == f"Organization/{org}":
            return {key: part["valueInteger"] for key, part in parts.items() if "valueInteger" in part}
    raise AssertionError(f"no {name} {org} in {parameters}")


def test_coverage_per_organisation_and_region(fhir: httpx.Client) -> None:
    department = FACILITY_KINDS["health-department"][0]
    region = f"test-region-{uuid4().hex[:12]}"
    put(
        fhir, {"resourceType": "Organization", "id": region, "type": [department.concept()], "name": "Region"}
    )
    part_of = {"partOf": {"reference": f"Organization/{region}"}}
    first, second = organization(fhir, **part_of), organization(fhir, **part_of)
    people = [citizen(fhir) for _ in range(4)]
    for person in people[:3]:
        attach(fhir, person, first, "2023-01-01")
    attach(fhir, people[3], second, "2023-01-01")
    for person in people[:2]:
        create(fhir, observation(f"Patient/{person}"))
    create(fhir, observation(f"Patient/{people[0]}"))
    create(fhir, observation(f"Patient/{citizen(fhir)}"))  # not attached: not counted

    whole = fhir.get(f"Organization/{region}/$coverage").json()
    assert figures(whole, "region", region) == {"attached": 4, "withPassport": 2, "recordsUpdated": 3}
    assert figures(whole, "organization", first) == {"attached": 3, "withPassport": 2, "recordsUpdated": 3}
    assert figures(whole, "organization", second) == {"attached": 1, "withPassport": 0, "recordsUpdated": 0}
    assert figures(whole, "total") == figures(whole, "region", region)
    one = fhir.get(f"Organization/{first}/$coverage").json()
    assert figures(one, "total") == {"attached": 3, "withPassport": 2, "recordsUpdated": 3}
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    earlier = fhir.get(f"Organization/{region}/$coverage", params={"date": yesterday}).json()
    assert figures(earlier, "region", region) == {"attached": 4, "withPassport": 2, "recordsUpdated": 0}
    national = fhir.get("$coverage").json()
    assert figures(national, "region", region) == figures(whole, "region", region)
    assert figures(national, "total")["attached"] >= 4


def test_bad_coverage_requests(fhir: httpx.Client) -> None:
    assert fhir.get("Organization/no-such-org/$coverage").status_code == 404
    assert fhir.get("Patient/x/$coverage").status_code == 404
    assert fhir.get("$coverage", params={"date": "yesterday"}).status_code == 400
