"""Bulk Data ``$import``: NDJSON files into the store, as the kick-off's caller would PUT them.

A kick-off names its files (``input``: ``type`` and ``url``): ``file://`` URLs inside the import
directory of ``ehp serve --import-dir`` (anything outside it is refused) or ``http(s)://`` URLs,
read as streams line by line. Every line is written as ``PUT [type]/[id]`` through the server's
own write path (validation, business rules, the caller's authorization, index rows, audit): a
resource keeps its id, so literal references between files hold in whatever order they come.

Conditional references (``Practitioner?identifier=...``) are resolved against what the store holds
then, with a per-job cache (a country's Observations name the same few thousand practitioners). A
resource whose conditional reference finds nothing yet is put off (``bulk_pending``) and tried
again after the last file, pass after pass while any succeeds; what still finds nothing, finds
several, or is refused for any other reason becomes an ``OperationOutcome`` in the job's error
file, naming the file, the line and why. Nothing else is lost.

Lines are written :data:`BATCH` per store transaction, and that transaction also moves the job's
cursor (file, line), appends its error lines and records what it put off: a job taken over after a
crash goes on after the last batch committed, writing nothing twice. A batch that fails as a whole
(a refusal after a write) is written again one resource per transaction, so one bad resource
costs only itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import orjson
from sqlalchemy import delete, insert, select

from ehp.api.interactions.common import is_conditional_reference, reference_holders
from ehp.api.messages import FhirRequest
from ehp.api.service import FhirService
from ehp.bulk.jobs import DONE, FAILED, Job, JobFile, LostJob, finish, write_part_in
from ehp.bulk.prepare import Prepared, prepare_lines
from ehp.bulk.schema import bulk_pending
from ehp.errors import FhirError
from ehp.fhir.definitions import is_resource_type
from ehp.registry.iin_rule import IinRule
from ehp.registry.records import TransactionIndex, replaced_by
from ehp.registry.settings import registry_settings
from ehp.search.errors import SearchError
from ehp.search.query import InnerFilter, find_ids
from ehp.store.writes import WriteTransaction

log = logging.getLogger(__name__)

IMPORT = "import"
IMPORT_DIR_VARIABLE = "EHP_IMPORT_DIR"
NDJSON = "application/fhir+ndjson"
BATCH = 500
"""Lines per store transaction: 500 rather than 200 took the bench import from 2,991 to 3,285
resources/s on PostgreSQL (with the conditional-reference walk skipped; docs/benchmarks.md)."""
MAX_INPUTS = 10_000
POOL_AFTER_BATCHES = 10
"""Batches written before the preparation pool starts (starting its processes costs about a second)."""
LOOKAHEAD = 4
"""Batches prepared ahead of the one being written."""
CACHE_SIZE = 100_000
MAX_PASSES = 10
ERROR_FILE = 1
ERROR_PART_BYTES = 1 << 20
FETCH_TIMEOUT_SECONDS = 60.0


class ImportRefused(Exception):
    """The kick-off cannot be taken (a 400 naming the parameter)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class ImportInput:
    type: str
    url: str


@dataclass(frozen=True, slots=True)
class ImportSpec:
    inputs: tuple[ImportInput, ...]
    base: str
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": [{"type": i.type, "url": i.url} for i in self.inputs],
            "base": self.base,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportSpec:
        inputs = tuple(ImportInput(str(i["type"]), str(i["url"])) for i in data["inputs"])
        return cls(inputs, str(data["base"]), data.get("source"))


def import_directory() -> Path | None:
    value = os.environ.get(IMPORT_DIR_VARIABLE)
    return Path(value).resolve() if value else None


def parse_kick_off(body: dict[str, Any], base: str) -> ImportSpec:
    """The inputs of a ``$import`` Parameters body, checked (:class:`ImportRefused` otherwise)."""
    parameters = body.get("parameter") or []
    if not isinstance(parameters, list):
        raise ImportRefused("parameter", "the Parameters body has no parameter list")
    formats = [
        p.get("valueCode") or p.get("valueString") for p in parameters if p.get("name") == "inputFormat"
    ]
    if formats != [NDJSON]:
        raise ImportRefused("inputFormat", f"inputFormat must be given once, as {NDJSON}")
    sources = [p.get("valueUri") for p in parameters if p.get("name") == "inputSource"]
    inputs = []
    for parameter in parameters:
        if parameter.get("name") != "input":
            continue
        parts = {part.get("name"): part for part in parameter.get("part") or () if isinstance(part, dict)}
        resource_type = (parts.get("type") or {}).get("valueCode")
        url = (parts.get("url") or {}).get("valueUri")
        if not isinstance(resource_type, str) or not is_resource_type(resource_type):
            raise ImportRefused(
                "input.type", f"input type {str(resource_type)[:64]!r} is not a resource type"
            )
        if not isinstance(url, str):
            raise ImportRefused("input.url", "each input needs a url (valueUri)")
        check_url(url)
        inputs.append(ImportInput(resource_type, url))
    if not inputs:
        raise ImportRefused("input", "the import names no input file")
    if len(inputs) > MAX_INPUTS:
        raise ImportRefused("input", f"at most {MAX_INPUTS} input files")
    source = sources[0] if sources and isinstance(sources[0], str) else None
    return ImportSpec(tuple(inputs), base, source)


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return
    if parts.scheme != "file":
        raise ImportRefused("input.url", f"{url[:100]!r}: inputs are file:// or http(s):// URLs")
    folder = import_directory()
    if folder is None:
        raise ImportRefused("input.url", "this server takes no file:// inputs (see ehp serve --import-dir)")
    path = file_path(url).resolve()
    if not path.is_relative_to(folder):
        raise ImportRefused("input.url", f"{url[:100]!r} is outside the import directory")
    if not path.is_file():
        raise ImportRefused("input.url", f"{url[:100]!r} is not a file")


def file_path(url: str) -> Path:
    """The path a ``file://`` URL names (percent-encoding undone, as ``Path.as_uri`` writes it)."""
    return Path(unquote(urlsplit(url).path))


def read_lines(url: str) -> Iterator[bytes]:
    """The lines of an input, streamed."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        check_url(url)
        with file_path(url).open("rb") as handle:
            yield from handle
        return
    with httpx.stream(
        "GET", url, timeout=FETCH_TIMEOUT_SECONDS, headers={"Accept": NDJSON}, follow_redirects=True
    ) as answer:
        if answer.status_code != 200:
            raise OSError(f"{url[:100]} answered HTTP {answer.status_code}")
        for line in answer.iter_lines():
            yield line.encode()


@dataclass(slots=True)
class Batch:
    lines: list[Line]
    position: tuple[int, int] | None
    """The cursor once the batch is written (input, last line); None in later passes."""
    failure: str | None = None
    """Why the input could not be read (the batch is one error line)."""


@dataclass(slots=True)
class Line:
    input: int
    number: int
    content: bytes


class Outcome:
    """What one batch did: written per input, errors, resources put off."""

    def __init__(self) -> None:
        self.written: dict[int, int] = {}
        self.errors: list[bytes] = []
        self.pending: list[Line] = []


class Deferred(Exception):
    """A conditional reference found nothing yet: try the resource again in a later pass."""


class ImportRun:
    """One import job's run in this process."""

    def __init__(self, service: FhirService, job: Job, lease: str) -> None:
        self.service = service
        self.store = service.store
        self.job = job
        self.lease = lease
        self.spec = ImportSpec.from_json(job.parameters)
        self.ctx = job.caller()
        self.cursor: dict[str, Any] = dict(job.cursor) or {"pass": 1, "input": 0, "line": 0}
        self.cursor.setdefault("written", {})
        self.cursor.setdefault("errors", 0)
        self.cursor.setdefault("error_part", 0)
        self.cursor.setdefault("pending", 0)
        self.cursor.setdefault("pending_number", 0)
        self.references: dict[str, str] = {}
        """Conditional reference → Type/id, for the job (emptied when it reaches CACHE_SIZE)."""
        self.national: dict[str, str | None] = {}
        """Patient id → the national record it is linked to (None: it is not linked)."""
        self.iin = IinRule(registry_settings().iin_system)
        order = sorted(range(len(self.spec.inputs)), key=lambda i: self.spec.inputs[i].type != "Patient")
        self.order = order
        """Inputs in the order they are read: Patients first, so that what refers to a patient the
        centre already holds under another id is redirected to that record."""

    def run(self) -> None:
        try:
            self._first_pass()
            self._later_passes()
            finish(self.store.engine, self.job, self.lease, DONE)
        except LostJob:
            log.info("import %s was cancelled or taken over; this process stops", self.job.id)
        except Exception as failure:
            log.exception("import %s failed", self.job.id)
            finish(
                self.store.engine, self.job, self.lease, FAILED, f"{type(failure).__name__}: {failure}"[:500]
            )

    def _first_pass(self) -> None:
        """Every input, in order, from the cursor on; batches are prepared (parsed, validated,
        indexed) in a process pool a few ahead of the one being written."""
        if self.cursor["pass"] > 1:
            return
        pool: ProcessPoolExecutor | None = None
        ahead: deque[tuple[Batch, Future[list[Prepared]] | None]] = deque()
        try:
            for number, batch in enumerate(self._batches()):
                if pool is None and number >= POOL_AFTER_BATCHES and (os.cpu_count() or 1) > 1:
                    pool = ProcessPoolExecutor(
                        os.cpu_count(), mp_context=multiprocessing.get_context("spawn")
                    )
                future = (
                    pool.submit(prepare_lines, *self._preparation(batch.lines))
                    if pool and batch.lines
                    else None
                )
                ahead.append((batch, future))
                if len(ahead) > LOOKAHEAD:
                    self._write_ahead(ahead.popleft())
            while ahead:
                self._write_ahead(ahead.popleft())
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        self.cursor["pass"] = 2
        self._commit(Batch([], (len(self.spec.inputs), 0)), last_pass=False)

    def _write_ahead(self, item: tuple[Batch, Future[list[Prepared]] | None]) -> None:
        batch, future = item
        self._commit(batch, last_pass=False, prepared=future.result() if future is not None else None)

    def _batches(self) -> Iterator[Batch]:
        for position in range(int(self.cursor["input"]), len(self.order)):
            index = self.order[position]
            skip = int(self.cursor["line"]) if position == self.cursor["input"] else 0
            lines: list[Line] = []
            number = 0
            try:
                for number, content in enumerate(read_lines(self.spec.inputs[index].url), 1):
                    if number <= skip or not content.strip():
                        continue
                    lines.append(Line(index, number, content))
                    if len(lines) == BATCH:
                        yield Batch(lines, (position, number))
                        lines = []
            except OSError as failure:
                if lines:
                    yield Batch(lines, (position, number))
                yield Batch(
                    [Line(index, 0, b"")], (position + 1, 0), f"the file could not be read: {failure}"
                )
                continue
            yield Batch(lines, (position + 1, 0))

    def _preparation(self, lines: list[Line]) -> tuple[list[bytes], list[str], list[bool]]:
        kinds = [self.spec.inputs[line.input].type for line in lines]
        required = self.service.settings.required_profiles
        return [line.content for line in lines], kinds, [not required.get(kind) for kind in kinds]

    def _later_passes(self) -> None:
        while self.cursor["pending"]:
            before = int(self.cursor["pending"])
            last = int(self.cursor["pass"]) >= MAX_PASSES
            waiting = self._take_pending()
            self.cursor["pass"] = int(self.cursor["pass"]) + 1
            for start in range(0, len(waiting), BATCH):
                self._commit(Batch(waiting[start : start + BATCH], None), last_pass=last, retried=True)
            if int(self.cursor["pending"]) >= before and not last:
                # no progress: one more pass reports what is left as errors
                self.cursor["pass"] = MAX_PASSES
            elif last:
                break

    def _take_pending(self) -> list[Line]:
        with self.store.engine.connect() as connection:
            rows = connection.execute(
                select(bulk_pending)
                .where(bulk_pending.c.job_id == self.job.id)
                .order_by(bulk_pending.c.number)
            ).all()
        return [Line(row.input, row.line, bytes(row.content)) for row in rows]

    def _commit(
        self, batch: Batch, *, last_pass: bool, prepared: list[Prepared] | None = None, retried: bool = False
    ) -> None:
        if prepared is None and batch.lines and batch.failure is None:
            prepared = prepare_lines(*self._preparation(batch.lines))
        try:
            self._commit_batch(batch, prepared, last_pass, retried)
        except _BatchFailed:
            for at, line in enumerate(
                batch.lines
            ):  # one resource per transaction: a bad one costs only itself
                alone = Batch([line], None, batch.failure)
                self._commit_batch(
                    alone, prepared[at : at + 1] if prepared else None, last_pass, retried, True
                )
            self._commit_batch(Batch([], batch.position), None, last_pass, False)

    def _commit_batch(
        self,
        batch: Batch,
        prepared: list[Prepared] | None,
        last_pass: bool,
        retried: bool,
        alone: bool = False,
    ) -> None:
        outcome = Outcome()
        try:
            with self.store.transaction(self.ctx) as tx:
                visible = (
                    self.service.access.access(self.ctx).inner_filter
                    if self.service.access is not None
                    else None
                )
                if prepared:
                    tx.preload(
                        [
                            (p.resource["resourceType"], p.resource["id"])
                            for p in prepared
                            if p.resource is not None
                        ]
                    )
                for at, line in enumerate(batch.lines):
                    if batch.failure is not None or prepared is None:
                        outcome.errors.append(self._error(line, batch.failure or "unreadable"))
                        continue
                    self._import_line(tx, line, prepared[at], outcome, last_pass, visible)
                self._record(tx, outcome, batch.position, retried, batch.lines)
        except _WrittenThenRefused as refused:
            if not alone:
                raise _BatchFailed() from None
            # rolled back: the refusal alone is recorded
            with self.store.transaction(self.ctx) as tx:
                failed = Outcome()
                failed.errors.append(self._error(batch.lines[0], str(refused)))
                self._record(tx, failed, batch.position, retried, batch.lines)

    def _import_line(
        self,
        tx: WriteTransaction,
        line: Line,
        prepared: Prepared,
        outcome: Outcome,
        last_pass: bool,
        visible: InnerFilter | None,
    ) -> None:
        resource = prepared.resource
        if resource is None:
            outcome.errors.append(self._error(line, prepared.error or "refused"))
            return
        try:
            changed = prepared.conditional and self._resolve(tx, resource, visible)
            changed = self._to_national(tx, resource, prepared) or changed
        except Deferred as reason:
            if last_pass:
                outcome.errors.append(self._error(line, str(reason)))
            else:
                outcome.pending.append(line)
            return
        except _Unresolvable as reason:
            outcome.errors.append(self._error(line, str(reason)))
            return
        request = FhirRequest(
            "PUT",
            f"{resource['resourceType']}/{resource['id']}",
            resource=resource,
            validated=prepared.validated,
            index_rows=None if changed else prepared.index,
            references_resolved=True,
        )
        before = tx.pending_versions
        try:
            self.service.handle_in(tx, request, self.spec.base)
        except FhirError as refused:
            why = "; ".join(issue.diagnostics for issue in refused.issues)[:1000]
            if tx.pending_versions != before:
                raise _WrittenThenRefused(why) from None  # the transaction holds the write: undo it
            outcome.errors.append(self._error(line, why))
            return
        outcome.written[line.input] = outcome.written.get(line.input, 0) + 1

    def _to_national(self, tx: WriteTransaction, resource: dict[str, Any], prepared: Prepared) -> bool:
        """One person, one passport, whoever sends: a Patient whose IIN the store already holds
        under another id is written linked to that record (``replaced-by``, inactive; its own id
        still answers), and references to it in what follows point at the national record.
        Whether the resource changed."""
        changed = False
        if resource["resourceType"] == "Patient":
            self.national[resource["id"]] = national = self._holder(tx, resource)
            if national is not None:
                resource["active"] = False
                resource["link"] = [
                    *(resource.get("link") or []),
                    {"other": {"reference": f"Patient/{national}"}, "type": "replaced-by"},
                ]
                changed = True
        patients = prepared.patients
        if patients is None:
            patients = frozenset(
                h["reference"].removeprefix("Patient/")
                for h in reference_holders(resource, [])
                if h["reference"].startswith("Patient/")
            )
        targets = {p: t for p in patients if p != resource["id"] and (t := self._linked(tx, p)) is not None}
        if targets:
            for holder in reference_holders(resource, []):
                target = targets.get(holder["reference"].removeprefix("Patient/"))
                if holder["reference"].startswith("Patient/") and target is not None:
                    holder["reference"] = f"Patient/{target}"
            changed = True
        return changed

    def _holder(self, tx: WriteTransaction, patient: dict[str, Any]) -> str | None:
        """The one other active record holding the Patient's IIN, if there is one."""
        if replaced_by(patient):
            return None
        try:
            found = self.iin.official_iin(patient)
        except FhirError:
            return None  # an invalid IIN: the write refuses it
        if found is None:
            return None
        runner = TransactionIndex(tx)
        ids = [
            i
            for i in find_ids(runner, "Patient", [("identifier", f"{self.iin.system}|{found[0]}")], 5)
            if i != patient["id"]
        ]
        holders = [i for i, content in runner.contents("Patient", ids).items() if not replaced_by(content)]
        return holders[0] if len(holders) == 1 else None

    def _linked(self, tx: WriteTransaction, patient_id: str) -> str | None:
        if patient_id not in self.national:
            if len(self.national) >= CACHE_SIZE:
                self.national.clear()
            stored = tx.current("Patient", patient_id)
            self.national[patient_id] = (
                replaced_by(orjson.loads(stored.content)) if stored is not None and stored.content else None
            )
        return self.national[patient_id]

    def _resolve(self, tx: WriteTransaction, resource: dict[str, Any], visible: InnerFilter | None) -> bool:
        """Replace conditional references by Type/id; whether there were any."""
        changed = False
        for holder in reference_holders(resource, []):
            reference = holder["reference"]
            if not is_conditional_reference(reference):
                continue
            found = self.references.get(reference)
            if found is None:
                resource_type, _, query = reference.partition("?")
                if not is_resource_type(resource_type):
                    raise _Unresolvable(
                        f"the conditional reference {reference[:200]!r} names no resource type"
                    )
                try:
                    ids = find_ids(tx, resource_type, parse_qsl(query, keep_blank_values=True), 2, visible)
                except SearchError as failure:
                    raise _Unresolvable(f"the conditional reference {reference[:200]!r}: {failure}") from None
                if len(ids) > 1:
                    raise _Unresolvable(
                        f"the conditional reference {reference[:200]!r} matches several resources"
                    )
                if not ids:
                    raise Deferred(f"the conditional reference {reference[:200]!r} matches no resource")
                found = f"{resource_type}/{ids[0]}"
                if len(self.references) >= CACHE_SIZE:
                    self.references.clear()
                self.references[reference] = found
            holder["reference"] = found
            changed = True
        return changed

    def _record(
        self,
        tx: WriteTransaction,
        outcome: Outcome,
        position: tuple[int, int] | None,
        retried: bool,
        batch: list[Line],
    ) -> None:
        connection = tx.connection
        cursor = self.cursor
        written = cursor["written"]
        for index, count in outcome.written.items():
            written[str(index)] = int(written.get(str(index), 0)) + count
        if retried:
            numbers = [line.number for line in batch]
            inputs = [line.input for line in batch]
            if numbers:
                connection.execute(
                    delete(bulk_pending).where(
                        bulk_pending.c.job_id == self.job.id,
                        bulk_pending.c.line.in_(numbers),
                        bulk_pending.c.input.in_(sorted(set(inputs))),
                    )
                )
            cursor["pending"] = int(cursor["pending"]) - len(batch)
        for line in outcome.pending:
            cursor["pending_number"] = int(cursor["pending_number"]) + 1
            connection.execute(
                insert(bulk_pending).values(
                    job_id=self.job.id,
                    number=cursor["pending_number"],
                    input=line.input,
                    line=line.number,
                    content=line.content,
                )
            )
        cursor["pending"] = int(cursor["pending"]) + len(outcome.pending)
        if position is not None:
            cursor["input"], cursor["line"] = position
        part: tuple[JobFile, int] | None = None
        data = b"".join(outcome.errors)
        if outcome.errors:
            cursor["errors"] = int(cursor["errors"]) + len(outcome.errors)
            part = (
                JobFile(ERROR_FILE, "error", "OperationOutcome", int(cursor["errors"])),
                int(cursor["error_part"]),
            )
            cursor["error_part"] = int(cursor["error_part"]) + 1
        processed = sum(int(v) for v in written.values())
        tx.flush_all()
        write_part_in(connection, self.job, self.lease, part, data, cursor, processed)

    def _error(self, line: Line, why: str) -> bytes:
        source = self.spec.inputs[line.input].url
        where = f"line {line.number} of {source}" if line.number else source
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "processing", "diagnostics": f"{where}: {why}"[:2000]}],
        }
        return orjson.dumps(outcome) + b"\n"


class _WrittenThenRefused(Exception):
    """A write the authorizer refused once it was made (whose record it is): its transaction must go."""


class _BatchFailed(Exception):
    """A write in the batch was refused after it was made: the batch is written again, one by one."""


class _Unresolvable(Exception):
    """A conditional reference that no later pass can resolve (several matches, a bad search)."""
