"""The authorization matrix over real HTTP: every role times every interaction, on both databases.

Each case states what the role may see (from the world in ``conftest.py``) and checks that the
server shows exactly that: no data it should not, no 5xx. The number of cases is printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.access.conftest import DELETED, PATIENTS, World, observation

HIDDEN_OBSERVATION = "obs-P-psy"
"""Labelled PSY: P's consent closes it to every worker; P and administrators still see it."""


@dataclass(frozen=True)
class Role:
    name: str
    subject: str
    scope: str
    patients: frozenset[str]
    sees_hidden: bool = False

    @property
    def citizen(self) -> bool:
        return self.subject.startswith("Patient/")

    def observations(self, only: str | None = None) -> set[str]:
        found = {f"obs-{p}" for p in self.patients if only in (None, p)}
        if self.sees_hidden and "P" in self.patients and only in (None, "P"):
            found.add(HIDDEN_OBSERVATION)
        return found


CITIZEN_SCOPE = "patient/*.rs patient/Consent.cud"
ROLES = [
    Role("citizen", "Patient/pat-P", CITIZEN_SCOPE, frozenset({"P"}), sees_hidden=True),
    Role("representative", "Patient/pat-M", CITIZEN_SCOPE, frozenset({"M", "K"})),
    Role("attached-polyclinic doctor", "Practitioner/doc-A", "user/*.cruds", frozenset({"P", "K"})),
    Role("other doctor", "Practitioner/doc-B", "user/*.cruds", frozenset({"M", "Q"})),
    Role("doctor with consent", "Practitioner/doc-C", "user/*.cruds", frozenset({"M", "Q", "P"})),
    Role("doctor denied by consent", "Practitioner/doc-D", "user/*.cruds", frozenset({"K"})),
    Role("clinic system", "Organization/org-A", "system/*.cruds", frozenset({"P", "K"})),
    Role("administrator", "admin", "system/*.cruds", frozenset(PATIENTS), sees_hidden=True),
]
ALL_OBSERVATIONS = {f"obs-{p}" for p in PATIENTS} | {HIDDEN_OBSERVATION}


@dataclass
class Matrix:
    client: httpx.Client
    role: Role
    cases: int = 0
    failures: list[str] = field(default_factory=list)

    def get(self, path: str, **params: Any) -> httpx.Response:
        response = self.client.get(path, params=params)
        if response.status_code >= 500:
            self.failures.append(f"{self.role.name}: GET {path} {params} -> {response.status_code}")
        return response

    def check(self, what: str, actual: Any, expected: Any) -> None:
        self.cases += 1
        if actual != expected:
            self.failures.append(f"{self.role.name}: {what}: got {actual!r}, expected {expected!r}")


def ids(bundle: dict[str, Any], resource_type: str, mode: str | None = None) -> set[str]:
    return {
        entry["resource"]["id"]
        for entry in bundle.get("entry", [])
        if "resource" in entry
        and entry["resource"]["resourceType"] == resource_type
        and (mode is None or entry["search"]["mode"] == mode)
    }


def patient_id(patient: str) -> str:
    return f"pat-{patient}"


def read_cases(matrix: Matrix) -> None:
    role = matrix.role
    for patient in PATIENTS:
        status = matrix.get(f"Patient/{patient_id(patient)}").status_code
        matrix.check(f"read Patient/{patient_id(patient)}", status, 200 if patient in role.patients else 404)
    for observation_id in sorted(ALL_OBSERVATIONS):
        status = matrix.get(f"Observation/{observation_id}").status_code
        matrix.check(
            f"read Observation/{observation_id}",
            status,
            200 if observation_id in role.observations() else 404,
        )
        status = matrix.get(f"Observation/{observation_id}/_history/1").status_code
        matrix.check(
            f"vread Observation/{observation_id}",
            status,
            200 if observation_id in role.observations() else 404,
        )
    status = matrix.get(f"Observation/{DELETED}").status_code
    matrix.check(f"read deleted Observation/{DELETED}", status, 410 if "Q" in role.patients else 404)


def search_cases(matrix: Matrix) -> None:
    role = matrix.role
    bundle = matrix.get("Observation", _total="accurate", _count="100").json()
    matrix.check("search Observation", ids(bundle, "Observation"), role.observations())
    matrix.check("search Observation _total", bundle.get("total"), len(role.observations()))
    page = matrix.get("Observation", _count="1").json()
    pages = 1
    seen = ids(page, "Observation")
    while next_link := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        page = matrix.client.get(next_link).json()
        seen |= ids(page, "Observation")
        pages += 1
    matrix.check(
        "paging through Observation one by one", (seen, pages), (role.observations(), max(1, len(seen)))
    )
    for patient in PATIENTS:
        found = ids(matrix.get("Observation", patient=f"Patient/{patient_id(patient)}").json(), "Observation")
        matrix.check(f"search Observation?patient={patient}", found, role.observations(patient))
        found = ids(matrix.get(f"Patient/{patient_id(patient)}/Observation").json(), "Observation")
        matrix.check(f"compartment Patient/{patient}/Observation", found, role.observations(patient))
    people = matrix.get("Patient", _summary="count").json()
    matrix.check("Patient?_summary=count", people.get("total"), len(role.patients))
    directory = ids(matrix.get("Organization").json(), "Organization")
    matrix.check("the directory stays public", directory, {"org-A", "org-B"})


def include_cases(matrix: Matrix) -> None:
    role = matrix.role
    bundle = matrix.get("Observation", _include="Observation:subject", _count="100").json()
    expected_patients = {patient_id(p) for p in role.patients}
    matrix.check("_include Observation:subject", ids(bundle, "Patient", "include"), expected_patients)
    bundle = matrix.get("Patient", _revinclude="Observation:subject", _count="100").json()
    matrix.check("_revinclude matches", ids(bundle, "Patient", "match"), expected_patients)
    matrix.check(
        "_revinclude Observation:subject", ids(bundle, "Observation", "include"), role.observations()
    )
    bundle = matrix.get("EpisodeOfCare", _include="EpisodeOfCare:patient", _count="100").json()
    matrix.check("_include EpisodeOfCare:patient", ids(bundle, "Patient", "include"), expected_patients)


def history_cases(matrix: Matrix) -> None:
    role = matrix.role
    for observation_id in sorted(ALL_OBSERVATIONS):
        status = matrix.get(f"Observation/{observation_id}/_history").status_code
        matrix.check(
            f"history Observation/{observation_id}",
            status,
            200 if observation_id in role.observations() else 404,
        )
    bundle = matrix.get("Observation/_history", _count="100").json()
    listed = {entry["fullUrl"].rsplit("/", 1)[-1] for entry in bundle["entry"]}
    deleted = {DELETED} if role.subject == "admin" else set()
    matrix.check("type history Observation", listed, role.observations() | deleted)


def record_cases(matrix: Matrix) -> None:
    """``$everything``, ``$summary`` and the passport page: a patient's whole record, as far as the
    role may see it (a consent-closed record stays out of a worker's ``$everything``)."""
    role = matrix.role
    page_base = str(matrix.client.base_url).rstrip("/").removesuffix("/fhir")
    for patient in PATIENTS:
        allowed = patient in role.patients
        response = matrix.get(f"Patient/{patient_id(patient)}/$everything", _count="100")
        matrix.check(f"$everything of {patient}", response.status_code, 200 if allowed else 404)
        if allowed:
            found = ids(response.json(), "Observation", "match")
            matrix.check(f"$everything of {patient}: Observations", found, role.observations(patient))
        status = matrix.get(f"Patient/{patient_id(patient)}/$summary").status_code
        matrix.check(f"$summary of {patient}", status, 200 if allowed else 404)
        page = matrix.client.get(f"{page_base}/passport/{patient_id(patient)}")
        if page.status_code >= 500:
            matrix.failures.append(f"{role.name}: passport page of {patient} -> {page.status_code}")
        matrix.check(f"passport page of {patient}", page.status_code, 200 if allowed else 404)


def write_cases(matrix: Matrix) -> None:
    role = matrix.role
    for patient in PATIENTS:
        new = {key: value for key, value in observation("new", patient).items() if key != "id"}
        created = matrix.client.post("Observation", json=new)
        may = not role.citizen and patient in role.patients
        matrix.check(f"create Observation for {patient}", created.status_code, 201 if may else 403)
        updated = matrix.client.put(
            f"Observation/obs-{patient}", json=observation(f"obs-{patient}", patient) | {"status": "amended"}
        )
        expected = 200 if may else (403 if role.citizen or patient in role.patients else 404)
        matrix.check(f"update Observation/obs-{patient}", updated.status_code, expected)
        if role.citizen:
            consent = {
                "resourceType": "Consent",
                "status": "active",
                "scope": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                            "code": "patient-privacy",
                        }
                    ]
                },
                "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                "policyRule": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}
                    ]
                },
                "patient": {"reference": f"Patient/{patient_id(patient)}"},
                "provision": {
                    "type": "permit",
                    "actor": [{"role": {"text": "clinic"}, "reference": {"reference": "Organization/org-Z"}}],
                },
            }
            answer = matrix.client.post("Consent", json=consent)
            matrix.check(
                f"citizen writes a Consent for {patient}",
                answer.status_code,
                201 if patient in role.patients else 403,
            )
        for response in (created, updated):
            if response.status_code >= 500:
                matrix.failures.append(f"{role.name}: write -> {response.status_code} {response.text[:200]}")


def run_matrix(world: World, kinds: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    total, failures = 0, []
    for role in ROLES:
        with world.client(role.subject, role.scope) as client:
            matrix = Matrix(client, role)
            for kind in kinds:
                if kind == "write":
                    write_cases(matrix)
                else:
                    {
                        "read": read_cases,
                        "search": search_cases,
                        "include": include_cases,
                        "history": history_cases,
                        "record": record_cases,
                    }[kind](matrix)
            total += matrix.cases
            failures.extend(matrix.failures)
    with capsys.disabled():
        print(f"\nauthorization matrix ({', '.join(kinds)}): {len(ROLES)} roles, {total} cases")
    assert not failures, "\n".join(failures)


def test_reads_searches_includes_history_and_records_show_only_what_the_role_may_see(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    run_matrix(world, ["read", "search", "include", "history", "record"], capsys)


def test_writes_need_the_same_legal_basis(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_matrix(world, ["write"], capsys)
