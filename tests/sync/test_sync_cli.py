"""``ehp serve`` federation options and ``ehp sync`` commands without a running centre."""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from ehp.bench.servers import free_port
from ehp.cli import app


def ehp(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments))


def test_serve_refuses_incomplete_federation_options(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'n.db'}"
    no_central = ehp("serve", "--database", database, "--node-id", "a1")
    assert no_central.exit_code == 2 and "--central" in no_central.output
    no_id = ehp("serve", "--database", database, "--central", "http://127.0.0.1:1")
    assert no_id.exit_code == 2 and "--node-id" in no_id.output
    half_credentials = ehp(
        "serve",
        "--database",
        database,
        "--central",
        "http://127.0.0.1:1",
        "--node-id",
        "a1",
        "--client-id",
        "c",
    )
    assert half_credentials.exit_code == 2 and "--client-key" in half_credentials.output
    bad_org = ehp(
        "serve", "--database", database, "--central", "http://127.0.0.1:1", "--node-id", "a1",
        "--organization", "poly-1",
    )  # fmt: skip
    assert bad_org.exit_code == 2 and "Organization/ID" in bad_org.output


def test_status_conflicts_and_verify_on_a_fresh_node(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'n.db'}"
    status = ehp("sync", "status", "--database", database)
    assert status.exit_code == 0 and "unsent 0 (oldest -)" in status.output, status.output
    conflicts = ehp("sync", "conflicts", "--database", database)
    assert conflicts.exit_code == 0 and "0 conflict(s)" in conflicts.output
    unreachable = f"http://127.0.0.1:{free_port()}"
    verify = ehp(
        "sync",
        "verify",
        "--database",
        database,
        "--central",
        unreachable,
        "--patient",
        "p1",
        "--node-id",
        "n1",
    )
    assert verify.exit_code == 2 and "cannot verify" in verify.output, verify.output
