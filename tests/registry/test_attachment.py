"""Attachment to a polyclinic over HTTP: every rule, history, notifications, concurrency, bad input."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any
from uuid import uuid4

import httpx
import pytest

from ehp.fhir.codes import ATTACHMENT, FACILITY_KINDS
from ehp.registry.attachment import END_REASON, START_REASON
from tests.registry.helpers import (
    FHIR_JSON,
    create,
    issue,
    operation,
    parameters,
    patient,
    put,
    unique_family,
)


def organization(fhir: httpx.Client, kind: str = "polyclinic", **more: Any) -> str:
    """A new Organization of a facility kind; its id."""
    org_id = f"test-{kind}-{uuid4().hex[:12]}"
    code = FACILITY_KINDS[kind][0]
    put(
        fhir,
        {"resourceType": "Organization", "id": org_id, "type": [code.concept()], "name": f"{kind} {org_id}"}
        | more,
    )
    return org_id


def citizen(fhir: httpx.Client, **more: Any) -> str:
    created = create(fhir, patient(family=unique_family(), born=date(1985, 6, 14), **more))
    return str(created["id"])


def attach(
    fhir: httpx.Client, patient_id: str, org_id: str, day: str, reason: str | None = None
) -> httpx.Response:
    values: dict[str, Any] = {
        "organization": {"valueReference": {"reference": f"Organization/{org_id}"}},
        "date": {"valueDate": day},
    }
    if reason is not None:
        values["reason"] = {"valueCode": reason}
    return operation(fhir, f"Patient/{patient_id}/$attach", parameters(**values))


def detach(fhir: httpx.Client, patient_id: str, reason: str, day: str) -> httpx.Response:
    return operation(
        fhir,
        f"Patient/{patient_id}/$detach",
        parameters(reason={"valueCode": reason}, date={"valueDate": day}),
    )


def output(response: httpx.Response, name: str) -> list[Any]:
    assert response.status_code == 200, response.text
    return [
        p.get("resource", p.get("valueBoolean")) for p in response.json()["parameter"] if p["name"] == name
    ]


def episodes(fhir: httpx.Client, patient_id: str) -> list[dict[str, Any]]:
    found = fhir.get("EpisodeOfCare", params={"patient": f"Patient/{patient_id}", "_count": "100"}).json()
    return sorted(
        (e["resource"] for e in found.get("entry", [])), key=lambda e: (e["period"]["start"], e["status"])
    )


def active_orgs(fhir: httpx.Client, patient_id: str) -> list[str]:
    return [
        e["managingOrganization"]["reference"] for e in episodes(fhir, patient_id) if e["status"] == "active"
    ]


def test_first_attachment_history_and_notifications(fhir: httpx.Client) -> None:
    first, second = organization(fhir), organization(fhir)
    person = citizen(fhir)
    attached = attach(fhir, person, first, "2020-03-01")
    (episode,) = output(attached, "attachment")
    assert (episode["status"], episode["period"], episode["type"][0]["coding"][0]["code"]) == (
        "active",
        {"start": "2020-03-01"},
        ATTACHMENT.code,
    )
    assert episode["extension"][0]["url"] == START_REASON
    assert output(attach(fhir, person, first, "2021-01-01"), "changed") == [False], "already attached there"
    moved = attach(fhir, person, second, "2024-10-01")
    (ended,) = output(moved, "ended")
    assert ended["id"] == episode["id"] and ended["status"] == "finished"
    assert ended["period"] == {"start": "2020-03-01", "end": "2024-10-01"}
    assert ended["statusHistory"] == [
        {"status": "active", "period": {"start": "2020-03-01", "end": "2024-10-01"}}
    ]
    assert ended["extension"][-1]["url"] == END_REASON
    assert ended["extension"][-1]["valueCoding"]["code"] == "re-attachment"
    history = episodes(fhir, person)
    assert [e["status"] for e in history] == ["finished", "active"]
    assert active_orgs(fhir, person) == [f"Organization/{second}"]
    versions = fhir.get(f"EpisodeOfCare/{episode['id']}/_history").json()
    assert len(versions["entry"]) == 2, "the ended episode keeps its history"
    for org, expected in ((first, 2), (second, 1)):
        news = fhir.get(
            "Communication", params={"recipient": f"Organization/{org}", "subject": f"Patient/{person}"}
        ).json()
        assert len(news.get("entry", [])) == expected, "both polyclinics are told"
    topics = {
        e["resource"]["topic"]["coding"][0]["code"]
        for e in fhir.get("Communication", params={"recipient": f"Organization/{first}"}).json()["entry"]
    }
    assert topics == {"attached", "transferred-out"}


def test_only_primary_care_organisations(fhir: httpx.Client) -> None:
    person = citizen(fhir)
    for kind in ("hospital", "ambulance", "laboratory", "maternity"):
        refused = attach(fhir, person, organization(fhir, kind), "2022-01-10")
        assert refused.status_code == 422
        assert "primary-care" in issue(refused)["diagnostics"]
        assert issue(refused)["expression"] == ["Parameters.parameter.where(name='organization')"]
    closed = attach(fhir, person, organization(fhir, active=False), "2022-01-10")
    assert closed.status_code == 422
    assert episodes(fhir, person) == [], "nothing written"


def test_unknown_patient_and_organisation(fhir: httpx.Client) -> None:
    assert attach(fhir, "no-such-patient", organization(fhir), "2022-01-10").status_code == 404
    unknown_org = attach(fhir, citizen(fhir), "no-such-org", "2022-01-10")
    assert unknown_org.status_code == 422 and issue(unknown_org)["code"] == "not-found"


def test_changes_follow_the_yearly_allowance_the_campaign_and_its_exceptions(fhir: httpx.Client) -> None:
    a, b, c, d = (organization(fhir) for _ in range(4))
    person = citizen(fhir)
    assert attach(fhir, person, a, "2023-02-01").status_code == 200, "a first attachment is always allowed"
    outside = attach(fhir, person, b, "2023-03-01")
    assert outside.status_code == 422 and "campaign" in issue(outside)["diagnostics"]
    assert attach(fhir, person, b, "2023-03-01", "change-of-residence").status_code == 200
    assert attach(fhir, person, c, "2023-09-20").status_code == 200, "the year's free change, in the campaign"
    too_frequent = attach(fhir, person, d, "2023-10-20")
    assert too_frequent.status_code == 422 and "too frequent" in issue(too_frequent)["diagnostics"]
    assert attach(fhir, person, d, "2024-10-20").status_code == 200, "a new year"
    assert attach(fhir, person, a, "2024-11-01", "organization-closed").status_code == 200
    assert active_orgs(fhir, person) == [f"Organization/{a}"]
    assert len(episodes(fhir, person)) == 5


def test_detach_for_death_or_emigration(fhir: httpx.Client) -> None:
    clinic = organization(fhir)
    person = citizen(fhir)
    assert detach(fhir, person, "emigration", "2022-01-01").status_code == 422, "not attached"
    attach(fhir, person, clinic, "2021-05-05")
    (ended,) = output(detach(fhir, person, "death", "2022-01-01"), "ended")
    assert ended["status"] == "finished" and ended["extension"][-1]["valueCoding"]["code"] == "death"
    assert active_orgs(fhir, person) == []
    assert detach(fhir, person, "death", "2022-01-02").status_code == 422
    assert (
        operation(fhir, f"Patient/{person}/$detach", parameters(reason={"valueCode": "boredom"})).status_code
        == 400
    )


@pytest.mark.parametrize(
    ("values", "status"),
    [
        ({}, 400),
        ({"organization": {"valueString": "Organization"}}, 400),
        ({"organization": {"valueReference": {"reference": "Practitioner/x"}}}, 400),
        ({"date": {"valueDate": "2020-02-30"}}, 400),
        ({"reason": {"valueCode": "whim"}}, 400),
        ({"date": {"valueDate": "2999-01-01"}}, 422),
        ({"date": {"valueDate": "1980-01-01"}}, 422),
    ],
)
def test_bad_requests_write_nothing(fhir: httpx.Client, values: dict[str, Any], status: int) -> None:
    person = citizen(fhir)
    body = {"organization": {"valueReference": {"reference": f"Organization/{organization(fhir)}"}}} | values
    if not values:
        body = {}
    response = operation(fhir, f"Patient/{person}/$attach", parameters(**body))
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert episodes(fhir, person) == []


def test_a_date_before_the_current_attachment_is_refused(fhir: httpx.Client) -> None:
    person = citizen(fhir)
    attach(fhir, person, organization(fhir), "2022-10-01")
    early = attach(fhir, person, organization(fhir), "2022-09-20", "change-of-residence")
    assert early.status_code == 422 and "before the current attachment" in issue(early)["diagnostics"]


def test_concurrent_re_attachments_exactly_one_wins(fhir: httpx.Client) -> None:
    person = citizen(fhir)
    attach(fhir, person, organization(fhir), "2021-01-15")
    targets = [organization(fhir) for _ in range(6)]
    with ThreadPoolExecutor(len(targets)) as pool:
        responses = list(pool.map(lambda org: attach(fhir, person, org, "2025-10-01"), targets))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [422] * 5, [r.text for r in responses]
    winner = targets[[r.status_code for r in responses].index(200)]
    assert active_orgs(fhir, person) == [f"Organization/{winner}"]


def test_a_second_active_attachment_cannot_be_written_directly(fhir: httpx.Client) -> None:
    person = citizen(fhir)
    attach(fhir, person, organization(fhir), "2022-01-01")
    episode = {
        "resourceType": "EpisodeOfCare",
        "status": "active",
        "type": [ATTACHMENT.concept()],
        "patient": {"reference": f"Patient/{person}"},
        "managingOrganization": {"reference": f"Organization/{organization(fhir)}"},
        "period": {"start": "2023-01-01"},
    }
    refused = fhir.post("EpisodeOfCare", json=episode, headers=FHIR_JSON)
    assert refused.status_code == 409
    assert (
        fhir.post("EpisodeOfCare", json=episode | {"status": "finished"}, headers=FHIR_JSON).status_code
        == 201
    )


def test_a_polyclinic_lists_its_attached_population(fhir: httpx.Client) -> None:
    clinic, other = organization(fhir), organization(fhir)
    people = [citizen(fhir) for _ in range(3)]
    for person in people:
        attach(fhir, person, clinic, "2022-05-01")
    attach(fhir, people[0], other, "2024-06-01", "change-of-residence")
    now = fhir.get(f"Organization/{clinic}/$attached").json()
    included = {e["resource"]["id"] for e in now["entry"] if e["search"]["mode"] == "include"}
    assert included == set(people[1:])
    assert len([e for e in now["entry"] if e["search"]["mode"] == "match"]) == 2
    then = fhir.get(f"Organization/{clinic}/$attached", params={"date": "2023-01-01"}).json()
    assert {e["resource"]["id"] for e in then["entry"] if e["search"]["mode"] == "include"} == set(people)
    paged = fhir.get(f"Organization/{clinic}/$attached", params={"_count": "1"}).json()
    assert any(link["relation"] == "next" for link in paged["link"])
    assert fhir.get(f"Patient/{people[0]}/$attached").status_code == 404
