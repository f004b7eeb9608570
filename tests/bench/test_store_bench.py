"""The smoke run of ``ehp bench store --quick``: every figure is measured on both databases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.servers import POSTGRES_ADMIN, require_postgres


@pytest.mark.slow
def test_quick_store_benchmark_reports_every_figure(tmp_path: Path) -> None:
    require_postgres()
    output = tmp_path / "bench.json"
    command = [
        sys.executable,
        "-m",
        "ehp.cli",
        "bench",
        "store",
        "--quick",
        "--json",
        str(output),
        "--postgres-admin",
        POSTGRES_ADMIN,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = orjson.loads(output.read_bytes())["results"]
    assert [result["backend"] for result in results] == ["sqlite", "postgresql"]
    for result in results:
        names = [figure["name"] for figure in result["figures"]]
        assert any(name.startswith("ingest") for name in names)
        assert any(name.startswith("read by id") for name in names)
        for figure in result["figures"]:
            assert figure["per_second"] > 0
            assert figure["p99_ms"] >= figure["p50_ms"] > 0
        ingest = result["figures"][0]
        assert ingest["floor_per_second"] > ingest["per_second"]
    assert "| sqlite |" in completed.stdout and "| postgresql |" in completed.stdout
