"""The smoke run of ``ehp bench validation --quick``, with a comparison against this very tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]


def test_quick_validation_benchmark_reports_both_workloads(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    command = [sys.executable, "-m", "ehp.cli", "bench", "validation", "--quick", "--json", str(output)]
    command += ["--against", str(ROOT)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = orjson.loads(output.read_bytes())["results"]
    assert [result["workload"] for result in results] == [
        "store benchmark resources",
        "official clinical examples",
    ]
    for result in results:
        assert result["resources"] > 100
        assert result["validation_us"] > 0 and result["structure_us"] > 0  # (their ratio is noisy at --quick)
        assert result["extraction_us"] > 0 and result["parse_us"] > 0
        assert 0 < result["ingest_share"] < 1
    assert "| store benchmark resources |" in completed.stdout.split("ratio |", 2)[-1]
