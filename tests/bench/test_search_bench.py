"""The smoke run of ``ehp bench search --quick``: every search is measured on both databases, and
on PostgreSQL its page query uses indexes, not sequential scans of the big tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.servers import POSTGRES_ADMIN, require_postgres


@pytest.mark.slow
def test_quick_search_benchmark_reports_every_search(tmp_path: Path) -> None:
    require_postgres()
    output = tmp_path / "bench.json"
    command = [
        sys.executable,
        "-m",
        "ehp.cli",
        "bench",
        "search",
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
        assert result["resources"] > 3000
        assert len(result["figures"]) == 5
        for figure in result["figures"]:
            assert figure["per_second"] > 0
            assert figure["p99_ms"] >= figure["p50_ms"] > 0
            assert figure["mean_results"] >= 1
    for figure in results[1]["figures"]:
        assert "ix_resources_type_rid" in figure["indexes"] or "resources_pkey" in figure["indexes"]
        assert not set(figure["seq_scans"]) & {"resources", "resource_versions", "idx_token", "idx_reference"}
    assert "| sqlite |" in completed.stdout and "| postgresql |" in completed.stdout
