"""Fuzzing over real HTTP: no input makes the server answer 5xx.

Schemathesis generates requests from the OpenAPI description EHP serves (``/fhir/api-docs``,
generated from the route table: every route, for a few resource types) and sends them to a
running server on each database; hypothesis drives the search parameters, token headers and
bodies below. The budget is fixed so the suite stays fast; ``docs/benchmarks.md`` records a
longer run.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ehp.bench.servers import BenchServer

FUZZ_TYPES = "Patient,Observation,Encounter"
EXAMPLES = int(os.environ.get("EHP_FUZZ_EXAMPLES", "8"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


def test_no_generated_request_is_a_server_error(server: BenchServer) -> None:
    """Every operation of the description, with requests schemathesis generates for it."""
    schema = schemathesis.openapi.from_url(f"{server.base}/api-docs?types={FUZZ_TYPES}")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy())
        def fuzz(case: Any) -> None:
            response = case.call(timeout=60)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query}: {response.status_code}")

        fuzz()
    assert operations > 40, "the description lists the routes"
    assert not failures, "\n".join(failures[:20])


def test_the_description_covers_every_route(fhir: httpx.Client, server: BenchServer) -> None:
    document = httpx.get(f"{server.base}/api-docs", params={"types": "Patient"}).json()
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert ("GET", "/Patient/{id}") in operations
    assert ("GET", "/Patient/{id}/$everything") in operations
    assert ("POST", "/") in operations and ("GET", "/metadata") in operations
    assert ("POST", "/Patient/$match") in operations
    assert ("GET", "/Organization/{id}/$attached") not in operations, "only on the types it serves"


TEXT = st.text(st.characters(codec="utf-8"), max_size=60)
NAMES = st.sampled_from(
    ["name", "name:exact", "birthdate", "identifier", "_id", "_lastUpdated", "_has:Observation:subject:code",
     "general-practitioner.name", "_sort", "_count", "_include", "_revinclude", "_summary", "_elements",
     "_total", "_text", "address-city:contains", "_cursor"]
)  # fmt: skip


@FUZZ_SETTINGS
@given(query=st.lists(st.tuples(NAMES | TEXT, TEXT), max_size=6))
def test_searches_with_any_parameters(fhir: httpx.Client, query: list[tuple[str, str]]) -> None:
    response = fhir.get("Patient", params=query)
    assert response.status_code < 500, (query, response.text[:300])


@FUZZ_SETTINGS
@given(body=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                         max_leaves=20))  # fmt: skip
def test_bodies_of_any_shape(fhir: httpx.Client, body: Any) -> None:
    for resource in (
        body,
        {"resourceType": "Patient", "name": body},
        {"resourceType": "Patient", "extension": body},
    ):
        response = fhir.post("Patient", json=resource)
        assert response.status_code < 500, (resource, response.text[:300])


@FUZZ_SETTINGS
@given(header=st.text(max_size=200), token=st.text(st.characters(codec="ascii"), max_size=300))
def test_any_authorization_header_on_a_secured_server(secured_base: str, header: str, token: str) -> None:
    for value in (header, f"Bearer {token}", f"Bearer {token}.{token}.{token}"):
        try:
            response = httpx.get(f"{secured_base}/Patient", headers={"Authorization": value}, timeout=30)
        except (httpx.LocalProtocolError, UnicodeEncodeError):
            continue  # not a header a client can send
        # 401, or 400 from the HTTP parser for a header no HTTP/1.1 allows
        assert response.status_code in (400, 401), (value, response.status_code)


@pytest.fixture(scope="module")
def secured_base(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("fuzz-secured")
    with BenchServer(f"sqlite:///{folder / 'ehp.db'}", folder / "server.log", auth="required") as running:
        yield running.base
