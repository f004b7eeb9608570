"""The ``ehp`` command: clear errors for bad options, and authentication on by default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from ehp.bench.servers import BenchServer, free_port


def test_serve_refuses_an_unknown_database_url() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "ehp.cli", "serve", "--database", "mysql://localhost/x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    assert "unsupported database URL" in completed.stderr


def test_without_auth_none_everything_but_discovery_needs_a_token(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "ehp.cli",
        "serve",
        "--database",
        f"sqlite:///{tmp_path / 'x.db'}",
        "--port",
        str(port),
    ]
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}/fhir"
        BenchServer.wait_until_up(process, base, tmp_path / "server.log")
        assert httpx.get(f"{base}/metadata").status_code == 200
        refused = httpx.get(f"{base}/Patient")
        assert refused.status_code == 401
        assert refused.json()["issue"][0]["code"] == "login"
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_auth_none_logs_a_loud_warning(server: BenchServer) -> None:
    assert "AUTHENTICATION IS OFF" in server.log_path.read_text()
