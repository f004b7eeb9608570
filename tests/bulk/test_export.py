"""Bulk Data ``$export`` against a running server with a synthetic region, on both backends:
the kick-off / status / manifest / file / cancel contract with the specification's headers, the
three levels (system, Patient, the attached-population Group of a polyclinic), ``_type``,
``_since`` and ``_typeFilter``, refusals as OperationOutcomes, and a job that survives its server
being killed."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ehp.bench.servers import BenchServer
from ehp.synth.generator import SynthConfig, synthesize
from tests.conftest import BACKENDS
from tests.security.test_app_launch import ehp
from tests.servers import database_url

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@dataclass(frozen=True, slots=True)
class Region:
    server: BenchServer
    folder: Path


@pytest.fixture(scope="module", params=BACKENDS)
def region(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    folder = tmp_path_factory.mktemp(f"export-{request.param}")
    synthesize(SynthConfig(people=120, regions=("astana",)), folder / "synth", "ndjson", show_progress=False)
    with database_url(request.param, folder) as url:
        ehp("load", str(folder / "synth"), "--database", url, "--quiet")
        with BenchServer(url, folder / "server.log") as server:
            yield Region(server, folder)


def export(base: str, path: str = "$export", headers: dict[str, str] | None = None, **params: str) -> str:
    """Kick off an export; its status URL."""
    answer = httpx.post(f"{base}/{path}", params=params, headers=headers or ASYNC, timeout=30)
    assert answer.status_code == 202, answer.text
    assert answer.content == b""
    location: str = answer.headers["Content-Location"]
    return location


def finished(status_url: str, headers: dict[str, str] | None = None, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(status_url, headers=headers, timeout=30)
        if answer.status_code == 200:
            assert answer.headers["Expires"], "the manifest says how long its files stay"
            manifest: dict[str, Any] = answer.json()
            return manifest
        assert answer.status_code == 202, answer.text
        assert answer.headers["Retry-After"] and "X-Progress" in answer.headers
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.3)


def lines(manifest: dict[str, Any], headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    found = []
    for output in manifest["output"]:
        answer = httpx.get(output["url"], headers={**(headers or {}), "Accept": "application/fhir+ndjson"})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(
            "application/fhir+ndjson"
        )
        resources = [json.loads(line) for line in answer.text.splitlines()]
        assert len(resources) == output["count"]
        assert {r["resourceType"] for r in resources} == {output["type"]}
        found.extend(resources)
    return found


def counts(base: str, types: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for resource_type in types:
        total = httpx.get(f"{base}/{resource_type}", params={"_summary": "count"}, timeout=30).json()["total"]
        found[resource_type] = total
    return found


def test_a_system_export_holds_every_resource_once(region: Region) -> None:
    base = region.server.base
    manifest = finished(export(base))
    assert manifest["requiresAccessToken"] is False
    assert manifest["request"] == f"{base}/$export" and manifest["error"] == []
    assert manifest["transactionTime"].endswith("Z")
    exported = lines(manifest)
    by_type = Counter(r["resourceType"] for r in exported)
    assert by_type == counts(base, sorted(by_type)), "each type's count is the server's"
    assert len({(r["resourceType"], r["id"]) for r in exported}) == len(exported), "nothing twice"
    assert by_type["Patient"] > 100 and by_type["Observation"] > 0 and by_type["Group"] > 0
    assert manifest["output"][0]["type"] == "Patient"


def test_type_since_and_type_filter_narrow_the_export(region: Region) -> None:
    base = region.server.base
    sample = httpx.get(f"{base}/Observation", params={"_count": "1"}).json()["entry"][0]["resource"]
    coding = sample["code"]["coding"][0]
    wanted = f"{coding['system']}|{coding['code']}"
    manifest = finished(export(base, _type="Patient,Observation", _typeFilter=f"Observation?code={wanted}"))
    exported = lines(manifest)
    assert {r["resourceType"] for r in exported} == {"Patient", "Observation"}
    observations = [r for r in exported if r["resourceType"] == "Observation"]
    expected = httpx.get(f"{base}/Observation", params={"code": wanted, "_summary": "count"}).json()["total"]
    assert len(observations) == expected and sample["id"] in {o["id"] for o in observations}
    patient = next(r for r in exported if r["resourceType"] == "Patient")
    changed = httpx.put(f"{base}/Patient/{patient['id']}", json=patient | {"gender": "other"}, timeout=30)
    assert changed.status_code == 200, changed.text
    written = datetime.fromisoformat(changed.json()["meta"]["lastUpdated"].replace("Z", "+00:00"))
    since = (written - timedelta(milliseconds=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    later = lines(finished(export(base, _type="Patient", _since=since)))
    assert [r["id"] for r in later] == [patient["id"]], "only what changed after _since"
    just_before = lines(finished(export(base, _type="Patient", _since="2000-01-01T00:00:00Z")))
    assert len(just_before) == counts(base, ["Patient"])["Patient"]


def test_patient_and_group_level_exports(region: Region) -> None:
    base = region.server.base
    patient_level = Counter(r["resourceType"] for r in lines(finished(export(base, "Patient/$export"))))
    assert "Organization" not in patient_level and "Practitioner" not in patient_level
    assert patient_level["Patient"] == counts(base, ["Patient"])["Patient"]
    groups = httpx.get(f"{base}/Group", params={"_count": "1"}).json()["entry"]
    group = groups[0]["resource"]
    organization = group["managingEntity"]["reference"]
    found = httpx.get(f"{base}/Group", params={"managing-entity": organization}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [group["id"]]
    attached = {
        e["resource"]["patient"]["reference"].removeprefix("Patient/")
        for e in httpx.get(
            f"{base}/EpisodeOfCare",
            params={
                "organization": organization,
                "status": "active",
                "type": "http://ehp.kz/fhir/CodeSystem/episode-type|attachment",
                "_count": "1000",
            },
        ).json()["entry"]
    }
    exported = lines(finished(export(base, f"Group/{group['id']}/$export", _type="Patient,Encounter")))
    assert {r["id"] for r in exported if r["resourceType"] == "Patient"} == attached
    assert all(
        r["subject"]["reference"].removeprefix("Patient/") in attached
        for r in exported
        if r["resourceType"] == "Encounter"
    )


def test_refusals_are_operation_outcomes(region: Region) -> None:
    base = region.server.base
    cases = {
        "no Prefer": (httpx.post(f"{base}/$export", timeout=30), "respond-async"),
        "format": (
            httpx.post(f"{base}/$export", params={"_outputFormat": "text/csv"}, headers=ASYNC),
            "_outputFormat",
        ),
        "type": (
            httpx.post(f"{base}/$export", params={"_type": "Nonsense"}, headers=ASYNC),
            "not a resource type",
        ),
        "directory at patient level": (
            httpx.post(f"{base}/Patient/$export", params={"_type": "Organization"}, headers=ASYNC),
            "no patient's data",
        ),
        "filter": (
            httpx.post(f"{base}/$export", params={"_typeFilter": "Observation?nope=1"}, headers=ASYNC),
            "nope",
        ),
        "elements": (
            httpx.post(f"{base}/$export", params={"_elements": "id"}, headers=ASYNC),
            "not supported",
        ),
        "unknown job": (
            httpx.get(f"{base}/$export-poll-status", params={"_jobId": "0" * 32}),
            "no export job",
        ),
        "unknown group": (httpx.post(f"{base}/Group/nobody/$export", headers=ASYNC), "not known"),
    }
    for why, (answer, told) in cases.items():
        assert answer.status_code in (400, 404), (why, answer.status_code, answer.text)
        outcome = answer.json()
        assert outcome["resourceType"] == "OperationOutcome" and told in outcome["issue"][0]["diagnostics"], (
            why
        )


def test_cancelling_an_export(region: Region) -> None:
    base = region.server.base
    status = export(base)
    assert httpx.delete(status).status_code == 202
    gone = httpx.get(status)
    assert gone.status_code == 404 and gone.json()["resourceType"] == "OperationOutcome"
    assert httpx.delete(status).status_code == 404


def test_an_export_survives_its_server_being_killed(
    region: Region, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EHP_BULK_STALE_SECONDS", "1")
    database = region.server.database
    with BenchServer(database, tmp_path / "first.log") as first:
        status = export(first.base)
        first.kill()
    job = status.split("_jobId=")[1]
    with BenchServer(database, tmp_path / "second.log") as second:
        manifest = finished(f"{second.base}/$export-poll-status?_jobId={job}")
        exported = lines(manifest)
        assert len({(r["resourceType"], r["id"]) for r in exported}) == len(exported), "nothing twice"
        by_type = Counter(r["resourceType"] for r in exported)
        assert by_type == counts(second.base, sorted(by_type))


def test_ehp_export_writes_the_files_to_a_folder(region: Region, tmp_path: Path) -> None:
    base = region.server.base
    ehp("export", "--url", base, "--out", str(tmp_path / "out"), "--type", "Patient,Encounter", "--quiet")
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == ["Encounter.000.ndjson", "Patient.000.ndjson", "manifest.json"]
    for resource_type in ("Patient", "Encounter"):
        text = (tmp_path / "out" / f"{resource_type}.000.ndjson").read_text()
        assert len(text.splitlines()) == counts(base, [resource_type])[resource_type]
