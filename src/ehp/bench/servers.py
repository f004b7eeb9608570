"""Servers in their own processes and throwaway PostgreSQL databases, for benchmarks and tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import httpx
import psycopg

DEFAULT_POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def throwaway_postgres(admin_url: str = DEFAULT_POSTGRES_ADMIN) -> Iterator[str]:
    """A new empty database on the server of ``admin_url``, dropped afterwards; yields its URL."""
    name = f"ehp_tmp_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class BenchServer:
    """``ehp serve`` (by default with ``--auth none``) on a free loopback port, as a child process."""

    def __init__(
        self,
        database: str,
        log_path: Path,
        *,
        workers: int = 1,
        auth: str = "none",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.database = database
        self.log_path = log_path
        self.workers = workers
        self.auth = auth
        self.extra_args = list(extra_args)
        """More ``ehp serve`` options, e.g. ``--role central`` or a node's ``--central URL``."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        command = [
            sys.executable,
            "-m",
            "ehp.cli",
            "serve",
            "--database",
            self.database,
            "--port",
            str(self.port),
            "--auth",
            self.auth,
            "--workers",
            str(self.workers),
            *self.extra_args,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            self.wait_until_up(self.process, self.base, self.log_path, timeout)
        except RuntimeError:
            self.stop()
            raise

    @staticmethod
    def wait_until_up(
        process: subprocess.Popen[bytes], base: str, log_path: Path, timeout: float = 90
    ) -> None:
        """Wait until the server at ``base`` answers ``metadata``; fail with its log if it dies or hangs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{base}/metadata", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not start in {timeout:.0f}s:\n{log_path.read_text()[-4000:]}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and its worker processes."""
        assert self.process is not None
        return _tree_cpu_seconds(self.process.pid)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up, as in a power cut."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> BenchServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live descendants, from ``/proc`` (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    total = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        total += sum(_tree_cpu_seconds(int(child)) for child in children)
    return total
