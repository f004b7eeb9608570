"""A server per backend holding the search data set (:mod:`tests.search.dataset`), and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ehp.bench.servers import BenchServer
from tests.conftest import BACKENDS
from tests.search.dataset import transaction
from tests.servers import database_url


@pytest.fixture(scope="session", params=BACKENDS)
def search_fhir(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """An HTTP client on a fresh server of each backend, loaded with the data set."""
    backend: str = request.param
    folder = tmp_path_factory.mktemp(f"search-{backend}")
    with (
        database_url(backend, folder) as url,
        BenchServer(url, folder / "server.log") as server,
        httpx.Client(base_url=server.base + "/", timeout=60) as client,
    ):
        loaded = client.post("", json=transaction(), headers={"Content-Type": "application/fhir+json"})
        assert loaded.status_code == 200, loaded.text
        yield client


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    """``Type/id`` of the entries of a searchset in the given mode, in order."""
    return [
        entry["fullUrl"].split("/fhir/", 1)[1]
        for entry in bundle.get("entry", [])
        if entry.get("search", {}).get("mode") == mode
    ]
