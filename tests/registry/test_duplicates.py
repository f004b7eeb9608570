"""``Organization/{id}/$duplicates`` over HTTP: probable duplicates among attached people."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import httpx

from ehp.fhir.codes import FACILITY_KINDS
from ehp.synth.names import transliterate
from tests.registry.helpers import create, fresh_iin, patient, put, unique_family
from tests.registry.test_attachment import attach, organization


def pairs(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    found = []
    for parameter in response.json()["parameter"]:
        if parameter["name"] == "pair":
            parts = {part["name"]: part for part in parameter["part"]}
            found.append(
                {
                    "patient": parts["patient"]["valueReference"]["reference"],
                    "duplicate": parts["duplicate"]["valueReference"]["reference"],
                    "grade": parts["grade"]["valueCode"],
                }
            )
    return found


def test_duplicates_of_attached_people_in_an_organisation_and_its_region(fhir: httpx.Client) -> None:
    region = f"test-region-{uuid4().hex[:12]}"
    department = FACILITY_KINDS["health-department"][0]
    put(
        fhir, {"resourceType": "Organization", "id": region, "type": [department.concept()], "name": "Region"}
    )
    clinic = organization(fhir, partOf={"reference": f"Organization/{region}"})
    family = unique_family()
    born = date(1977, 3, 9)
    kept = create(fhir, patient(family=family, given=("Дәурен",), born=born, iin=fresh_iin(born, "male")))[
        "id"
    ]
    loner = create(fhir, patient(family=unique_family(), given=("Ержан",), born=date(1990, 1, 2)))["id"]
    attach(fhir, kept, clinic, "2020-01-01")
    attach(fhir, loner, clinic, "2020-01-01")
    copy = create(fhir, patient(family=transliterate(family), given=("Dauren",), born=date(1977, 9, 3)))["id"]
    expected = [{"patient": f"Patient/{kept}", "duplicate": f"Patient/{copy}", "grade": "probable"}]
    assert pairs(fhir.get(f"Organization/{clinic}/$duplicates")) == expected
    assert pairs(fhir.get(f"Organization/{region}/$duplicates")) == expected
    assert pairs(fhir.get(f"Organization/{clinic}/$duplicates", params={"grade": "certain"})) == []
    checked = fhir.get(f"Organization/{clinic}/$duplicates").json()["parameter"][0]
    assert checked == {"name": "checked", "valueInteger": 2}


def test_bad_duplicates_requests(fhir: httpx.Client) -> None:
    assert fhir.get("Organization/no-such-org/$duplicates").status_code == 404
    assert fhir.get("Patient/x/$duplicates").status_code == 404
    clinic = organization(fhir)
    assert fhir.get(f"Organization/{clinic}/$duplicates", params={"grade": "maybe"}).status_code == 400
    assert fhir.get(f"Organization/{clinic}/$duplicates", params={"count": "-1"}).status_code == 400
