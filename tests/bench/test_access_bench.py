"""The smoke run of ``ehp bench access --quick`` on SQLite: both servers answer every request and
each interaction gets its ratio (the figures themselves are for docs/benchmarks.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest


@pytest.mark.slow
def test_quick_access_benchmark_measures_reads_and_searches_with_and_without_auth(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    database = f"sqlite:///{tmp_path / 'bench.db'}"
    command = [sys.executable, "-m", "ehp.cli", "bench", "access", "--quick", "--database", database]
    completed = subprocess.run([*command, "--json", str(output)], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    [result] = orjson.loads(output.read_bytes())["results"]
    assert result["backend"] == "sqlite"
    assert result["attached"] == 100
    assert len(result["figures"]) == 3
    for figure in result["figures"]:
        assert figure["none"]["server_cpu_us"] > 0
        assert figure["auth"]["server_cpu_us"] > 0
        assert figure["cpu_ratio"] > 0
