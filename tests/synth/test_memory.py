"""Memory stays flat as the number of people grows: the generator streams.

Measured by hand (docs/architecture.md): peak RSS 46.3 MB for 1,000 people, 47.5 MB for 10,000 and
47.7 MB for 100,000 (NDJSON); 114.7 MB for 1,000 and 115.3 MB for 20,000 as Bundles. The suite
compares 1,000 with 4,000 people written as Bundles (the writer that buffers), each in its own
process, and checks that the Bundle writer keeps one file open (each open file holds a buffer:
before this check, 100,000 people peaked at 173 MB with 44 files open).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ehp.synth.generator import BUNDLE_SIZE, BUNDLES_PER_FILE, BundleWriter, Summary

_MEASURE = """
import resource, sys
from pathlib import Path
from ehp.synth.generator import SynthConfig, synthesize
synthesize(SynthConfig(people=int(sys.argv[1]), seed=7), Path(sys.argv[2]), sys.argv[3], show_progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_kib(people: int, folder: Path, output: str) -> int:
    command = [sys.executable, "-c", _MEASURE, str(people), str(folder), output]
    return int(subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout)


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_people(tmp_path: Path) -> None:
    small = _peak_kib(1_000, tmp_path / "small", "bundles")
    large = _peak_kib(4_000, tmp_path / "large", "bundles")
    assert large - small < 6 * 1024, f"peak RSS grew from {small // 1024} MiB to {large // 1024} MiB"


def test_bundle_writer_keeps_one_file_open(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path, Summary())
    group = [{"resourceType": "Basic", "id": str(n)} for n in range(BUNDLE_SIZE)]
    for _ in range(2 * BUNDLES_PER_FILE + 1):
        writer.write(group)
        assert len(writer.handles) <= 1
    writer.close()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "bundles-000001.ndjson",
        "bundles-000002.ndjson",
        "bundles-000003.ndjson",
    ]
    assert len((tmp_path / "bundles-000001.ndjson").read_bytes().splitlines()) == BUNDLES_PER_FILE
