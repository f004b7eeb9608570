"""The suite's raw floor and its PostgreSQL statistics step, on real databases."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import text

from ehp.bench.store_bench import raw_floor
from ehp.bench.suite import analyze_after_load
from ehp.store.database import migrate, open_engine
from tests.servers import database_url


def _chunk(start: int, count: int) -> list[tuple[str, bytes]]:
    return [
        (f"Basic/{n}", orjson.dumps({"resourceType": "Basic", "id": str(n)}))
        for n in range(start, start + count)
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_floor_writes_every_chunk_and_reads_rows_of_each(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        keys = ["Basic/0", "Basic/999", "Basic/1000", "Basic/2499"]
        rate, reads = raw_floor(url, (_chunk(0, 1000), _chunk(1000, 1500)), keys)
        assert rate > 0
        assert len(reads) == len(keys)
        with pytest.raises(ValueError, match="Basic/2500"):
            raw_floor(url, iter([_chunk(0, 2500)]), ["Basic/2500"])


def test_after_a_load_postgresql_has_statistics_and_a_visibility_map(tmp_path: Path) -> None:
    with database_url("postgresql", tmp_path) as url:
        engine = open_engine(url, pool_size=1)
        try:
            migrate(engine)
            done = text(
                "SELECT last_analyze, last_vacuum FROM pg_stat_user_tables WHERE relname = 'resources'"
            )
            with engine.connect() as connection:
                assert tuple(connection.execute(done).one()) == (None, None)
            analyze_after_load(url)
            with engine.connect() as connection:
                analyzed, vacuumed = connection.execute(done).one()
            assert analyzed is not None, "statistics for the planner"
            assert vacuumed is not None, "a visibility map, for answers from an index alone"
        finally:
            engine.dispose()
