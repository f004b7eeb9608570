"""Break-the-glass, the citizen's access log and the audit of every access, over real HTTP."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from ehp.access.schema import break_glass
from ehp.security.audit import verify
from ehp.security.schema import audit_events
from ehp.store.database import open_engine
from tests.access.conftest import CONSENT_BASE, World

REASON = "unconscious in the emergency room"


def narrative(bundle: dict[str, Any]) -> str:
    return "\n".join(entry["resource"]["text"]["div"] for entry in bundle["entry"])


def test_break_the_glass_opens_one_patient_for_a_while_and_is_reviewed(world: World) -> None:
    with world.client("Practitioner/doc-B") as doctor:
        assert doctor.get("Patient/pat-P").status_code == 404
        empty = doctor.get("Patient/pat-P", headers={"X-Break-Glass-Reason": ""})
        assert empty.status_code == 400
        assert empty.json()["resourceType"] == "OperationOutcome"
        assert doctor.get("Patient/pat-P").status_code == 404
        opened = doctor.get("Patient/pat-P", headers={"X-Break-Glass-Reason": REASON})
        assert opened.status_code == 200
        later = doctor.get("Observation", params={"patient": "Patient/pat-P"}).json()
        assert {entry["resource"]["id"] for entry in later["entry"]} == {"obs-P"}, (
            "labelled records stay closed"
        )
        assert doctor.get("Patient/pat-K").status_code == 404, "only that one patient is opened"
    with world.client("Patient/pat-P", "patient/*.rs") as citizen:
        assert citizen.get("Patient/pat-K", headers={"X-Break-Glass-Reason": REASON}).status_code == 403
    engine = open_engine(world.server.database, pool_size=1)
    try:
        with engine.connect() as connection:
            row = connection.execute(select(break_glass)).one()
    finally:
        engine.dispose()
    assert (row.actor, row.patient, row.organizations, row.reason) == (
        "Practitioner/doc-B",
        "pat-P",
        "org-B",
        REASON,
    )
    assert row.expires - row.opened == 4 * 3600 * 1_000_000
    with world.client("Practitioner/doc-A") as outsider:
        assert outsider.get("Organization/org-B/$break-glass-review").status_code == 403
    with world.client("Practitioner/doc-B") as officer:
        review = officer.get("Organization/org-B/$break-glass-review")
    assert review.status_code == 200
    [event] = [entry["resource"] for entry in review.json()["entry"]]
    assert event["agent"][0]["who"]["reference"] == "Practitioner/doc-B"
    assert {"reference": "Patient/pat-P"} in [entity.get("what") for entity in event["entity"]]
    assert REASON in [entity.get("description") for entity in event["entity"]]


def test_the_citizen_reads_who_accessed_their_passport(world: World) -> None:
    with world.client("Practitioner/doc-A") as doctor:
        assert doctor.get("Observation", params={"patient": "Patient/pat-P"}).status_code == 200
    with world.client("Practitioner/doc-B") as doctor:
        doctor.get("Observation/obs-P", headers={"X-Break-Glass-Reason": REASON})
    with world.client("Patient/pat-P", "patient/*.rs") as citizen:
        consent = CONSENT_BASE | {"patient": {"reference": "Patient/pat-P"}, "provision": {"type": "deny"}}
        assert citizen.post("Consent", json=consent).status_code == 403, "the scopes do not allow writes"
        log = citizen.get("Patient/pat-P/$access-log")
        events = citizen.get("AuditEvent", params={"patient": "Patient/pat-P"})
        assert citizen.get("AuditEvent", params={"patient": "Patient/pat-Q"}).status_code == 403
        # decided on the caller alone, so it reads the same whether Patient/pat-Q exists or not
        assert citizen.get("Patient/pat-Q/$access-log").status_code == 403
        assert citizen.get("Patient/pat-nobody/$access-log").status_code == 403
    assert log.status_code == 200, log.text
    text = narrative(log.json())
    assert "Practitioner/doc-A search-type" in text, text.replace("</div>", "\n")
    assert f"Practitioner/doc-B read Observation/obs-P [EMERGENCY ACCESS: {REASON}]" in text
    assert events.status_code == 200
    found = [entry["resource"] for entry in events.json()["entry"]]
    purposes = {coding["code"] for event in found for p in event["purposeOfEvent"] for coding in p["coding"]}
    assert {"TREAT", "ETREAT"} <= purposes
    refused = {event["subtype"][0]["code"] for event in found if event["outcome"] == "4"}
    assert {"read", "create"} <= refused, "refused accesses are in the log too"
    with world.client("Practitioner/doc-A") as doctor:
        assert doctor.get("AuditEvent", params={"patient": "Patient/pat-P"}).status_code == 403
    with world.client("Patient/pat-M", "patient/*.rs") as parent:
        assert parent.get("AuditEvent", params={"patient": "Patient/pat-K"}).status_code == 200


def test_every_access_is_in_the_intact_chain_failed_logins_too(world: World) -> None:
    bad = world.client("Practitioner/doc-A")
    bad.headers["Authorization"] = "Bearer not-a-token"
    with bad:
        assert bad.get("Patient").status_code == 401
    engine = open_engine(world.server.database, pool_size=1)
    try:
        deadline = time.monotonic() + 10
        while True:
            with engine.connect() as connection:
                logins = connection.execute(
                    select(audit_events.c.seq).where(audit_events.c.actor == "anonymous")
                ).all()
            if logins or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert logins, "the failed login was not audited"
        checked = verify(engine)
    finally:
        engine.dispose()
    assert checked.first_bad is None, checked.problem
    assert checked.records > 20


def test_no_caller_can_write_an_audit_event_to_shadow_the_chain(world: World) -> None:
    """``PUT AuditEvent/{id of a chain record}`` once stored a forged entry under a real one's id."""
    with world.client("Practitioner/doc-A") as doctor:
        assert doctor.get("Observation/obs-P").status_code == 200
    with world.client("Patient/pat-P", "patient/*.rs") as citizen:
        log = citizen.get("AuditEvent", params={"patient": "Patient/pat-P"}).json()
    genuine = log["entry"][0]["resource"]
    forged = genuine | {"agent": [{"who": {"display": "nobody"}, "requestor": True}]}
    for subject, scope in (
        ("admin", "system/*.cruds"),
        ("Practitioner/doc-A", "user/*.cruds"),
        ("Organization/org-A", "system/*.cruds"),
    ):
        with world.client(subject, scope) as caller:
            attempts = {
                "PUT": caller.put(f"AuditEvent/{genuine['id']}", json=forged),
                "POST": caller.post("AuditEvent", json=forged | {"id": None}),
                "DELETE": caller.delete(f"AuditEvent/{genuine['id']}"),
                "Bundle": caller.post(
                    "",
                    json={
                        "resourceType": "Bundle",
                        "type": "transaction",
                        "entry": [
                            {
                                "resource": forged,
                                "request": {"method": "PUT", "url": f"AuditEvent/{genuine['id']}"},
                            }
                        ],
                    },
                ),
            }
            for kind, answer in attempts.items():
                assert answer.status_code == 403, (subject, kind, answer.text)
                assert answer.json()["resourceType"] == "OperationOutcome"
            assert caller.get(f"AuditEvent/{genuine['id']}").status_code == 404
    with world.client("Patient/pat-P", "patient/*.rs") as citizen:
        after = citizen.get("AuditEvent", params={"patient": "Patient/pat-P"}).json()
    shown = {entry["resource"]["id"]: entry["resource"] for entry in after["entry"]}
    assert shown[genuine["id"]] == genuine, "the citizen still sees the genuine record"


def test_a_privacy_officer_is_a_role_given_not_a_practitioner_role_written(world: World) -> None:
    """Writing oneself a PractitionerRole coded privacy-officer at another polyclinic opens no
    review of its emergency accesses: privacy officers are given the role (``ehp role add``)."""
    claimed = {
        "resourceType": "PractitionerRole",
        "active": True,
        "practitioner": {"reference": "Practitioner/doc-D"},
        "organization": {"reference": "Organization/org-B"},
        "code": [
            {
                "coding": [
                    {"system": "http://ehp.kz/fhir/CodeSystem/practitioner-role", "code": "privacy-officer"}
                ]
            }
        ],
    }
    with world.client("Practitioner/doc-D") as doctor:
        doctor.post("PractitionerRole", json=claimed)
        assert doctor.get("Organization/org-B/$break-glass-review").status_code == 403
    with world.client("Practitioner/doc-B") as officer:
        assert officer.get("Organization/org-B/$break-glass-review").status_code == 200
        assert officer.get("Organization/org-A/$break-glass-review").status_code == 403
