"""``ehp load DIR`` of any folder of FHIR NDJSON (``Type.ndjson``, ``Type.000.ndjson``, an
``ehp export`` folder...) or Bundle JSON files, not only one ``ehp synth`` wrote.

With ``--database`` the folder is imported in process by the same job as ``$import``
(:class:`~ehp.bulk.importer.ImportRun`): every line validated, checked by the registries' rules
and indexed, conditional references resolved across files in any order, refused lines written to
``DIR/.load-errors.ndjson`` as OperationOutcomes; the job's id is kept in ``DIR/.load-job-*`` so an
interrupted load goes on where it stopped. Bundle files are posted as they are. With ``--url`` the
lines are sent as batch Bundles of ``PUT`` entries (the server resolves their conditional
references), and entries refused for a conditional reference that matched nothing are sent again
once every file has been, for their targets may come in a later file.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ehp.api.messages import FhirRequest
from ehp.api.routes import core_routes
from ehp.api.service import FhirService, Settings
from ehp.bulk.importer import IMPORT, IMPORT_DIR_VARIABLE, ImportInput, ImportRun, ImportSpec, file_path
from ehp.bulk.jobs import (
    DONE,
    FAILED,
    STALE_SECONDS_VARIABLE,
    claim_next,
    create_job,
    file_parts,
    job_files,
    read_job,
)
from ehp.context import RequestContext
from ehp.fhir.definitions import is_resource_type
from ehp.registry.routes import registry_routes
from ehp.registry.rules import registry_rules
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.store.database import migrate, open_engine, refresh_statistics

LOADER = RequestContext(actor="Device/ehp-load", purpose="HOPERAT")
BATCH = 100
ERRORS_FILE = ".load-errors.ndjson"


@dataclass(slots=True)
class FolderLoad:
    written: int = 0
    refused: int = 0
    bundles: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def ndjson_inputs(folder: Path) -> list[ImportInput]:
    """The folder's NDJSON files with their types (from the name, ``Type[.NNN].ndjson`` or
    ``NNN-Type.ndjson``, else the first line's ``resourceType``)."""
    found = []
    for path in sorted(folder.glob("*.ndjson")):
        if path.name.startswith("."):
            continue
        found.append(ImportInput(_type_of(path), path.resolve().as_uri()))
    return found


def _type_of(path: Path) -> str:
    stem = path.name.removesuffix(".ndjson")
    for candidate in (stem.split(".")[0], stem.split("-")[-1]):
        if is_resource_type(candidate):
            return candidate
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                kind = orjson.loads(line).get("resourceType")
                if isinstance(kind, str) and is_resource_type(kind):
                    return kind
                break
    raise ValueError(f"{path.name}: cannot tell its resource type (name it Type.ndjson)")


def bundle_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*.json") if path.name != "manifest.json")


def load_folder_database(folder: Path, database: str, *, show_progress: bool = True) -> FolderLoad:
    started = time.perf_counter()
    inputs = ndjson_inputs(folder)
    bundles = bundle_files(folder)
    if not inputs and not bundles:
        raise ValueError(f"{folder} holds no .ndjson or Bundle .json files")
    os.environ[IMPORT_DIR_VARIABLE] = str(folder.resolve())
    os.environ[STALE_SECONDS_VARIABLE] = "0"  # this process alone runs the load's job
    engine = open_engine(database)
    summary = FolderLoad()
    try:
        migrate(engine)
        store = open_store(engine)
        register_search_parameters(store)
        service = FhirService(store, Settings(), [*core_routes(), *registry_routes()], registry_rules())
        if inputs:
            _import_in_process(service, folder, database, inputs, summary, show_progress)
        for path in bundles:
            answer = service.handle(
                LOADER, FhirRequest("POST", "", body=path.read_bytes()), "http://ehp.invalid/fhir"
            )
            summary.bundles += 1
            if answer.status >= 400:
                summary.refused += 1
                summary.errors.append(
                    f"{path.name}: HTTP {answer.status} {orjson.dumps(answer.resource).decode()[:300]}"
                )
        refresh_statistics(engine)
    finally:
        engine.dispose()
    summary.seconds = time.perf_counter() - started
    return summary


def _import_in_process(
    service: FhirService,
    folder: Path,
    database: str,
    inputs: list[ImportInput],
    summary: FolderLoad,
    show_progress: bool,
) -> None:
    marker = folder / f".load-job-{hashlib.sha256(database.encode()).hexdigest()[:12]}"
    engine = service.store.engine
    job = read_job(engine, marker.read_text().strip()) if marker.is_file() else None
    if job is None or job.status in (DONE, FAILED):
        spec = ImportSpec(tuple(inputs), "http://ehp.invalid/fhir", folder.resolve().as_uri())
        job = create_job(engine, IMPORT, LOADER, f"ehp load {folder}", spec.to_json())
        marker.write_text(job.id)
    total = sum(_lines(file_path(item.url)) for item in inputs)
    lease = f"ehp-load-{os.getpid()}"
    claimed = claim_next(engine, lease, (IMPORT,))
    if claimed is None or claimed.id != job.id:
        raise ValueError("the load's import job could not be taken (is another load of this folder running?)")
    worker = threading.Thread(target=ImportRun(service, claimed, lease).run, daemon=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not show_progress) as progress:
        task = progress.add_task("Importing", total=total)
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
            current = read_job(engine, job.id)
            if current is not None:
                progress.update(task, completed=current.processed)
    finished = read_job(engine, job.id)
    assert finished is not None
    if finished.status != DONE:
        raise ValueError(f"the load stopped: {finished.error or finished.status}")
    summary.written += finished.processed
    errors = [f for f in job_files(engine, job.id) if f.kind == "error"]
    with (folder / ERRORS_FILE).open("wb") as out:
        for item in errors:
            summary.refused += item.count
            for part in file_parts(engine, job.id, item.number):
                out.write(part)
    if summary.refused:
        for line in (folder / ERRORS_FILE).read_bytes().splitlines()[:5]:
            summary.errors.append(orjson.loads(line)["issue"][0]["diagnostics"][:300])
    marker.unlink()


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def load_folder_http(
    folder: Path, url: str, *, clients: int = 4, token: str | None = None, show_progress: bool = True
) -> FolderLoad:
    started = time.perf_counter()
    inputs = ndjson_inputs(folder)
    bundles = bundle_files(folder)
    if not inputs and not bundles:
        raise ValueError(f"{folder} holds no .ndjson or Bundle .json files")
    base = url.rstrip("/")
    headers = {"Content-Type": "application/fhir+json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    summary = FolderLoad()
    later: list[tuple[str, dict[str, Any]]] = []
    total = sum(_lines(file_path(item.url)) for item in inputs)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        httpx.Client(headers=headers, timeout=300) as client,
        Progress(*columns, disable=not show_progress) as bar,
    ):
        task = bar.add_task("Loading", total=total)
        for batch in _batches(inputs):
            later.extend(_send(client, base, batch, summary, retry_missing=True))
            bar.advance(task, len(batch))
        for start in range(0, len(later), BATCH):
            _send(client, base, later[start : start + BATCH], summary, retry_missing=False)
        for path in bundles:
            answer = client.post(base, content=path.read_bytes())
            summary.bundles += 1
            if answer.status_code >= 400:
                summary.refused += 1
                summary.errors.append(f"{path.name}: HTTP {answer.status_code} {answer.text[:300]}")
    summary.seconds = time.perf_counter() - started
    return summary


def _batches(inputs: list[ImportInput]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    batch: list[tuple[str, dict[str, Any]]] = []
    for item in inputs:
        path = file_path(item.url)
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    resource = orjson.loads(line)
                except orjson.JSONDecodeError:
                    resource = {"resourceType": "?", "line": f"{path.name}:{number}"}
                batch.append((f"{path.name}:{number}", resource))
                if len(batch) == BATCH:
                    yield batch
                    batch = []
    if batch:
        yield batch


def _send(
    client: httpx.Client,
    base: str,
    batch: list[tuple[str, dict[str, Any]]],
    summary: FolderLoad,
    *,
    retry_missing: bool,
) -> list[tuple[str, dict[str, Any]]]:
    entries = [
        {
            "resource": resource,
            "request": {"method": "PUT", "url": f"{resource.get('resourceType')}/{resource.get('id')}"},
        }
        for _, resource in batch
    ]
    answer = client.post(base, json={"resourceType": "Bundle", "type": "batch", "entry": entries})
    if answer.status_code != 200:
        summary.refused += len(batch)
        summary.errors.append(f"a batch was refused: HTTP {answer.status_code} {answer.text[:300]}")
        return []
    again = []
    for (where, resource), entry in zip(batch, answer.json().get("entry", []), strict=False):
        status = str(entry.get("response", {}).get("status", ""))
        if status.startswith(("200", "201")):
            summary.written += 1
            continue
        why = orjson.dumps(entry.get("response", {}).get("outcome", {})).decode()
        if retry_missing and "matches no resource" in why:
            again.append((where, resource))
            continue
        summary.refused += 1
        if len(summary.errors) < 20:
            summary.errors.append(f"{where}: {status} {why[:300]}")
    return again
