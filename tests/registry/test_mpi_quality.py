"""MPI quality: precision and recall of ``$match`` on a synthetic population with injected duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehp.bench.mpi_quality import DEFECTS, dataset, evaluate
from ehp.bench.servers import BenchServer
from tests.conftest import BACKENDS
from tests.servers import database_url


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_match_finds_injected_duplicates_at_the_default_threshold(backend: str, tmp_path: Path) -> None:
    data = dataset(600, seed=7, share=0.15)
    assert len(data.pairs) == 90 and set(data.defects) == set(DEFECTS), "every kind of defect is injected"
    with database_url(backend, tmp_path) as url, BenchServer(url, tmp_path / "server.log") as server:
        quality = evaluate(server.base, data)
    assert quality.precision >= 0.98, quality
    assert quality.recall >= 0.95, quality


def test_duplicates_lack_the_iin_and_keep_one_name_form() -> None:
    data = dataset(60, seed=3, share=0.5)
    by_id = {patient["id"]: patient for patient in data.patients}
    for pair in data.pairs:
        original, duplicate = sorted((by_id[i] for i in pair), key=lambda p: "identifier" not in p)
        assert "identifier" in original and "identifier" not in duplicate
        assert len(duplicate["name"]) == 1
