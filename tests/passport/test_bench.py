"""The smoke run of ``ehp bench passport --quick``: every figure is measured on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tests.servers import POSTGRES_ADMIN, require_postgres


def test_quick_passport_benchmark_reports_every_figure(tmp_path: Path) -> None:
    require_postgres()
    output = tmp_path / "bench.json"
    command = [sys.executable, "-m", "ehp.cli", "bench", "passport", "--quick", "--json", str(output)]
    command += ["--postgres-admin", POSTGRES_ADMIN]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "| postgresql | $summary |" in completed.stdout
    (result,) = orjson.loads(output.read_bytes())["results"]
    assert result["backend"] == "postgresql"
    assert result["record"] >= 190 and result["page_record"] >= 390
    names = [figure["name"] for figure in result["figures"]]
    assert names[:4] == [
        "$summary",
        "$everything page set (_count=1000)",
        "$everything page set (_count=default 50)",
        "passport page HTML (server)",
    ]
    for figure in result["figures"]:
        assert figure["requests"] > 0 and 0 < figure["p50_ms"] <= figure["p99_ms"]
    everything = result["figures"][1]["entries"]
    assert everything == result["figures"][2]["entries"] > result["record"]
    if Path("/usr/bin/chromium").exists():
        assert "Chromium" in names[4]
