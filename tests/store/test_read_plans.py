"""Looking many resources up at once (a transaction's entries, a replicated batch) goes through the
``(resource_type, id)`` index on both databases, never through a scan of every version."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from ehp.store.database import migrate, open_engine
from ehp.store.reads import current_rows_statement
from tests.servers import database_url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_many_current_versions_are_read_by_the_key_index(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        engine = open_engine(url, pool_size=1)
        try:
            migrate(engine)
            statement = current_rows_statement("Observation", ["a", "b", "c"], lock=backend == "postgresql")
            compiled = statement.compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True, "render_postcompile": True}
            )
            with engine.connect() as connection:
                if backend == "postgresql":
                    connection.execute(text("SET enable_seqscan = off"))
                    plan = [row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}")]
                else:
                    plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
        finally:
            engine.dispose()
    text_plan = "\n".join(plan)
    if backend == "sqlite":
        assert "SEARCH resources USING INDEX" in text_plan and "(resource_type=? AND id=?)" in text_plan, plan
        assert "SCAN resource_versions" not in text_plan, plan
    else:
        assert "Seq Scan" not in text_plan, plan
