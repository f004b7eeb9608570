"""SIGKILL of a node and of the centre at random moments during sync: nothing lost, nothing doubled."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehp.bench.sync_faults import fault_runs
from tests.servers import POSTGRES_ADMIN, require_postgres


def _run(seeds: list[int], folder: Path) -> None:
    require_postgres()
    report = fault_runs(seeds, folder, POSTGRES_ADMIN)
    check = report.check
    assert report.bundles_acknowledged > 0
    assert sum(report.kills.values()) == len(seeds)
    assert check.lost == [], f"versions lost on the way: {check.lost[:5]}"
    assert check.extra == [], f"versions at the centre the node never made: {check.extra[:5]}"
    assert check.differing == [], f"versions whose content differs: {check.differing[:5]}"
    assert check.duplicated == 0
    assert check.node_versions == check.central_versions > 0


def test_kills_during_sync_lose_and_double_nothing(tmp_path: Path) -> None:
    _run([11, 12, 13], tmp_path)


@pytest.mark.slow
def test_twenty_fault_runs(tmp_path: Path) -> None:
    _run(list(range(100, 120)), tmp_path)
