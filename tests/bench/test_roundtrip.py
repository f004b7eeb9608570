"""The smoke run of ``ehp bench roundtrip``: a small country exported, imported into an empty
database, and found identical apart from ``meta``."""

from __future__ import annotations

import subprocess
import sys


def test_a_small_round_trip_finds_no_difference() -> None:
    command = [sys.executable, "-m", "ehp.cli", "bench", "roundtrip", "--people", "60", "--backend", "sqlite"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    assert ": 0 differences" in completed.stdout and ", 0 refused" in completed.stdout
    compared = next(line for line in completed.stdout.splitlines() if line.startswith("compared "))
    assert int(compared.split()[1]) > 1000
