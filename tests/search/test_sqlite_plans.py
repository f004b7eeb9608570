"""SQLite probes a search's second and further criteria per candidate row through the index tables'
``rid`` indexes (the statistics :func:`ehp.store.database.migrate` writes), not through their value
indexes, which would read every row with that value for every candidate."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehp.api.app import register_search_parameters
from ehp.search.engine import page_statement, prepare
from ehp.search.query import Scope
from ehp.store.database import migrate, open_engine
from ehp.store.store import Store


@pytest.mark.parametrize("code", ["http://loinc.org|4548-4", "4548-4"])
def test_correlated_criteria_use_the_rid_indexes(code: str, tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    try:
        migrate(engine)
        store = Store(engine)
        register_search_parameters(store)
        query = [
            ("patient", "Patient/p1"),
            ("code", code),
            ("date", "ge2012-01-01"),
            ("_sort", "-date"),
        ]
        statement = page_statement(
            prepare(Scope(store.params, "http://x/fhir"), ("Observation",), query, strict=True, count=50)
        )
        compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
        with engine.connect() as connection:
            plan = [
                row[3]
                for row in connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {compiled}",
                    tuple(compiled.params[key] for key in compiled.positiontup or ()),
                )
            ]
    finally:
        engine.dispose()
    probes = [step for step in plan if step.startswith("SEARCH idx_")]
    assert (
        "SEARCH idx_reference USING INDEX ix_idx_reference_target (pid=? AND target_id=? AND target_type=?)"
        in probes
    )
    assert "SEARCH idx_date USING INDEX ix_idx_date_rid (rid=?)" in probes
    assert not any("ix_idx_date_value" in step for step in probes), plan
    token_probes = [step for step in probes if step.startswith("SEARCH idx_token")]
    assert token_probes, plan
    # Either index finds the candidate's own rows: the value index ends with rid (revision 0007).
    assert all(step.endswith("rid=?)") for step in token_probes), plan
