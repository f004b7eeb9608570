"""Bulk export under access control: a job exports what its caller may see and nothing else, only
its caller reads its status and files, scopes narrow it, and each patient's log shows the export."""

from __future__ import annotations

import functools
import json
import threading
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.access.conftest import World, observation
from tests.bulk.test_export import ASYNC, export, finished, lines


def _auth(world: World, subject: str, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.token(subject, scope)}"}


def _ids(world: World, headers: dict[str, str], resource_type: str) -> set[str]:
    bundle = httpx.get(
        f"{world.server.base}/{resource_type}", params={"_count": "100"}, headers=headers
    ).json()
    return {
        e["resource"]["id"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == resource_type
    }


def test_a_doctor_exports_only_the_patients_they_have_a_basis_for(world: World) -> None:
    base = world.server.base
    doctor = _auth(world, "Practitioner/doc-A", "user/*.rs")
    status = export(base, "Patient/$export", headers=ASYNC | doctor)
    manifest = finished(status, doctor)
    assert manifest["requiresAccessToken"] is True
    exported = lines(manifest, doctor)
    patients = {r["id"] for r in exported if r["resourceType"] == "Patient"}
    observations = {r["id"] for r in exported if r["resourceType"] == "Observation"}
    assert patients == _ids(world, doctor, "Patient") and "pat-Q" not in patients and "pat-P" in patients
    assert observations == _ids(world, doctor, "Observation") and "obs-P-psy" not in observations
    file_url = manifest["output"][0]["url"]
    assert httpx.get(file_url).status_code == 401, "the files need the token"
    other = _auth(world, "Practitioner/doc-B", "user/*.rs")
    assert httpx.get(status, headers=other).status_code == 404, "another user learns nothing of the job"
    assert httpx.get(file_url, headers=other).status_code == 404
    assert httpx.delete(status, headers=other).status_code == 404
    log = httpx.get(
        f"{base}/AuditEvent",
        params={"patient": "Patient/pat-P", "_count": "200"},
        headers=_auth(world, "admin", "system/*.rs"),
    ).json()
    exports = [
        e["resource"]
        for e in log["entry"]
        if e["resource"]["subtype"][0]["code"] == "operation:export"
        and "Practitioner/doc-A" in json.dumps(e["resource"]["agent"])
    ]
    assert exports, "the patient's log shows the doctor's export"


def test_scopes_narrow_or_refuse_the_export(world: World) -> None:
    base = world.server.base
    only_patients = _auth(world, "Practitioner/doc-A", "user/Patient.rs")
    refused = httpx.post(
        f"{base}/Patient/$export", params={"_type": "Observation"}, headers=ASYNC | only_patients
    )
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    manifest = finished(export(base, "Patient/$export", headers=ASYNC | only_patients), only_patients)
    assert {o["type"] for o in manifest["output"]} == {"Patient"}


def test_a_clinic_system_and_a_citizen_export_their_own(world: World) -> None:
    base = world.server.base
    clinic = _auth(world, "Organization/org-A", "system/*.rs")
    exported = lines(finished(export(base, "Patient/$export", headers=ASYNC | clinic), clinic), clinic)
    patients = {r["id"] for r in exported if r["resourceType"] == "Patient"}
    assert patients == _ids(world, clinic, "Patient") and "pat-Q" not in patients and "pat-M" not in patients
    citizen = _auth(world, "Patient/pat-Q", "patient/*.rs")
    mine = lines(finished(export(base, "Patient/$export", headers=ASYNC | citizen), citizen), citizen)
    assert {r["id"] for r in mine if r["resourceType"] == "Patient"} == {"pat-Q"}


def test_an_import_writes_as_its_caller_and_reports_what_they_may_not_write(
    world: World, tmp_path: Path
) -> None:
    base = world.server.base
    rows = [observation(f"imp-{patient}-{uuid.uuid4().hex[:8]}", patient) for patient in ("P", "Q")]
    (tmp_path / "Observation.ndjson").write_text("".join(json.dumps(r) + "\n" for r in rows))
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    files = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{files.server_address[1]}/Observation.ndjson"
        doctor = _auth(world, "Practitioner/doc-A", "user/*.cruds")
        body = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "inputFormat", "valueCode": "application/fhir+ndjson"},
                {
                    "name": "input",
                    "part": [{"name": "type", "valueCode": "Observation"}, {"name": "url", "valueUri": url}],
                },
            ],
        }
        kicked = httpx.post(f"{base}/$import", json=body, headers=ASYNC | doctor)
        assert kicked.status_code == 202, kicked.text
        status = kicked.headers["Content-Location"]
        assert httpx.get(status, headers=_auth(world, "Practitioner/doc-B", "user/*.rs")).status_code == 404
        manifest = finished(status, doctor)
    finally:
        files.shutdown()
    assert manifest["output"][0]["count"] == 1
    (error,) = manifest["error"]
    refused = httpx.get(error["url"], headers=doctor).text
    assert "no legal basis" in refused and "pat-Q" in refused
    admin = _auth(world, "admin", "system/*.rs")
    assert httpx.get(f"{base}/Observation/{rows[0]['id']}", headers=admin).status_code == 200
    assert httpx.get(f"{base}/Observation/{rows[1]['id']}", headers=admin).status_code == 404, (
        "nothing of Q's"
    )


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass
