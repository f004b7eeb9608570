"""Concurrent writers on one resource: no lost update, no duplicate version, never a 5xx."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from ehp.bench.servers import BenchServer

WRITERS = 8


def test_concurrent_if_match_updates_let_exactly_one_win(server: BenchServer) -> None:
    pid = f"race-{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=server.base + "/", timeout=60) as client:
        client.put(f"Patient/{pid}", json={"resourceType": "Patient", "id": pid})

    def update(n: int) -> int:
        body = {"resourceType": "Patient", "id": pid, "name": [{"family": f"Writer{n}"}]}
        with httpx.Client(base_url=server.base + "/", timeout=60) as client:
            return client.put(f"Patient/{pid}", json=body, headers={"If-Match": 'W/"1"'}).status_code

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = sorted(pool.map(update, range(WRITERS)))
    assert statuses == [200] + [412] * (WRITERS - 1)
    with httpx.Client(base_url=server.base + "/", timeout=60) as client:
        history = client.get(f"Patient/{pid}/_history").json()
    assert [entry["resource"]["meta"]["versionId"] for entry in history["entry"]] == ["2", "1"]


def test_concurrent_updates_without_if_match_make_consecutive_versions(server: BenchServer) -> None:
    pid = f"race-{uuid.uuid4().hex[:12]}"

    def update(n: int) -> int:
        body = {"resourceType": "Patient", "id": pid, "name": [{"family": f"Writer{n}"}]}
        with httpx.Client(base_url=server.base + "/", timeout=60) as client:
            return client.put(f"Patient/{pid}", json=body).status_code

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = list(pool.map(update, range(WRITERS)))
    assert all(status in (200, 201, 409) for status in statuses), statuses
    succeeded = sum(status in (200, 201) for status in statuses)
    with httpx.Client(base_url=server.base + "/", timeout=60) as client:
        history = client.get(f"Patient/{pid}/_history").json()
    versions = [int(entry["resource"]["meta"]["versionId"]) for entry in history["entry"]]
    assert versions == list(range(succeeded, 0, -1))
