"""SQLite probes a search's second and further criteria per candidate row through the index tables'
``rid`` indexes (the statistics :func:`ehp.store.database.migrate` writes), not through their value
indexes, which would read every row with that value for every candidate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select

from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.search.engine import page_statement, prepare
from ehp.search.query import Scope, find_ids
from ehp.store.database import migrate, open_engine
from ehp.store.store import Store


@pytest.mark.parametrize("code", ["http://loinc.org|4548-4", "4548-4"])
def test_correlated_criteria_use_the_rid_indexes(code: str, tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    try:
        migrate(engine)
        store = open_store(engine)
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
    target = "ix_idx_reference_target (pid=? AND target_id=? AND target_type=?)"
    assert f"SEARCH idx_reference USING COVERING INDEX {target}" in probes, plan
    assert "SEARCH idx_date USING INDEX ix_idx_date_rid (rid=?)" in probes
    assert not any("ix_idx_date_value" in step for step in probes), plan
    token_probes = [step for step in probes if step.startswith("SEARCH idx_token")]
    assert token_probes, plan
    # Either index finds the candidate's own rows: the value index ends with rid (revision 0007).
    assert all(step.endswith("rid=?)") for step in token_probes), plan


class _Capture:
    """A query runner that keeps the statement instead of running it."""

    def __init__(self, store: Store) -> None:
        self.params = store.params
        self.statements: list[Select[Any]] = []

    def query(self, statement: Select[Any]) -> list[Any]:
        self.statements.append(statement)
        return []


def test_a_local_reference_is_found_by_its_target_not_by_its_missing_url(tmp_path: Path) -> None:
    """A write rule asks whether a patient already has an active attachment (``find_ids``, local
    references only: ``url IS NULL``). From the url index that read every local reference of the
    parameter, 45% of the server's time when loading 100,000 people; the url index now holds
    absolute references only."""
    engine = open_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    try:
        migrate(engine)
        store = open_store(engine)
        register_search_parameters(store)
        runner = _Capture(store)
        criteria = [("patient", "Patient/p1"), ("type", "attachment"), ("status", "active")]
        find_ids(runner, "EpisodeOfCare", criteria, limit=3)
        compiled = runner.statements[0].compile(
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )
        assert "url IS NULL" in str(compiled)
        with engine.connect() as connection:
            plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
    finally:
        engine.dispose()
    target = "ix_idx_reference_target (pid=? AND target_id=? AND target_type=?)"
    assert f"SEARCH idx_reference USING COVERING INDEX {target}" in plan, plan
    assert not any("ix_idx_reference_url" in step for step in plan), plan
