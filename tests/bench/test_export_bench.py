"""The smoke run of ``ehp bench export --quick`` (export, then import into an empty database): both
backends, every figure present and positive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson


def test_quick_export_benchmark_reports_its_figures_beside_the_floor(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    command = [sys.executable, "-m", "ehp.cli", "bench", "export", "--quick", "--json", str(output)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = orjson.loads(output.read_bytes())
    assert [figure["backend"] for figure in figures] == ["sqlite", "postgresql"]
    for figure in figures:
        assert figure["resources"] > 1000, "the whole population was exported"
        assert figure["export_per_second"] > 0 and figure["floor_per_second"] > 0
        assert figure["server_cpu_us_per_resource"] > 0 and figure["download_per_second"] > 0
        assert 0 < figure["ratio_to_floor"] < 1
        assert figure["import_per_second"] > 0 and figure["import_cpu_us_per_resource"] > 0
        assert 0 < figure["import_ratio_to_floor"] < 1
    assert "| postgresql |" in completed.stdout
