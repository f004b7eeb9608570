"""The HTTP face of Bulk Data export (FHIR Bulk Data Access 2.0, async pattern).

- Kick-off: ``GET|POST [base]/$export``, ``[base]/Patient/$export``, ``[base]/Group/{id}/$export``
  with ``Prefer: respond-async``; parameters ``_outputFormat`` (NDJSON), ``_type``, ``_since``,
  ``_typeFilter`` in the query or, for POST, a ``Parameters`` body (which may also name
  ``patient`` references at Patient and Group level). 202 Accepted with ``Content-Location``.
- Status: ``GET [base]/$export-poll-status?_jobId=ID``: 202 with ``X-Progress`` and
  ``Retry-After`` while it runs, 200 with the completion manifest, 500 with an OperationOutcome if it
  failed; ``DELETE`` cancels it (or deletes a finished one's files): 202.
- Files: ``GET [base]/$export-file?_jobId=ID&file=N``, ``application/fhir+ndjson``, streamed.

Only the caller who started a job sees its status and files (anyone else: 404); the job's data
were chosen by that caller's access decision when it ran.
"""

from __future__ import annotations

from typing import Any

from ehp.api.call import Call
from ehp.api.messages import FhirResponse
from ehp.bulk.export import (
    EXPORT,
    GROUP,
    NDJSON_FORMATS,
    PATIENT_LEVEL,
    SYSTEM,
    ExportForbidden,
    ExportRefused,
    ExportSpec,
    check_type_filters,
    check_types,
)
from ehp.bulk.importer import IMPORT, ImportRefused, ImportSpec, parse_kick_off
from ehp.bulk.jobs import (
    CANCELLED,
    DONE,
    FAILED,
    KEEP_SECONDS,
    Job,
    cancel,
    create_job,
    file_parts,
    job_files,
    read_job,
)
from ehp.bulk.worker import JOB_QUEUED
from ehp.errors import Category, bad_request, error, not_found
from ehp.fhir.jsonio import loads
from ehp.index.normalization import date_range
from ehp.registry.population import attached_patients, is_population_group, managing_organization
from ehp.store.clock import to_http_date, to_instant
from ehp.store.writes import WriteTransaction

NDJSON = "application/fhir+ndjson"
STATUS = "export-poll-status"
FILE = "export-file"
UNSUPPORTED = ("_elements", "includeAssociatedData", "organizeOutputBy", "_until")
RETRY_SECONDS = "2"


def kick_off(call: Call) -> FhirResponse:
    if isinstance(call.reader, WriteTransaction):
        raise bad_request("$export starts a background job; it cannot be part of a batch or transaction")
    prefer = (call.request.header("prefer") or "").lower()
    if "respond-async" not in prefer:
        raise bad_request("$export is asynchronous: send 'Prefer: respond-async'")
    params = _parameters(call)
    level = GROUP if call.resource_id is not None else PATIENT_LEVEL if call.resource_type else SYSTEM
    try:
        spec = _spec(call, level, params)
    except ExportForbidden as forbidden:
        raise error(Category.FORBIDDEN, "forbidden", str(forbidden), forbidden.parameter) from None
    except ExportRefused as refused:
        raise bad_request(str(refused), refused.parameter) from None
    request = f"{call.base}/{call.request.path}" + (
        "?" + "&".join(f"{k}={v}" for k, v in call.request.query) if call.request.query else ""
    )
    job = create_job(call.service.store.engine, EXPORT, call.ctx, request, spec.to_json())
    JOB_QUEUED.set()
    return FhirResponse(202, headers={"Content-Location": _status_url(call, job.id)})


def _parameters(call: Call) -> dict[str, list[Any]]:
    """Each parameter's values, from the query and (POST) a Parameters body."""
    found: dict[str, list[Any]] = {}
    for name, value in call.request.query:
        found.setdefault(name, []).append(value)
    if call.request.method == "POST" and call.request.body:
        body = call.body_resource("Parameters")
        for parameter in body.get("parameter") or ():
            if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
                raise bad_request("a Parameters entry without a name", "Parameters.parameter")
            values = [v for k, v in parameter.items() if k.startswith("value")]
            if len(values) != 1:
                raise bad_request(
                    f"parameter '{parameter['name']}' needs exactly one value", parameter["name"]
                )
            found.setdefault(parameter["name"], []).append(values[0])
    return found


def _spec(call: Call, level: str, params: dict[str, list[Any]]) -> ExportSpec:
    for name in UNSUPPORTED:
        if name in params:
            raise ExportRefused(name, f"{name} is not supported by this server")
    for value in params.get("_outputFormat", []):
        if str(value).lower() not in NDJSON_FORMATS:
            raise ExportRefused(
                "_outputFormat", f"_outputFormat '{str(value)[:60]}' is not supported: use {NDJSON}"
            )
    named = [
        part.strip() for value in params.get("_type", []) for part in str(value).split(",") if part.strip()
    ]
    types = check_types(level, named, call.ctx.scopes)
    since = None
    for value in params.get("_since", [])[:1]:
        try:
            since = date_range(str(value))[0]
        except ValueError:
            raise ExportRefused("_since", f"_since must be a FHIR instant, not '{str(value)[:40]}'") from None
    filters = check_type_filters(call.service.store, [str(v) for v in params.get("_typeFilter", [])])
    if types is not None and set(filters) - set(types):
        raise ExportRefused("_typeFilter", "a _typeFilter names a type that _type leaves out")
    patients = _patients(params.get("patient", []), level)
    group = None
    if level == GROUP:
        group = call.id
        members = _members(call)
        patients = members if patients is None else tuple(p for p in patients if p in set(members))
    return ExportSpec(level, types, since, filters, patients, group)


def _patients(values: list[Any], level: str) -> tuple[str, ...] | None:
    if not values:
        return None
    if level == SYSTEM:
        raise ExportRefused("patient", "patient is a parameter of Patient- and Group-level exports")
    found = []
    for value in values:
        reference = value.get("reference") if isinstance(value, dict) else None
        if not isinstance(reference, str) or not reference.startswith("Patient/"):
            raise ExportRefused("patient", "patient must be a Reference to Patient/ID")
        found.append(reference.removeprefix("Patient/"))
    return tuple(dict.fromkeys(found))


def _members(call: Call) -> tuple[str, ...]:
    stored = call.store_reader.read("Group", call.id)
    if stored is None or stored.content is None:
        raise not_found(f"Group/{call.id} is not known")
    group = loads(stored.content)
    if is_population_group(group):
        organization = managing_organization(group)
        return tuple(attached_patients(call.store_reader, organization)) if organization else ()
    members = []
    for member in group.get("member") or ():
        reference = (member.get("entity") or {}).get("reference", "") if isinstance(member, dict) else ""
        if isinstance(reference, str) and reference.startswith("Patient/") and not member.get("inactive"):
            members.append(reference.removeprefix("Patient/"))
    return tuple(dict.fromkeys(members))


def _status_url(call: Call, job_id: str) -> str:
    return f"{call.base}/${STATUS}?_jobId={job_id}"


def _own_job(call: Call, kind: str = EXPORT) -> Job:
    job_id = call.request.param("_jobId") or ""
    job = read_job(call.service.store.engine, job_id) if job_id.isalnum() and len(job_id) <= 36 else None
    if job is None or job.kind != kind or job.actor != call.ctx.actor:
        raise not_found(f"there is no {kind} job '{job_id[:40]}' of yours")
    return job


def _pending(job: Job) -> FhirResponse | None:
    """The answer while a job is not done (404 cancelled, 500 failed, 202 running), or None."""
    if job.status == CANCELLED:
        raise not_found(f"{job.kind} job {job.id} was cancelled")
    if job.status == FAILED:
        raise error(Category.INTERNAL, "exception", f"the {job.kind} failed: {job.error or 'unknown error'}")
    if job.status == DONE:
        return None
    current = job.cursor.get("type")
    done = "exported" if job.kind == EXPORT else "imported"
    progress = f"{job.processed} resources {done}" + (f"; now {current}" if current else "")
    return FhirResponse(202, headers={"X-Progress": progress[:100], "Retry-After": RETRY_SECONDS})


def status(call: Call) -> FhirResponse:
    job = _own_job(call)
    running = _pending(job)
    if running is not None:
        return running
    files = job_files(call.service.store.engine, job.id)
    manifest = {
        "transactionTime": to_instant(job.transaction_time),
        "request": job.request,
        "requiresAccessToken": call.access is not None,
        "output": [
            {
                "type": f.resource_type,
                "url": f"{call.base}/${FILE}?_jobId={job.id}&file={f.number}",
                "count": f.count,
            }
            for f in files
            if f.kind == "output"
        ],
        "error": [],
    }
    expires = to_http_date((job.finished or job.created) + KEEP_SECONDS * 1_000_000)
    return FhirResponse(200, resource=manifest, headers={"Expires": expires})


def delete(call: Call, kind: str = EXPORT) -> FhirResponse:
    job = _own_job(call, kind)
    if job.status == CANCELLED or not cancel(call.service.store.engine, job.id):
        raise not_found(f"{kind} job {job.id} was already cancelled")
    return FhirResponse(202)


def download(call: Call, kind: str = EXPORT) -> FhirResponse:
    job = _own_job(call, kind)
    number = call.request.param("file") or ""
    if job.status != DONE:
        raise not_found(f"{kind} job {job.id} has no files yet")
    if not number.isdigit():
        raise bad_request("file must be the number of one of the job's files", "file")
    files = {f.number: f for f in job_files(call.service.store.engine, job.id)}
    if int(number) not in files:
        raise not_found(f"export job {job.id} has no file {number}")
    return FhirResponse(
        200, stream=file_parts(call.service.store.engine, job.id, int(number)), media_type=NDJSON
    )


IMPORT_STATUS = "import-poll-status"
IMPORT_FILE = "import-file"


def import_kick_off(call: Call) -> FhirResponse:
    """``POST [base]/$import`` (``Prefer: respond-async``, a Parameters body): 202 and its status URL."""
    if isinstance(call.reader, WriteTransaction):
        raise bad_request("$import starts a background job; it cannot be part of a batch or transaction")
    if "respond-async" not in (call.request.header("prefer") or "").lower():
        raise bad_request("$import is asynchronous: send 'Prefer: respond-async'")
    try:
        spec = parse_kick_off(call.body_resource("Parameters"), call.base)
    except ImportRefused as refused:
        raise bad_request(str(refused), refused.parameter) from None
    job = create_job(call.service.store.engine, IMPORT, call.ctx, f"{call.base}/$import", spec.to_json())
    JOB_QUEUED.set()
    return FhirResponse(202, headers={"Content-Location": f"{call.base}/${IMPORT_STATUS}?_jobId={job.id}"})


def import_status(call: Call) -> FhirResponse:
    job = _own_job(call, IMPORT)
    running = _pending(job)
    if running is not None:
        return running
    spec = ImportSpec.from_json(job.parameters)
    written = {int(key): int(value) for key, value in (job.cursor.get("written") or {}).items()}
    errors = [f for f in job_files(call.service.store.engine, job.id) if f.kind == "error"]
    manifest = {
        "transactionTime": to_instant(job.transaction_time),
        "request": job.request,
        "requiresAccessToken": call.access is not None,
        "output": [
            {"type": item.type, "inputUrl": item.url, "count": written.get(index, 0)}
            for index, item in enumerate(spec.inputs)
        ],
        "error": [
            {
                "type": "OperationOutcome",
                "url": f"{call.base}/${IMPORT_FILE}?_jobId={job.id}&file={f.number}",
                "count": f.count,
            }
            for f in errors
        ],
    }
    expires = to_http_date((job.finished or job.created) + KEEP_SECONDS * 1_000_000)
    return FhirResponse(200, resource=manifest, headers={"Expires": expires})


def import_delete(call: Call) -> FhirResponse:
    return delete(call, IMPORT)


def import_download(call: Call) -> FhirResponse:
    return download(call, IMPORT)
