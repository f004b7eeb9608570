"""A server with authentication on (no ``--auth none``), per test module and database backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ehp.bench.servers import BenchServer
from tests.servers import database_url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BenchServer]:
    folder = tmp_path_factory.mktemp(f"secured-{request.param}")
    with (
        database_url(request.param, folder) as url,
        BenchServer(url, folder / "server.log", auth="required") as server,
    ):
        yield server
