"""Attacks on the legal bases and the scopes, run as the attacker would (HTTP, real tokens).

Each test is an attack an ordinary practitioner or citizen token could once carry out (see the
world in ``conftest.py``: doctor A works at P's and K's polyclinic A, doctor B at polyclinic B):
who may change who may see (``access/authority.py``) and scopes held on the types returned.
"""

from __future__ import annotations

from typing import Any

from tests.access.conftest import CONSENT_BASE, World, observation

ATTACHMENT_TYPE = {"coding": [{"system": "http://ehp.kz/fhir/CodeSystem/episode-type", "code": "attachment"}]}
SIGNED_FORM = {"contentType": "application/pdf", "url": "https://docs.example.kz/consent/123.pdf"}


def ids(bundle: dict[str, Any], resource_type: str) -> set[str]:
    return {
        entry["resource"]["id"]
        for entry in bundle.get("entry", [])
        if entry["resource"]["resourceType"] == resource_type
    }


def test_a_practitioner_cannot_give_themselves_a_role_at_another_polyclinic(world: World) -> None:
    role = {
        "resourceType": "PractitionerRole",
        "active": True,
        "practitioner": {"reference": "Practitioner/doc-B"},
        "organization": {"reference": "Organization/org-A"},
    }
    with world.client("Practitioner/doc-B") as doctor:
        answer = doctor.post("PractitionerRole", json=role)
        assert answer.status_code == 403, answer.text
        assert answer.json()["resourceType"] == "OperationOutcome"
        assert doctor.put("PractitionerRole/role-B", json=role | {"id": "role-B"}).status_code == 403
        assert doctor.get("Patient/pat-P").status_code == 404, "still no basis for A's patients"
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": role, "request": {"method": "POST", "url": "PractitionerRole"}}],
        }
        assert doctor.post("", json=bundle).status_code == 403
        organization = {"resourceType": "Organization", "id": "org-A", "name": "Taken over"}
        assert doctor.put("Organization/org-A", json=organization).status_code == 403
    with world.client("Organization/org-A", "system/*.cruds") as clinic:
        hired = role | {"practitioner": {"reference": "Practitioner/doc-new"}}
        assert clinic.post("PractitionerRole", json=hired).status_code == 201, "its own system may"
        elsewhere = hired | {"organization": {"reference": "Organization/org-B"}}
        assert clinic.post("PractitionerRole", json=elsewhere).status_code == 403, "but not at another's"


def test_a_worker_cannot_withdraw_or_forge_a_citizens_consent(world: World) -> None:
    forged_permit = CONSENT_BASE | {
        "patient": {"reference": "Patient/pat-P"},
        "provision": {
            "type": "permit",
            "actor": [{"role": {"text": "doctor"}, "reference": {"reference": "Practitioner/doc-D"}}],
        },
    }
    with world.client("Practitioner/doc-A") as doctor:
        assert doctor.get("Consent/consent-P").status_code == 200, "doctor A has a basis for P"
        assert doctor.delete("Consent/consent-P").status_code == 403
        changed = doctor.get("Consent/consent-P").json() | {"status": "inactive"}
        assert doctor.put("Consent/consent-P", json=changed).status_code == 403
        assert doctor.post("Consent", json=forged_permit).status_code == 403, "no proxy, no document"
        undocumented = forged_permit | {"performer": [{"reference": "Patient/pat-P"}]}
        assert doctor.post("Consent", json=undocumented).status_code == 403
        documented = undocumented | {"sourceAttachment": SIGNED_FORM}
        recorded = doctor.post("Consent", json=documented)
        assert recorded.status_code == 201, recorded.text
        assert doctor.get("Consent/consent-P").json()["status"] == "active"
    with world.client("Patient/pat-P", "patient/*.rs") as citizen:
        log = citizen.get("Patient/pat-P/$access-log").json()
    notes = [entry["resource"].get("outcomeDesc", "") for entry in log["entry"]]
    assert "recorded as the documented proxy of Patient/pat-P" in notes
    with world.client("Patient/pat-P", "patient/*.rs patient/Consent.cud") as citizen:
        withdrawn = citizen.delete(f"Consent/{recorded.json()['id']}")
        assert withdrawn.status_code in (200, 204), "the citizen withdraws what was recorded for them"


def test_a_worker_cannot_make_a_citizen_someones_representative(world: World) -> None:
    with world.client("Practitioner/doc-A") as doctor:
        patient = doctor.get("Patient/pat-P").json()
        linked = patient | {"link": [{"other": {"reference": "RelatedPerson/rel-M-K"}, "type": "seealso"}]}
        assert doctor.put("Patient/pat-P", json=linked).status_code == 403
        mother = {
            "resourceType": "RelatedPerson",
            "active": True,
            "patient": {"reference": "Patient/pat-K"},
            "relationship": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH"}]}
            ],
        }
        assert doctor.post("RelatedPerson", json=mother).status_code == 403
        assert doctor.put("Patient/pat-P", json=patient | {"gender": "other"}).status_code == 200, (
            "other changes of the record stay open to a worker with a basis"
        )
    with world.client("Patient/pat-P", "patient/*.rs") as citizen:
        assert citizen.get("Patient/pat-K").status_code == 404


def test_attachments_are_the_registrys_and_attached_lists_only_the_visible(world: World) -> None:
    with world.client("Practitioner/doc-A") as doctor:
        episode = {
            "resourceType": "EpisodeOfCare",
            "status": "active",
            "type": [ATTACHMENT_TYPE],
            "patient": {"reference": "Patient/pat-K"},
            "managingOrganization": {"reference": "Organization/org-B"},
        }
        assert doctor.post("EpisodeOfCare", json=episode).status_code == 403
        moved = doctor.post(
            "Patient/pat-K/$attach",
            json={
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "organization", "valueReference": {"reference": "Organization/org-B"}}
                ],
            },
        )
        assert moved.status_code == 403, moved.text
        own = doctor.get("Organization/org-A/$attached").json()
        assert ids(own, "Patient") == {"pat-P", "pat-K"}
    with world.client("Practitioner/doc-B") as stranger:
        listed = stranger.get("Organization/org-A/$attached")
        assert listed.status_code == 200
        assert ids(listed.json(), "Patient") == set(), "no basis, nobody listed"
        assert ids(listed.json(), "EpisodeOfCare") == set()
    with world.client("Patient/pat-Q", "patient/*.rs") as citizen:
        assert ids(citizen.get("Organization/org-A/$attached").json(), "Patient") == set()
    with world.client("Patient/pat-K", "patient/*.rs") as child:
        log = child.get("AuditEvent", params={"patient": "Patient/pat-K"}).json()
    assert any(
        entry["resource"]["subtype"][0]["code"] == "operation:attached"
        and entry["resource"]["agent"][0]["who"]["reference"] == "Practitioner/doc-A"
        for entry in log["entry"]
    ), "the listing is in the access log of everyone it disclosed"


def types_in(bundle: dict[str, Any]) -> set[str]:
    return {entry["resource"]["resourceType"] for entry in bundle.get("entry", [])}


def test_scopes_hold_for_the_types_returned_not_the_routes(world: World) -> None:
    origin = world.server.base.removesuffix("/fhir")
    with world.client("Patient/pat-P", "patient/Patient.rs") as citizen:
        assert citizen.get("Patient/pat-P").status_code == 200
        assert citizen.get("Patient/pat-P/Observation").status_code == 403
        everything = citizen.get("Patient/pat-P/*")
        assert everything.status_code == 200, everything.text
        assert types_in(everything.json()) <= {"Patient"}, "no Observations, Consents or episodes"
        record = citizen.get("Patient/pat-P/$everything")
        assert record.status_code == 200, record.text
        assert types_in(record.json()) == {"Patient"}
        included = citizen.get("Patient", params={"_id": "pat-P", "_revinclude": "Observation:subject"})
        assert included.status_code == 403, included.text
        assert "Observation" in included.json()["issue"][0]["diagnostics"]
        page = citizen.get(f"{origin}/passport/pat-P")
        assert page.status_code == 200, "the passport page narrows to the types the scopes allow"
    with world.client("Patient/pat-P", "patient/Patient.rs patient/Observation.rs") as citizen:
        record = citizen.get("Patient/pat-P/$everything").json()
        assert types_in(record) == {"Patient", "Observation"}
        assert citizen.get("Patient/pat-P/Observation").status_code == 200
        assert types_in(citizen.get("Patient/pat-P/*").json()) == {"Observation"}
    with world.client("Patient/pat-P", "patient/Observation.rs") as citizen:
        assert citizen.get(f"{origin}/passport/pat-P").status_code == 403


MRN = "urn:oid:1.2.398.7.1.9"
"""A polyclinic's record number system (not the IIN: the registry's own rules stay out of it)."""


def test_inner_searches_see_only_what_the_caller_may(world: World) -> None:
    with world.client("admin", "system/*.cruds") as admin:
        patient = admin.get("Patient/pat-P").json()
        numbered = patient | {"identifier": [{"system": MRN, "value": "P-1"}]}
        assert admin.put("Patient/pat-P", json=numbered).status_code == 200
    with world.client("Practitioner/doc-B") as stranger:
        # If-None-Exist once returned the matching person's record to anyone
        created = stranger.post(
            "Patient",
            json={"resourceType": "Patient", "identifier": [{"system": MRN, "value": "P-1"}]},
            headers={"If-None-Exist": f"identifier={MRN}|P-1"},
        )
        assert created.status_code == 201, created.text
        assert created.json()["id"] != "pat-P"
        # _has from a public type once told anyone where a person was attached
        where = stranger.get(
            "Organization", params={"_has:EpisodeOfCare:organization:patient": "Patient/pat-P"}
        )
        nowhere = stranger.get(
            "Organization", params={"_has:EpisodeOfCare:organization:patient": "Patient/none"}
        )
        assert where.status_code == nowhere.status_code == 200
        assert where.json()["total"] == nowhere.json()["total"] == 0
        # a conditional reference resolves only to what the caller may see
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": {
                        "resourceType": "Observation",
                        "status": "final",
                        "code": {"text": "probe"},
                        "subject": {"reference": ""},
                    },
                    "request": {"method": "POST", "url": "Observation"},
                }
            ],
        }
        answers = []
        for value in ("P-1", "no-such-number"):
            entry = bundle["entry"][0]  # type: ignore[index]
            entry["resource"]["subject"]["reference"] = f"Patient?identifier={MRN}|{value}"
            answer = stranger.post("", json=bundle)
            answers.append((answer.status_code, answer.json()["issue"][0]["code"]))
        assert answers[0] == answers[1] == (412, "not-found"), answers
    with world.client("Practitioner/doc-A") as doctor:
        # P's deny closes the PSY-labelled record: it must not count through _has either
        labelled = doctor.get(
            "Patient",
            params={
                "_has:Observation:subject:_security": "http://terminology.hl7.org/CodeSystem/v3-ActCode|PSY"
            },
        )
        assert labelled.status_code == 200, labelled.text
        assert labelled.json()["total"] == 0
        unlabelled = doctor.get("Patient", params={"_has:Observation:subject:_id": "obs-P"})
        assert {e["resource"]["id"] for e in unlabelled.json()["entry"]} == {"pat-P"}
        assert doctor.get("Observation", params={"subject.identifier": f"{MRN}|P-1"}).json()["total"] == 1
    with world.client("Practitioner/doc-B") as stranger:
        assert stranger.get("Observation", params={"subject.identifier": f"{MRN}|P-1"}).json()["total"] == 0


def test_history_shows_each_version_only_to_who_may_see_it_and_is_audited(world: World) -> None:
    moved = observation("obs-moved", "Q")
    with world.client("admin", "system/*.cruds") as admin:
        assert admin.put("Observation/obs-moved", json=moved).status_code == 201
        moved["subject"] = {"reference": "Patient/pat-P"}
        assert admin.put("Observation/obs-moved", json=moved).status_code == 200
    with world.client("Practitioner/doc-A") as doctor:
        for path in ("Observation/obs-moved/_history", "Observation/_history", "_history"):
            answer = doctor.get(path, params={"_count": "1000"})
            assert answer.status_code == 200, (path, answer.text)
            shown = [
                (
                    e["resource"]["id"],
                    e["resource"]["meta"]["versionId"],
                    e["resource"]["subject"]["reference"],
                )
                for e in answer.json()["entry"]
                if "resource" in e and e["resource"]["id"] == "obs-moved"
            ]
            assert shown == [("obs-moved", "2", "Patient/pat-P")], (path, shown)
    with world.client("Patient/pat-P", "patient/*.rs") as citizen:
        log = citizen.get("AuditEvent", params={"patient": "Patient/pat-P", "_count": "1000"}).json()
    seen = {
        (e["resource"]["subtype"][0]["code"], e["resource"]["agent"][0]["who"].get("reference"))
        for e in log["entry"]
    }
    assert {("history-type", "Practitioner/doc-A"), ("history-system", "Practitioner/doc-A")} <= seen
    with world.client("Patient/pat-Q", "patient/*.rs") as other:
        log = other.get("AuditEvent", params={"patient": "Patient/pat-Q", "_count": "1000"}).json()
    assert not any(
        e["resource"]["agent"][0]["who"].get("reference") == "Practitioner/doc-A"
        and e["resource"]["subtype"][0]["code"].startswith("history")
        for e in log["entry"]
    ), "Q's old version was not shown to doctor A, so it is not in Q's log"


def test_what_points_at_a_patient_outside_the_compartment_is_theirs_too(world: World) -> None:
    task = {
        "resourceType": "Task",
        "id": "task-P",
        "status": "requested",
        "intent": "order",
        "for": {"reference": "Patient/pat-P"},
        "description": "psychiatric follow-up",
    }
    device = {"resourceType": "Device", "id": "device-P", "patient": {"reference": "Patient/pat-P"}}
    with world.client("admin", "system/*.cruds") as admin:
        assert admin.put("Task/task-P", json=task).status_code == 201
        assert admin.put("Device/device-P", json=device).status_code == 201
    with world.client("Practitioner/doc-B") as stranger:
        for path in ("Task/task-P", "Device/device-P"):
            assert stranger.get(path).status_code == 404, path
        assert stranger.get("Task", params={"_id": "task-P"}).json()["total"] == 0
        assert stranger.get("Device").json()["total"] == 0
    with world.client("Practitioner/doc-A") as doctor:
        assert doctor.get("Task/task-P").status_code == 200
        assert doctor.get("Device", params={"_id": "device-P"}).json()["total"] == 1
