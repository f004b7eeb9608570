"""The first page of a code that thousands of resources carry reads about a page of them.

``Condition?code=I10&clinical-status=active`` at 100,000 people matched 12,272 Conditions, and the
server read and sorted them all for a page of 20 (401 ms on PostgreSQL). The value index now ends
with ``rid`` and a criterion that reads its parameter's rows implies the resource type, so both
databases can walk the matches in ``rid`` order and stop at the page's end.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.search.engine import page_statement, prepare
from ehp.search.query import Scope
from ehp.store.database import migrate, open_engine, refresh_statistics, writer
from ehp.store.schema import idx_token, resource_versions, resources
from ehp.store.store import Store
from tests.servers import database_url

ICD10 = "http://hl7.org/fhir/sid/icd-10"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITIONS = 30_000
PAGE = 20
QUERY = [("code", f"{ICD10}|I10"), ("clinical-status", "active"), ("_count", str(PAGE))]


def _fill(engine: Engine, store: Store) -> list[int]:
    """Conditions (a fifth with I10, most active) between Observations; the expected page's rids."""
    code_pid = store.params.pid("Condition", "code")
    status_pid = store.params.pid("Condition", "clinical-status")
    observation_pid = store.params.pid("Observation", "code")
    rng = random.Random(7)
    rows: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    tokens: list[dict[str, Any]] = []
    matches: list[int] = []
    for rid in range(1, 3 * CONDITIONS + 1):
        kind = "Condition" if rid % 3 == 0 else "Observation"
        rows.append(
            {
                "rid": rid,
                "resource_type": kind,
                "id": f"r{rid}",
                "version": 1,
                "last_updated": rid,
                "deleted": False,
            }
        )
        versions.append(
            {
                "rid": rid,
                "resource_type": kind,
                "id": f"r{rid}",
                "version": 1,
                "last_updated": rid,
                "method": "PUT",
                "actor": "test",
                "content": json.dumps({"resourceType": kind, "id": f"r{rid}"}).encode(),
            }
        )
        if kind == "Observation":
            tokens.append({"pid": observation_pid, "rid": rid, "system": "http://loinc.org", "code": "I10"})
            continue
        code = "I10" if rng.random() < 0.2 else f"X{rng.randrange(500)}"
        status = "active" if rng.random() < 0.7 else "resolved"
        tokens.append({"pid": code_pid, "rid": rid, "system": ICD10, "code": code})
        tokens.append({"pid": status_pid, "rid": rid, "system": CLINICAL, "code": status})
        if code == "I10" and status == "active":
            matches.append(rid)
    with writer(engine).begin() as connection:
        connection.execute(insert(resources), rows)
        connection.execute(insert(resource_versions), versions)
        connection.execute(insert(idx_token), tokens)
    refresh_statistics(engine)
    return matches[:PAGE]


def _walk(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _walk(child)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_common_codes_first_page_stops_at_the_page(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        engine = open_engine(url, pool_size=1)
        try:
            migrate(engine)
            store = open_store(engine)
            register_search_parameters(store)
            expected = _fill(engine, store)
            request = prepare(
                Scope(store.params, "http://x/fhir"), ("Condition",), QUERY, strict=True, count=PAGE
            )
            statement = page_statement(request)
            compiled = statement.compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True, "render_postcompile": True}
            )
            with engine.connect() as connection:
                found = [row.rid for row in connection.execute(statement)]
                if backend == "postgresql":
                    explained = connection.exec_driver_sql(
                        f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}"
                    ).scalar()
                    nodes = list(_walk(explained[0]["Plan"]))
                else:
                    plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
        finally:
            engine.dispose()
    assert found[:PAGE] == expected, "the page holds the first active I10 Conditions in rid order"
    assert "resources.resource_type =" not in str(compiled), "the code implies the type"
    if backend == "postgresql":
        read = sum(
            (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
            for node in nodes
            if node.get("Relation Name") == "idx_token"
        )
        assert 0 < read < 2_000, f"{read} index rows read for a page, of {CONDITIONS // 5} I10 rows"
        assert not any(node["Node Type"] in ("Sort", "Hash") for node in nodes), nodes
    else:
        assert (
            "SEARCH idx_token USING COVERING INDEX ix_idx_token_value (pid=? AND code=? AND system=?)" in plan
        )
        assert "SEARCH resources USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
        sorts = [step for step in plan if step == "USE TEMP B-TREE FOR ORDER BY"]
        assert len(sorts) == 1, f"only the page's own rows are sorted, once: {plan}"


def test_postgresql_knows_how_common_each_code_is(tmp_path: Path) -> None:
    with database_url("postgresql", tmp_path) as url:
        engine = open_engine(url, pool_size=1)
        try:
            migrate(engine)
            with engine.connect() as connection:
                target = connection.exec_driver_sql(
                    "SELECT attstattarget FROM pg_attribute"
                    " WHERE attrelid = 'idx_token'::regclass AND attname = 'code'"
                ).scalar()
                kinds = connection.exec_driver_sql(
                    "SELECT stxkind FROM pg_statistic_ext WHERE stxname = 'st_idx_token_value'"
                ).scalar()
        finally:
            engine.dispose()
    assert target == 1000, "revision 0007 samples ten times PostgreSQL's default of values"
    assert kinds == ["f"], "functional dependencies of code on pid and system"
