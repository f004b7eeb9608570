"""The ``ehp`` command: clear errors for bad options, and authentication on by default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from ehp.bench.servers import BenchServer


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
    with BenchServer(f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "server.log", auth="required") as server:
        assert httpx.get(f"{server.base}/metadata").status_code == 200
        refused = httpx.get(f"{server.base}/Patient")
        assert refused.status_code == 401
        assert refused.json()["issue"][0]["code"] == "login"
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "AUTHENTICATION IS OFF" not in server.log_path.read_text()


def test_auth_none_logs_a_loud_warning(server: BenchServer) -> None:
    assert "AUTHENTICATION IS OFF" in server.log_path.read_text()
