"""A secured server with a small world of patients, workers, consents and a representative.

Patients: ``P`` (attached to polyclinic A, permits doctor C, denies doctor D, closes its records
labelled PSY to everyone), ``K`` (a child attached to A, represented by ``M``), ``M`` and ``Q``
(attached to polyclinic B). Workers: doctor A (at A), doctor B (at B, privacy officer there),
doctor C (at B, with P's consent), doctor D (at A, denied by P), and the clinic system of A.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ehp.bench.servers import BenchServer
from ehp.fhir.codes import ATTACHMENT, EPISODE_TYPE
from ehp.security.authenticator import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from ehp.security.keys import SigningKey, signing_key
from ehp.security.roles import ADMINISTRATOR, PRIVACY_OFFICER, Role, set_roles
from ehp.security.tokens import issue_token
from ehp.store.database import open_engine
from tests.servers import database_url

ROLE_CODES = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
PATIENTS = ("P", "K", "M", "Q")
DELETED = "obs-Q-deleted"
"""Q's Observation, deleted: gone (410) for who could see it, not found (404) for the others."""
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONSENT_BASE: dict[str, Any] = {
    "resourceType": "Consent",
    "status": "active",
    "scope": {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
        ]
    },
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]},
}


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource": resource,
        "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
    }


def _ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def world_resources() -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    for org in ("A", "B"):
        resources.append({"resourceType": "Organization", "id": f"org-{org}", "name": f"Polyclinic {org}"})
    for doctor, org in (("A", "A"), ("B", "B"), ("C", "B"), ("D", "A")):
        resources.append(
            {"resourceType": "Practitioner", "id": f"doc-{doctor}", "name": [{"family": doctor}]}
        )
        role: dict[str, Any] = {
            "resourceType": "PractitionerRole",
            "id": f"role-{doctor}",
            "active": True,
            "practitioner": _ref(f"Practitioner/doc-{doctor}"),
            "organization": _ref(f"Organization/org-{org}"),
        }
        if doctor == "B":
            role["code"] = [
                {
                    "coding": [
                        {
                            "system": "http://ehp.kz/fhir/CodeSystem/practitioner-role",
                            "code": "privacy-officer",
                        }
                    ]
                }
            ]
        resources.append(role)
    for patient, org in (("P", "A"), ("K", "A"), ("M", "B"), ("Q", "B")):
        person: dict[str, Any] = {"resourceType": "Patient", "id": f"pat-{patient}", "gender": "female"}
        if patient == "M":
            person["link"] = [{"other": _ref("RelatedPerson/rel-M-K"), "type": "seealso"}]
        resources.append(person)
        resources.append(
            {
                "resourceType": "EpisodeOfCare",
                "id": f"att-{patient}",
                "status": "active",
                "type": [{"coding": [{"system": EPISODE_TYPE, "code": ATTACHMENT.code}]}],
                "patient": _ref(f"Patient/pat-{patient}"),
                "managingOrganization": _ref(f"Organization/org-{org}"),
            }
        )
        resources.append(observation(f"obs-{patient}", patient))
    resources.append(
        {
            "resourceType": "RelatedPerson",
            "id": "rel-M-K",
            "active": True,
            "patient": _ref("Patient/pat-K"),
            "relationship": [{"coding": [{"system": ROLE_CODES, "code": "MTH"}]}],
        }
    )
    resources.append(observation(DELETED, "Q"))
    secret = observation("obs-P-psy", "P")
    secret["meta"] = {"security": [{"system": ACT_CODE, "code": "PSY"}]}
    resources.append(secret)
    resources.append(
        CONSENT_BASE
        | {
            "id": "consent-P",
            "patient": _ref("Patient/pat-P"),
            "provision": {
                "type": "permit",
                "actor": [{"role": {"text": "doctor"}, "reference": _ref("Practitioner/doc-C")}],
                "provision": [
                    {
                        "type": "deny",
                        "actor": [{"role": {"text": "doctor"}, "reference": _ref("Practitioner/doc-D")}],
                    },
                    {"type": "deny", "securityLabel": [{"system": ACT_CODE, "code": "PSY"}]},
                ],
            },
        }
    )
    return resources


def observation(resource_id: str, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": _ref(f"Patient/pat-{patient}"),
    }


@dataclass
class World:
    server: BenchServer
    key: SigningKey

    def token(self, subject: str, scope: str) -> str:
        return issue_token(
            self.key.private_key,
            self.key.kid,
            issuer=DEFAULT_ISSUER,
            audience=DEFAULT_AUDIENCE,
            subject=subject,
            scope=scope,
            ttl_seconds=3600,
            now=time.time(),
        )

    def client(self, subject: str, scope: str = "user/*.cruds") -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base + "/",
            headers={"Authorization": f"Bearer {self.token(subject, scope)}"},
            timeout=60,
        )


def give_world_roles(url: str) -> SigningKey:
    """Roles are data: ``admin`` is the administrator and doctor B org-B's privacy officer because
    they were given those roles, not because of their names or a PractitionerRole code."""
    engine = open_engine(url, pool_size=1)
    try:
        set_roles(engine, DEFAULT_ISSUER, "admin", [Role(ADMINISTRATOR)])
        set_roles(engine, DEFAULT_ISSUER, "Practitioner/doc-B", [Role(PRIVACY_OFFICER, "org-B")])
        return signing_key(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp(f"access-{request.param}")
    with (
        database_url(request.param, folder) as url,
        BenchServer(url, folder / "server.log", auth="required") as server,
    ):
        key = give_world_roles(url)
        built = World(server, key)
        with built.client("admin", "system/*.cruds") as admin:
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [_put(r) for r in world_resources()],
            }
            response = admin.post("", json=bundle)
            assert response.status_code == 200, response.text
            assert admin.delete(f"Observation/{DELETED}").status_code in (200, 204)
        yield built
