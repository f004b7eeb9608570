"""The smoke run of ``ehp bench --quick``: the suite measures every figure on both databases, each
beside its raw-SQL floor, on a synthetic population loaded over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.servers import POSTGRES_ADMIN, require_postgres

FIGURES = 7
"""Ingest, read by id and five searches."""


@pytest.mark.slow
def test_quick_suite_reports_every_figure_with_its_floor(tmp_path: Path) -> None:
    require_postgres()
    output = tmp_path / "suite.json"
    command = [sys.executable, "-m", "ehp.cli", "bench", "--quick", "--people", "40", "--json", str(output)]
    command += ["--postgres-admin", POSTGRES_ADMIN]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "| postgresql | read by id |" in completed.stdout
    report = orjson.loads(output.read_bytes())
    assert report["config"]["people"] == 40
    results = report["results"]
    assert [result["backend"] for result in results] == ["sqlite", "postgresql"]
    for result in results:
        figures = result["figures"]
        assert len(figures) == FIGURES
        assert figures[0]["count"] == result["resources"] > 40
        for figure in figures:
            assert figure["per_second"] > 0
            assert figure["floor_per_second"] > 0
            assert figure["ratio_to_floor"] > 0
