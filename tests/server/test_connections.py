"""Connection hygiene, as a slowloris attacker would try it (raw sockets to a real server)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from ehp.bench.servers import BenchServer


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchServer]:
    folder: Path = tmp_path_factory.mktemp("connections")
    settings = {
        "EHP_HEADER_TIMEOUT_SECONDS": "1",
        "EHP_BODY_TIMEOUT_SECONDS": "1",
        "EHP_MAX_CONNECTIONS_PER_ADDRESS": "8",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings.items():
            patch.setenv(name, value)
        server = BenchServer(f"sqlite:///{folder / 'ehp.db'}", folder / "server.log")
        server.start()
    try:
        yield server
    finally:
        server.stop()


def connect(server: BenchServer) -> socket.socket:
    address = urlsplit(server.base)
    return socket.create_connection((address.hostname, address.port), timeout=5)


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_headers_that_trickle_are_cut_off(guarded: BenchServer) -> None:
    sock = connect(guarded)
    try:
        sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        started = time.monotonic()
        assert closed_by_server(sock, 5)
        assert time.monotonic() - started < 4
    finally:
        sock.close()


def test_a_body_that_trickles_is_a_408(guarded: BenchServer) -> None:
    sock = connect(guarded)
    try:
        head = b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
        sock.sendall(head + b"Content-Length: 100\r\n\r\n{")
        sock.settimeout(5)
        answer = b""
        while b"OperationOutcome" not in answer:  # the head and the body may come in two packets
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"OperationOutcome" in answer
    finally:
        sock.close()


def test_one_address_holds_a_bounded_number_of_connections(guarded: BenchServer) -> None:
    held = [connect(guarded) for _ in range(8)]
    try:
        time.sleep(0.2)
        extra = connect(guarded)
        try:
            assert closed_by_server(extra, 0.8), "the ninth connection from one address is refused"
        finally:
            extra.close()
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(f"{guarded.base}/metadata", timeout=5).status_code == 200, "and others still get in"
