"""Search conformance over the official examples, on SQLite and PostgreSQL.

Every official example resource the server accepts is loaded (straight through the store, in
bulk). Then, for every search parameter of a supported type and every example carrying a value
for it, a search value is generated from that value (:mod:`tests.search.oracle`), the search is
run through the FHIR service, and:

* the example itself must be found, and
* the whole result set must equal what the independent evaluation predicts over all loaded
  examples (fhirpathpy values, normalised by the project's ``add_values``, matched in plain Python).

The searches go through the search engine's parsing and SQL (``prepare``) and read the matching
ids only; pages, Bundles and HTTP are the other search tests' business (25,000 searches per
database must stay affordable).

The share of (parameter, value) searches that agree is printed; every exception is listed in
:data:`EXCEPTIONS` with its explanation, and the test fails on any other disagreement. Values no
search value can express are counted by reason (:data:`tests.search.oracle.UNSEARCHABLE`).

Last run: 25,016 of 25,016 searches agree (100%) on both databases, 5,288 examples, no exception.

What this test does not cover, and where it is covered instead:

* the 18 official examples the server refuses as invalid R4 (``REJECTED`` of
  ``tests/api/test_official_examples.py``) are not loaded;
* ``near`` (not supported), ``_query`` (no expression), ``_id`` and ``_lastUpdated`` (store
  columns), ``_text`` and ``_content`` (no FHIRPath expression): ``test_matching.py``;
* one search per (example, parameter), from its first value; ``:text`` only for concepts without
  codings, ``:identifier`` for logical references; modifiers, prefixes other than ``eq``/``ge``/
  ``le``, chains, ``_has``, sorting, paging and includes: ``test_matching.py``, ``test_results.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from sqlalchemy import select

from ehp.context import SYSTEM_CONTEXT
from ehp.fhir.jsonio import dumps, loads
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.search.engine import prepare
from ehp.search.errors import SearchError
from ehp.search.query import Scope
from ehp.store.database import migrate, open_engine
from ehp.store.schema import resources
from ehp.store.store import Store
from tests.api.test_official_examples import REJECTED
from tests.conftest import BACKENDS
from tests.search.oracle import UNSEARCHABLE, Probe, Values, evaluate, probes
from tests.search.test_extract import Oracle, official_examples
from tests.servers import database_url

BASE = "http://conformance.test/fhir"
EXCEPTIONS: dict[tuple[str, str], str] = {}
"""(resource type, parameter) searches whose result differs from the prediction, with the reason."""

Key = tuple[str, str]


@cache
def examples() -> dict[Key, dict[str, Any]]:
    """The examples the server accepts, by (type, id); a later file with the same id replaces one."""
    found: dict[Key, dict[str, Any]] = {}
    for name, resource in official_examples():
        if name not in REJECTED and isinstance(resource.get("id"), str):
            found[(resource["resourceType"], resource["id"])] = resource
    return found


@cache
def predictions() -> dict[Key, tuple[str, dict[str, Values]]]:
    """(type, parameter code) → (its kind, resource id → its values), by fhirpathpy."""
    oracle = Oracle()
    table: dict[Key, tuple[str, dict[str, Values]]] = {}
    for (resource_type, resource_id), resource in examples().items():
        for code, kind, values in evaluate(oracle, resource):
            table.setdefault((resource_type, code), (kind, {}))[1][resource_id] = values
    return table


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A store of the backend holding every accepted official example."""
    folder = tmp_path_factory.mktemp(f"conformance-{request.param}")
    with database_url(request.param, folder) as url:
        engine = open_engine(url)
        try:
            migrate(engine)
            loaded = open_store(engine)
            register_search_parameters(loaded)
            everything = list(examples().items())
            for start in range(0, len(everything), 500):
                with loaded.transaction(SYSTEM_CONTEXT) as tx:
                    for (resource_type, resource_id), resource in everything[start : start + 500]:
                        tx.write(resource_type, resource_id, loads(dumps(resource)), "PUT")
            yield loaded
        finally:
            engine.dispose()


def _found(store: Store, resource_type: str, name: str, value: str) -> set[str] | str:
    """Ids a search finds, or the error it gave."""
    try:
        request = prepare(Scope(store.params, BASE), (resource_type,), [(name, value)], strict=True, count=0)
    except SearchError as failure:
        return f"refused: {failure}"
    rows = store.reader(SYSTEM_CONTEXT).query(select(resources.c.id).where(request.where))
    return {row.id for row in rows}


def _searches() -> tuple[dict[tuple[str, str, str], tuple[Probe, set[str]]], Counter[str]]:
    """Each distinct (type, name, value) search with its probe and the examples it came from."""
    searches: dict[tuple[str, str, str], tuple[Probe, set[str]]] = {}
    unsearchable: Counter[str] = Counter()
    for (resource_type, code), (kind, by_id) in predictions().items():
        for resource_id, values in by_id.items():
            generated = probes(code, kind, values)
            if isinstance(generated, str):
                unsearchable[generated] += 1
                continue
            for probe in generated:
                entry = searches.setdefault((resource_type, probe.name, probe.value), (probe, set()))
                entry[1].add(resource_id)
    return searches, unsearchable


def test_every_value_of_every_example_is_found_exactly(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    searches, unsearchable = _searches()
    agree = 0
    failures: list[str] = []
    excused: Counter[tuple[str, str]] = Counter()
    for (resource_type, name, value), (probe, sources) in sorted(searches.items()):
        candidates = predictions()[(resource_type, name.split(":")[0])][1]
        expected = {resource_id for resource_id, values in candidates.items() if probe.matches(values)}
        found = _found(store, resource_type, name, value)
        if found == expected and sources <= found:
            agree += 1
            continue
        code = name.split(":")[0]
        if (resource_type, code) in EXCEPTIONS:
            excused[(resource_type, code)] += 1
            continue
        if isinstance(found, str):
            failures.append(f"{resource_type}?{name}={value}: {found}")
        else:
            failures.append(
                f"{resource_type}?{name}={value}: missing {sorted(expected - found)[:5]}, "
                f"extra {sorted(found - expected)[:5]}, sources {sorted(sources)[:3]}"
            )
    total = len(searches)
    with capsys.disabled():
        print(
            f"\nsearch conformance: {agree}/{total} (parameter, value) searches agree ({agree / total:.3%}), "
            f"{sum(excused.values())} excused as listed, {len(failures)} unexplained; "
            f"{len(examples())} examples; values no search can express: {dict(unsearchable)}"
        )
        for (resource_type, code), count in sorted(excused.items()):
            print(f"  excused {resource_type}.{code} ({count}): {EXCEPTIONS[(resource_type, code)]}")
    assert not failures, "\n".join(failures[:40])
    assert set(unsearchable) <= set(UNSEARCHABLE)
    assert set(excused) == set(EXCEPTIONS), "an exception no longer happens: remove it"
    assert total > 20_000
