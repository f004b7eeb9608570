"""``ehp load``: put a generated set into a server (HTTP) or a database (in process), resumably.

The set is cut into *batches*: a line of a ``bundles-*.ndjson`` file (one transaction Bundle), or
:data:`~ehp.synth.generator.BUNDLE_SIZE` lines of a ``Type.ndjson`` file. Every entry is a ``PUT``
with the record's fixed id, so sending a batch twice leaves the same resources (an update with
the same content). A batch is atomic; once it is committed it is marked done in a small progress
file in the set's folder (one per target), rewritten atomically, so an interrupted load resumes
with the batches not yet done.

Over HTTP, several client threads post transaction Bundles (the server does the work; a client
only moves bytes). In process (``--database``) the batches go straight to the store, after the
same validation the server applies: a batch whose first resource already exists was committed
before and is skipped; others are written without the per-resource lookups a PUT needs, falling
back to a full PUT if a resource exists after all.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ehp.context import RequestContext
from ehp.fhir.issues import Issue
from ehp.fhir.validation import validate_resource
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.store.database import migrate, open_engine, refresh_statistics
from ehp.store.errors import ConcurrentWrite
from ehp.store.store import Store
from ehp.synth.generator import BUNDLE_SIZE, read_manifest

Json = dict[str, Any]
LOADER_CONTEXT = RequestContext(actor="Device/ehp-load", purpose="HOPERAT")
RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
ATTEMPTS = 6


class LoadError(Exception):
    """A batch was refused (or could not be sent after retries); the progress so far is kept."""


@dataclass(frozen=True, slots=True)
class Batch:
    file: str
    index: int
    """The line (bundles) or group of lines (ndjson) within the file."""
    data: bytes
    bundled: bool
    """``data`` is a transaction Bundle (else NDJSON lines of resources)."""

    def bundle(self) -> bytes:
        if self.bundled:
            return self.data
        entries = []
        for line in self.data.splitlines():
            resource = orjson.loads(line)
            url = f"{resource['resourceType']}/{resource['id']}"
            entries.append(
                {
                    "fullUrl": f"urn:uuid:{resource['id']}",
                    "resource": resource,
                    "request": {"method": "PUT", "url": url},
                }
            )
        return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})

    def resources(self) -> list[Json]:
        """The batch's resources (plain orjson: a generated set holds no decimal whose text matters)."""
        if self.bundled:
            bundle = orjson.loads(self.data)
            return [entry["resource"] for entry in bundle["entry"]]
        return [orjson.loads(line) for line in self.data.splitlines()]


@dataclass(slots=True)
class LoadSummary:
    batches: int = 0
    skipped: int = 0
    """Batches already done before this run."""
    resources: int = 0
    seconds: float = 0.0


class ProgressFile:
    """Which batches of each file are done: a watermark below which all are, and the ones above it."""

    def __init__(self, folder: Path, target: str) -> None:
        digest = hashlib.sha256(target.encode()).hexdigest()[:12]
        self.path = folder / f".load-progress-{digest}.json"
        self.target = target
        self.below: dict[str, int] = {}
        self.above: dict[str, set[int]] = {}
        self._saved = 0.0
        self._lock = threading.Lock()
        if self.path.is_file():
            saved = orjson.loads(self.path.read_bytes())
            for name, state in saved["files"].items():
                self.below[name] = state["done_below"]
                self.above[name] = set(state["done"])

    def done(self, file: str, index: int) -> bool:
        return index < self.below.get(file, 0) or index in self.above.get(file, ())

    def file_done(self, file: str, batches: int) -> bool:
        return self.below.get(file, 0) >= batches

    def mark(self, file: str, index: int) -> None:
        with self._lock:
            above = self.above.setdefault(file, set())
            above.add(index)
            below = self.below.get(file, 0)
            while below in above:
                above.discard(below)
                below += 1
            self.below[file] = below
        if time.monotonic() - self._saved > 0.5:
            self.save()

    def save(self) -> None:
        with self._lock:
            files = {
                name: {"done_below": below, "done": sorted(self.above.get(name, ()))}
                for name, below in self.below.items()
            }
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_bytes(orjson.dumps({"target": self.target, "files": files}))
            os.replace(partial, self.path)
            self._saved = time.monotonic()


def _batch_count(name: str, lines: int) -> int:
    """How many batches a file of the set holds."""
    return lines if name.startswith("bundles-") else -(-lines // BUNDLE_SIZE)


def _batches(folder: Path, files: dict[str, int], progress: ProgressFile) -> Iterator[Batch]:
    """The batches not yet done, file by file, reading one line at a time."""
    for name, lines in files.items():
        bundled = name.startswith("bundles-")
        if progress.file_done(name, _batch_count(name, lines)):
            continue
        with (folder / name).open("rb") as handle:
            if bundled:
                for index, line in enumerate(handle):
                    if not progress.done(name, index):
                        yield Batch(name, index, line.rstrip(b"\n"), True)
                continue
            index, group = 0, []
            for line in handle:
                group.append(line)
                if len(group) == BUNDLE_SIZE:
                    if not progress.done(name, index):
                        yield Batch(name, index, b"".join(group), False)
                    index, group = index + 1, []
            if group and not progress.done(name, index):
                yield Batch(name, index, b"".join(group), False)


def _batch_counts(files: dict[str, int]) -> int:
    return sum(_batch_count(name, lines) for name, lines in files.items())


def _progress_bar(show: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not show,
    )


def load_http(
    folder: Path, url: str, *, clients: int = 4, token: str | None = None, show_progress: bool = True
) -> LoadSummary:
    """Post the set's batches to the FHIR base ``url`` as transaction Bundles, ``clients`` at a time.

    ``token`` is sent as a bearer token (a server without ``--auth none`` needs one with write scopes).
    """
    manifest = read_manifest(folder)
    base = url.rstrip("/")
    progress = ProgressFile(folder, base)
    files: dict[str, int] = manifest["files"]
    summary = LoadSummary()
    local = threading.local()
    headers = {"Content-Type": "application/fhir+json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    made: list[httpx.Client] = []

    def send(batch: Batch) -> int:
        client: httpx.Client | None = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=300, headers=headers)
            made.append(client)
        _post(client, base, batch)
        progress.mark(batch.file, batch.index)
        return batch.data.count(b'"request":') if batch.bundled else batch.data.count(b"\n")

    def collect(finished: set[Future[int]]) -> None:
        summary.resources += sum(future.result() for future in finished)
        summary.batches += len(finished)
        bar.advance(task, len(finished))

    started = time.perf_counter()
    total = _batch_counts(files)
    try:
        with _progress_bar(show_progress) as bar, ThreadPoolExecutor(clients) as pool:
            task = bar.add_task(f"Loading into {base}", total=total)
            summary.skipped = total - _remaining(files, progress)
            bar.advance(task, summary.skipped)
            running: set[Future[int]] = set()
            try:
                for batch in _batches(folder, files, progress):
                    if len(running) >= 2 * clients:
                        finished, running = _settle(running)
                        collect(finished)
                    running.add(pool.submit(send, batch))
                while running:
                    finished, running = _settle(running)
                    collect(finished)
            except BaseException:
                for future in running:
                    future.cancel()  # batches already being sent finish (and are marked) first
                raise
    finally:
        progress.save()
        for client in made:
            client.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _remaining(files: dict[str, int], progress: ProgressFile) -> int:
    """Batches not done yet (counted from the progress file alone, without reading the set)."""
    remaining = 0
    for name, lines in files.items():
        count = _batch_count(name, lines)
        remaining += count - min(count, progress.below.get(name, 0)) - len(progress.above.get(name, ()))
    return remaining


def _settle(running: set[Future[int]]) -> tuple[set[Future[int]], set[Future[int]]]:
    finished, still = wait(running, return_when=FIRST_COMPLETED)
    for future in finished:
        future.result()  # raises the batch's LoadError
    return set(finished), set(still)


def _post(client: httpx.Client, base: str, batch: Batch) -> None:
    body = batch.bundle()
    delay = 0.5
    for attempt in range(ATTEMPTS):
        try:
            response = client.post(base, content=body)
        except httpx.TransportError as failure:
            problem = f"{type(failure).__name__}: {failure}"
        else:
            if response.status_code == 200:
                return
            problem = f"HTTP {response.status_code}: {_diagnostics(response.content)}"
            if not _retryable(response):
                raise LoadError(f"{batch.file} batch {batch.index} was refused: {problem}")
        if attempt + 1 < ATTEMPTS:
            time.sleep(delay)
            delay *= 2
    raise LoadError(f"{batch.file} batch {batch.index} failed {ATTEMPTS} times; last: {problem}")


def _retryable(response: httpx.Response) -> bool:
    """A busy or briefly failing server, or a write conflict; not a refusal of the content (a 409
    of a business rule, such as a duplicate IIN, is a refusal)."""
    if response.status_code != 409:
        return response.status_code in RETRY_STATUSES
    try:
        issues = orjson.loads(response.content).get("issue", [])
    except (orjson.JSONDecodeError, AttributeError):
        return True
    return all(isinstance(issue, dict) and issue.get("code") == "conflict" for issue in issues)


def _diagnostics(body: bytes) -> str:
    try:
        outcome = orjson.loads(body)
        return "; ".join(
            str(issue.get("diagnostics", issue.get("code"))) for issue in outcome.get("issue", [])
        )[:2000]
    except (orjson.JSONDecodeError, AttributeError):
        return body[:500].decode("utf-8", errors="replace")


def load_database(folder: Path, database: str, *, show_progress: bool = True) -> LoadSummary:
    """Write the set's batches straight into the store of ``database`` (schema created if needed).

    Batches are committed :data:`GROUP` at a time: a commit waits for the disk (SQLite syncs it
    fully), and a hundred-resource commit would spend much of its time there. At the end the
    planner's statistics and the visibility map are refreshed
    (:func:`~ehp.store.database.refresh_statistics`).
    """
    manifest = read_manifest(folder)
    progress = ProgressFile(folder, database)
    files: dict[str, int] = manifest["files"]
    engine = open_engine(database)
    summary = LoadSummary()
    started = time.perf_counter()
    try:
        migrate(engine)
        store = open_store(engine)
        register_search_parameters(store)
        total = _batch_counts(files)
        with _progress_bar(show_progress) as bar:
            task = bar.add_task("Loading into the store", total=total)
            summary.skipped = total - _remaining(files, progress)
            bar.advance(task, summary.skipped)
            try:
                for group in _groups(_batches(folder, files, progress)):
                    _commit_group(store, group, progress, summary)
                    bar.advance(task, len(group))
            finally:
                progress.save()
        refresh_statistics(engine)
    finally:
        engine.dispose()
    summary.seconds = time.perf_counter() - started
    return summary


GROUP = 25
"""Batches per store transaction when loading in process."""


def _groups(batches: Iterator[Batch]) -> Iterator[list[Batch]]:
    group: list[Batch] = []
    for batch in batches:
        group.append(batch)
        if len(group) == GROUP:
            yield group
            group = []
    if group:
        yield group


def _commit_group(store: Store, group: list[Batch], progress: ProgressFile, summary: LoadSummary) -> None:
    contents = [_valid_resources(batch) for batch in group]
    try:
        with store.transaction(LOADER_CONTEXT) as tx:
            written = 0
            for resources in contents:
                first = resources[0]
                if tx.current(first["resourceType"], first["id"]) is not None:
                    continue  # committed by an earlier, interrupted run
                for resource in resources:
                    tx.write(resource["resourceType"], resource["id"], resource, "PUT", fresh_id=True)
                written += len(resources)
    except ConcurrentWrite:  # some resource existed after all: write the group as plain PUTs
        with store.transaction(LOADER_CONTEXT) as tx:
            written = 0
            for batch in group:
                for resource in batch.resources():
                    tx.write(resource["resourceType"], resource["id"], resource, "PUT")
                    written += 1
    summary.resources += written
    summary.batches += len(group)
    for batch in group:
        progress.mark(batch.file, batch.index)


def _valid_resources(batch: Batch) -> list[Json]:
    resources = batch.resources()
    for resource in resources:
        errors = [issue for issue in validate_resource(resource) if issue.is_error]
        if errors:
            raise LoadError(
                f"{batch.file} batch {batch.index}: {resource['resourceType']}/{resource['id']} "
                f"is invalid: {_describe(errors)}"
            )
    return resources


def _describe(issues: list[Issue]) -> str:
    return "; ".join(f"{issue.expression}: {issue.diagnostics}" for issue in issues[:5])
