"""``ehp load``: over HTTP into real servers and in process, interrupted and resumed; ``ehp demo``'s data."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from ehp import demo
from ehp.api.messages import FhirRequest
from ehp.bench.servers import BenchServer
from ehp.cli import app
from ehp.context import SYSTEM_CONTEXT
from ehp.server.app import create_app
from ehp.store.database import open_engine
from ehp.store.schema import resources
from ehp.synth import loader
from ehp.synth.generator import SynthConfig, read_manifest, synthesize
from ehp.synth.loader import LoadError, ProgressFile, load_database
from tests.servers import database_url

runner = CliRunner()


def _generated(folder: Path, output: str = "bundles", people: int = 120) -> dict[str, Any]:
    synthesize(SynthConfig(people=people, seed=11, regions=("ulytau",)), folder, output, show_progress=False)
    return read_manifest(folder)


def _load_command(folder: Path, base: str) -> list[str]:
    return [sys.executable, "-m", "ehp.cli", "load", str(folder), "--url", base, "--clients", "3", "--quiet"]


def _done(folder: Path, target: str) -> int:
    progress = ProgressFile(folder, target)
    return sum(progress.below.values()) + sum(len(extra) for extra in progress.above.values())


def _sample(folder: Path, count: int) -> list[dict[str, Any]]:
    """Some generated resources from the last file (loaded last, so after any interruption)."""
    last = list(read_manifest(folder)["files"])[-1]
    line = (folder / last).read_bytes().splitlines()[-1]
    return [entry["resource"] for entry in orjson.loads(line)["entry"][:count]]


def _a_patient(folder: Path) -> dict[str, Any]:
    for name in read_manifest(folder)["files"]:
        for line in (folder / name).read_bytes().splitlines():
            for entry in orjson.loads(line)["entry"]:
                if entry["resource"]["resourceType"] == "Patient":
                    patient: dict[str, Any] = entry["resource"]
                    return patient
    raise AssertionError("no Patient in the set")


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if key != "meta"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_load_over_http_interrupted_and_resumed(backend: str, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    manifest = _generated(folder)
    with database_url(backend, tmp_path) as url, BenchServer(url, tmp_path / "server.log") as server:
        first = subprocess.Popen(_load_command(folder, server.base), stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while _done(folder, server.base) < 3 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first.kill()  # SIGKILL: no chance to save anything more
        first.wait()
        interrupted_at = _done(folder, server.base)
        total = sum(manifest["files"].values())
        assert 3 <= interrupted_at < total, "the first run was not interrupted in the middle"

        resumed = subprocess.run(
            _load_command(folder, server.base), capture_output=True, text=True, timeout=600
        )
        assert resumed.returncode == 0, resumed.stderr
        assert f"{interrupted_at} batches were already done" in resumed.stdout
        again = subprocess.run(_load_command(folder, server.base), capture_output=True, text=True, timeout=60)
        assert "loaded 0 resources in 0 batches" in again.stdout

        with httpx.Client(base_url=server.base + "/", timeout=60) as client:
            for kind, count in manifest["counts"].items():
                assert client.get(kind, params={"_count": "0"}).json()["total"] == count, kind
            for resource in _sample(folder, 20):
                stored = client.get(f"{resource['resourceType']}/{resource['id']}").json()
                assert _without_meta(stored) == resource

        tampered = tmp_path / "tampered"
        _generated(tampered, people=5)
        path = tampered / "bundles-000001.ndjson"
        path.write_bytes(path.read_bytes().replace(b'"gender":"female"', b'"gender":"robot"', 1))
        refused = subprocess.run(
            _load_command(tampered, server.base), capture_output=True, text=True, timeout=120
        )
        assert refused.returncode == 1
        assert "was refused: HTTP 422" in refused.stderr and "robot" in refused.stderr

        # A second Patient with a loaded IIN breaks a business rule (409): refused at once, not retried.
        duplicate = tmp_path / "duplicate"
        duplicate.mkdir()
        copy = {**_a_patient(folder), "id": "0b7f3a4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"}
        entry = {"resource": copy, "request": {"method": "PUT", "url": f"Patient/{copy['id']}"}}
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
        (duplicate / "bundles-000001.ndjson").write_bytes(orjson.dumps(bundle) + b"\n")
        manifest_file = {"complete": True, "files": {"bundles-000001.ndjson": 1}}
        (duplicate / "manifest.json").write_bytes(orjson.dumps(manifest_file))
        started = time.monotonic()
        conflict = subprocess.run(
            _load_command(duplicate, server.base), capture_output=True, text=True, timeout=120
        )
        assert conflict.returncode == 1 and "was refused: HTTP 409" in conflict.stderr, conflict.stderr
        assert time.monotonic() - started < 20


def _stored_counts(url: str) -> tuple[dict[str, int], int]:
    """Resources per type and the highest version number, read from the store's tables."""
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(resources.c.resource_type, func.count()).group_by(resources.c.resource_type)
            ).all()
            highest = connection.execute(select(func.max(resources.c.version))).scalar_one()
    finally:
        engine.dispose()
    return {kind: count for kind, count in rows}, highest


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_load_into_a_database_resumes_without_duplicates(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "set"
    manifest = _generated(folder, "ndjson")
    real_commit = loader._commit_group
    calls = 0

    def interrupted(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        real_commit(*args)

    with database_url(backend, tmp_path) as url:
        monkeypatch.setattr(loader, "_commit_group", interrupted)
        with pytest.raises(KeyboardInterrupt):
            load_database(folder, url, show_progress=False)
        monkeypatch.setattr(loader, "_commit_group", real_commit)
        assert _done(folder, url) == loader.GROUP
        # Forget the progress: committed batches must be recognised in the store and not written again.
        ProgressFile(folder, url).path.unlink()
        summary = load_database(folder, url, show_progress=False)
        assert summary.skipped == 0 and 0 < summary.resources < manifest["resources"]
        counts, highest = _stored_counts(url)
        assert counts == manifest["counts"]
        assert highest == 1
        assert load_database(folder, url, show_progress=False).batches == 0
        if backend == "postgresql":  # planner statistics for what was loaded
            assert _last_analyze(url, "resources") is not None


def test_load_refuses_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["load", str(tmp_path), "--database", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 1 and "holds no .ndjson or Bundle .json files" in result.output
    assert runner.invoke(app, ["load", str(tmp_path)]).exit_code == 2
    both = runner.invoke(
        app, ["load", str(tmp_path), "--url", "http://127.0.0.1:1/fhir", "--database", "sqlite://"]
    )
    assert both.exit_code == 2
    folder = tmp_path / "set"
    _generated(folder, "ndjson", people=5)
    path = folder / "Patient.ndjson"
    path.write_bytes(path.read_bytes().replace(b'"birthDate":"', b'"birthDate":"19-', 1))
    with pytest.raises(LoadError, match=r"Patient/[0-9a-f-]+ is invalid: Patient.birthDate"):
        load_database(folder, f"sqlite:///{tmp_path / 'y.db'}", show_progress=False)
    assert runner.invoke(app, ["synth", "--people", "0", "--out", str(tmp_path / "z")]).exit_code == 2
    assert (
        runner.invoke(
            app, ["synth", "--people", "5", "--out", str(tmp_path / "z"), "--format", "xml"]
        ).exit_code
        == 2
    )


def test_synth_command_writes_a_set(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["synth", "--people", "30", "--seed", "2", "--out", str(tmp_path), "--region", "astana", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    assert "30 people" in result.output and "resources/s" in result.output
    assert read_manifest(tmp_path)["regions"] == ["astana"]


def test_demo_data_is_generated_and_loaded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "DEMO_PEOPLE", 40)
    database = demo.prepare_demo(tmp_path, show_progress=False)
    started = time.perf_counter()
    assert demo.prepare_demo(tmp_path, show_progress=False) == database
    assert time.perf_counter() - started < 5
    counts, _ = _stored_counts(database)
    assert counts["Patient"] == 40
    (tmp_path / "ehp.db").unlink()  # a new store: the region is loaded into it again
    assert demo.prepare_demo(tmp_path, show_progress=False) == database
    assert _stored_counts(database)[0] == counts
    service = create_app(database, auth="none").state.service
    hints = demo.demo_hints(tmp_path, "http://127.0.0.1:8080/fhir")
    query = next(hint for hint in hints if "identifier=" in hint).split("/fhir/", 1)[1].rstrip("'")
    found = service.handle(SYSTEM_CONTEXT, FhirRequest.from_url("GET", query), "http://127.0.0.1:8080/fhir")
    assert found.status == 200 and found.resource is not None
    patient = next(hint for hint in hints if "subject=Patient/" in hint).split("subject=")[1].rstrip("'")
    assert [entry["fullUrl"] for entry in found.resource["entry"]] == [
        f"http://127.0.0.1:8080/fhir/{patient}"
    ]


def _last_analyze(url: str, table: str) -> object:
    engine = open_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s", (table,)
            ).scalar_one()
    finally:
        engine.dispose()
