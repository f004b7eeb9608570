"""Bulk Data ``$import``: a round trip from one server's ``$export`` into an empty one (over HTTP
and from files), a data set EHP did not write (conditional references between files in any order,
bad lines reported in the error file and nothing else lost), refusals, and a server killed in the
middle of an import."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from ehp.bench.servers import BenchServer
from ehp.registry.iin import IIN_SYSTEM, make_iin
from ehp.synth.generator import SynthConfig, synthesize
from tests.bulk.test_export import ASYNC, export, finished, lines
from tests.conftest import BACKENDS
from tests.security.test_app_launch import ehp
from tests.servers import database_url

NDJSON = "application/fhir+ndjson"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchServer]:
    """A server holding a synthetic district: what is exported and imported elsewhere."""
    folder = tmp_path_factory.mktemp("import-source")
    synthesize(SynthConfig(people=60, regions=("astana",)), folder / "synth", "ndjson", show_progress=False)
    url = f"sqlite:///{folder / 'source.db'}"
    ehp("load", str(folder / "synth"), "--database", url, "--quiet")
    with BenchServer(url, folder / "server.log") as server:
        yield server


def parameters(inputs: list[tuple[str, str]], input_format: str = NDJSON) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "inputFormat", "valueCode": input_format},
            {"name": "inputSource", "valueUri": "https://vendor.example/emr"},
            *(
                {
                    "name": "input",
                    "part": [{"name": "type", "valueCode": kind}, {"name": "url", "valueUri": url}],
                }
                for kind, url in inputs
            ),
        ],
    }


def start_import(base: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
    answer = httpx.post(f"{base}/$import", json=body, headers={**ASYNC, **(headers or {})}, timeout=30)
    assert answer.status_code == 202, answer.text
    location: str = answer.headers["Content-Location"]
    assert "$import-poll-status?_jobId=" in location
    return location


def errors_of(manifest: dict[str, Any], headers: dict[str, str] | None = None) -> list[str]:
    found = []
    for item in manifest["error"]:
        assert item["type"] == "OperationOutcome"
        answer = httpx.get(item["url"], headers=headers)
        assert answer.status_code == 200
        outcomes = [json.loads(line) for line in answer.text.splitlines()]
        assert len(outcomes) == item["count"]
        found.extend(o["issue"][0]["diagnostics"] for o in outcomes)
    return found


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if key != "meta"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_round_trip_over_http_gives_identical_contents(
    source: BenchServer, tmp_path: Path, backend: str
) -> None:
    manifest = finished(export(source.base))
    exported = lines(manifest)
    with database_url(backend, tmp_path) as url, BenchServer(url, tmp_path / "server.log") as target:
        imported = finished(
            start_import(target.base, parameters([(o["type"], o["url"]) for o in manifest["output"]]))
        )
        assert imported["error"] == [], errors_of(imported)
        assert [o["count"] for o in imported["output"]] == [o["count"] for o in manifest["output"]]
        assert [o["inputUrl"] for o in imported["output"]] == [o["url"] for o in manifest["output"]]
        again = lines(finished(export(target.base)))
    before = {(r["resourceType"], r["id"]): without_meta(r) for r in exported}
    after = {(r["resourceType"], r["id"]): without_meta(r) for r in again}
    assert Counter(t for t, _ in after) == Counter(t for t, _ in before)
    assert after == before, "every resource equal apart from meta"
    assert all(r["meta"]["versionId"] == "1" for r in again)


def _write(folder: Path, name: str, rows: list[Any]) -> str:
    path = folder / name
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return f"file://{path}"


def test_a_foreign_data_set_with_conditional_references(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    system = "https://vendor.example/staff"
    observations = _write(
        inbox,
        "Observation.ndjson",
        [
            {
                "resourceType": "Observation",
                "id": "v-obs-1",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"reference": "Patient/v-pat-1"},
                "performer": [{"reference": f"Practitioner?identifier={system}|D-1"}],
            },
            {
                "resourceType": "Observation",
                "id": "v-obs-2",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"reference": "Patient/v-pat-1"},
                "performer": [{"reference": f"Practitioner?identifier={system}|nobody"}],
            },
            "this line is not JSON",
            {"resourceType": "Observation", "status": "final", "code": {"text": "no id"}},
            {"resourceType": "Patient", "id": "v-stray"},
            {"resourceType": "Observation", "id": "v-obs-bad", "code": {"text": "no status"}},
        ],
    )
    patients = _write(
        inbox, "Patient.ndjson", [{"resourceType": "Patient", "id": "v-pat-1", "gender": "male"}]
    )
    practitioners = _write(
        inbox,
        "Practitioner.ndjson",
        [
            {
                "resourceType": "Practitioner",
                "id": "v-doc-1",
                "identifier": [{"system": system, "value": "D-1"}],
            }
        ],
    )
    with BenchServer(
        f"sqlite:///{tmp_path / 'ehp.db'}", tmp_path / "server.log", extra_args=["--import-dir", str(inbox)]
    ) as server:
        inputs = [("Observation", observations), ("Patient", patients), ("Practitioner", practitioners)]
        manifest = finished(start_import(server.base, parameters(inputs)))
        assert [o["count"] for o in manifest["output"]] == [1, 1, 1]
        errors = errors_of(manifest)
        assert len(errors) == 5, errors
        assert any("line 2 of" in e and "nobody" in e and "matches no resource" in e for e in errors)
        assert any("line 3 of" in e and "not JSON" in e for e in errors)
        assert any("line 4 of" in e and "no id" in e for e in errors)
        assert any("line 5 of" in e and "a Patient in a file of Observation" in e for e in errors)
        assert any("line 6 of" in e and "status" in e for e in errors)
        observation = httpx.get(f"{server.base}/Observation/v-obs-1").json()
        assert observation["performer"] == [{"reference": "Practitioner/v-doc-1"}], (
            "resolved, file order aside"
        )
        found = httpx.get(f"{server.base}/Observation", params={"performer": "Practitioner/v-doc-1"}).json()
        assert [e["resource"]["id"] for e in found["entry"]] == ["v-obs-1"]
        assert httpx.get(f"{server.base}/Observation/v-obs-bad").status_code == 404


def test_refusals_of_a_kick_off(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    inside = _write(inbox, "Patient.ndjson", [{"resourceType": "Patient", "id": "x"}])
    outside = _write(tmp_path, "Patient.ndjson", [{"resourceType": "Patient", "id": "x"}])
    with BenchServer(
        f"sqlite:///{tmp_path / 'ehp.db'}", tmp_path / "server.log", extra_args=["--import-dir", str(inbox)]
    ) as server:
        base = server.base
        cases = {
            "no Prefer": (
                httpx.post(f"{base}/$import", json=parameters([("Patient", inside)])),
                "respond-async",
            ),
            "format": (
                httpx.post(
                    f"{base}/$import", json=parameters([("Patient", inside)], "text/csv"), headers=ASYNC
                ),
                "inputFormat",
            ),
            "outside": (
                httpx.post(f"{base}/$import", json=parameters([("Patient", outside)]), headers=ASYNC),
                "outside the import directory",
            ),
            "traversal": (
                httpx.post(
                    f"{base}/$import",
                    json=parameters([("Patient", f"file://{inbox}/../Patient.ndjson")]),
                    headers=ASYNC,
                ),
                "outside the import directory",
            ),
            "scheme": (
                httpx.post(f"{base}/$import", json=parameters([("Patient", "ftp://x/y")]), headers=ASYNC),
                "file:// or http(s)://",
            ),
            "type": (
                httpx.post(f"{base}/$import", json=parameters([("Nonsense", inside)]), headers=ASYNC),
                "not a resource type",
            ),
            "nothing": (httpx.post(f"{base}/$import", json=parameters([]), headers=ASYNC), "no input"),
        }
        for why, (answer, told) in cases.items():
            assert answer.status_code == 400, (why, answer.text)
            assert told in answer.json()["issue"][0]["diagnostics"], (why, answer.text)
        assert httpx.get(f"{base}/Patient/x").status_code == 404, "nothing was written"


def test_an_import_survives_its_server_being_killed(
    source: BenchServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EHP_BULK_STALE_SECONDS", "1")
    folder = tmp_path / "files"
    ehp("export", "--url", source.base, "--out", str(folder), "--quiet")
    manifest = json.loads((folder / "manifest.json").read_text())
    inputs = [(o["type"], f"file://{folder}/{o['type']}.000.ndjson") for o in manifest["output"]]
    database = f"sqlite:///{tmp_path / 'target.db'}"
    arguments = ["--import-dir", str(folder)]
    with BenchServer(database, tmp_path / "first.log", extra_args=arguments) as first:
        status = start_import(first.base, parameters(inputs))
        time.sleep(1.5)
        first.kill()
    job = status.split("_jobId=")[1]
    with BenchServer(database, tmp_path / "second.log", extra_args=arguments) as second:
        done = finished(f"{second.base}/$import-poll-status?_jobId={job}")
        assert done["error"] == [], errors_of(done)
        assert [o["count"] for o in done["output"]] == [o["count"] for o in manifest["output"]]
        again = lines(finished(export(second.base)))
    assert len(again) == sum(o["count"] for o in manifest["output"])
    assert all(r["meta"]["versionId"] == "1" for r in again), "nothing was written twice"


def test_a_patient_the_centre_holds_under_another_id_is_linked_to_it(tmp_path: Path) -> None:
    iin = make_iin(date(1985, 4, 12), "female", 777)
    assert iin is not None
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sender = {
        "resourceType": "Patient",
        "id": "vendor-77",
        "identifier": [{"system": IIN_SYSTEM, "value": iin}],
    }
    observation = {
        "resourceType": "Observation",
        "id": "vendor-obs-77",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/vendor-77"},
    }
    inputs = [
        ("Observation", _write(inbox, "Observation.ndjson", [observation])),
        ("Patient", _write(inbox, "Patient.ndjson", [sender])),
    ]
    arguments = ["--import-dir", str(inbox)]
    with BenchServer(
        f"sqlite:///{tmp_path / 'ehp.db'}", tmp_path / "server.log", extra_args=arguments
    ) as server:
        base = server.base
        national = {
            "resourceType": "Patient",
            "id": "national-77",
            "identifier": [{"system": IIN_SYSTEM, "value": iin}],
        }
        assert httpx.put(f"{base}/Patient/national-77", json=national).status_code == 201
        manifest = finished(start_import(base, parameters(inputs)))
        assert manifest["error"] == [], errors_of(manifest)
        linked = httpx.get(f"{base}/Patient/vendor-77").json()
        assert linked["active"] is False, "the sender's id stays resolvable"
        assert linked["link"] == [{"other": {"reference": "Patient/national-77"}, "type": "replaced-by"}]
        holders = httpx.get(f"{base}/Patient", params={"identifier": f"{IIN_SYSTEM}|{iin}"}).json()["entry"]
        active = [e["resource"]["id"] for e in holders if e["resource"].get("active") is not False]
        assert active == ["national-77"], "one active record per IIN"
        found = httpx.get(f"{base}/Observation", params={"patient": "Patient/national-77"}).json()
        assert [e["resource"]["id"] for e in found["entry"]] == ["vendor-obs-77"]
