"""``ehp load DIR`` of a folder EHP did not write: NDJSON files named by type (a conditional
reference to a file that comes later), a Bundle file and bad lines, into a database and over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ehp.bench.servers import BenchServer

SYSTEM = "https://vendor.example/staff"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    inbox = tmp_path / "vendor"
    inbox.mkdir()
    observation = {
        "resourceType": "Observation",
        "id": "l-obs-1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/l-pat-1"},
        "performer": [{"reference": f"Practitioner?identifier={SYSTEM}|L-1"}],
    }
    (inbox / "Observation.000.ndjson").write_text(json.dumps(observation) + "\nnot json\n")
    (inbox / "Patient.ndjson").write_text(json.dumps({"resourceType": "Patient", "id": "l-pat-1"}) + "\n")
    doctor = {
        "resourceType": "Practitioner",
        "id": "l-doc-1",
        "identifier": [{"system": SYSTEM, "value": "L-1"}],
    }
    (inbox / "Practitioner.ndjson").write_text(json.dumps(doctor) + "\n")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Organization", "id": "l-org-1", "name": "Vendor clinic"},
                "request": {"method": "PUT", "url": "Organization/l-org-1"},
            }
        ],
    }
    (inbox / "organizations.json").write_text(json.dumps(bundle))
    return inbox


def _load(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ehp.cli", "load", *arguments, "--quiet"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def _check(base: str) -> None:
    observation = httpx.get(f"{base}/Observation/l-obs-1").json()
    assert observation["performer"] == [{"reference": "Practitioner/l-doc-1"}]
    assert httpx.get(f"{base}/Organization/l-org-1").status_code == 200
    assert httpx.get(f"{base}/Patient/l-pat-1").status_code == 200


def test_a_foreign_folder_loads_into_a_database(folder: Path, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'ehp.db'}"
    done = _load(str(folder), "--database", database)
    assert done.returncode == 0, done.stderr
    assert "loaded 3 resources and 1 Bundle files" in done.stdout and "1 refused" in done.stdout
    (error,) = (folder / ".load-errors.ndjson").read_text().splitlines()
    assert "line 2 of" in json.loads(error)["issue"][0]["diagnostics"]
    with BenchServer(database, tmp_path / "server.log") as server:
        _check(server.base)


def test_a_foreign_folder_loads_over_http(folder: Path, tmp_path: Path) -> None:
    with BenchServer(f"sqlite:///{tmp_path / 'ehp.db'}", tmp_path / "server.log") as server:
        done = _load(str(folder), "--url", server.base)
        assert done.returncode == 0, done.stderr
        assert "loaded 3 resources and 1 Bundle files" in done.stdout and "1 refused" in done.stdout
        _check(server.base)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    done = _load(str(tmp_path), "--database", f"sqlite:///{tmp_path / 'ehp.db'}")
    assert done.returncode == 1 and "no .ndjson or Bundle .json files" in done.stderr
