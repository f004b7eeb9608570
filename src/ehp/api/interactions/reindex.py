"""``$reindex``: put the custom SearchParameters into effect, in a background job.

``POST [base]/$reindex`` (every type a custom parameter applies or applied to; or the types named
by ``type``, comma-separated in the query or repeated in a ``Parameters`` body) or
``POST [base]/[type]/$reindex`` (that type only) starts a job and answers 202 Accepted with
``Content-Location: [base]/$reindex?job=ID``; one job runs at a time, so starting another meanwhile
is refused with 409 (its ``Content-Location`` names the running job). ``GET [base]/$reindex?job=ID``
(without ``job``: the newest job) gives its progress as a ``Parameters``: ``job``, ``status``
(queued, running, done, failed), ``type`` (one per type), ``parameter`` (the canonical URL of each
custom parameter in effect once done), ``total``, ``processed``, ``percent``, ``created``,
``started``, ``finished``, ``elapsedSeconds`` and ``error``. See :mod:`ehp.reindex.runner`.
"""

from __future__ import annotations

from typing import Any

from ehp.api.call import Call
from ehp.api.messages import FhirResponse
from ehp.errors import Category, bad_request, error, not_found
from ehp.fhir.definitions import is_resource_type
from ehp.fhir.primitives import is_whole_number
from ehp.reindex.jobs import Job, JobRunning, latest_job, read_job
from ehp.reindex.runner import start_job
from ehp.store.clock import now_micros, to_instant
from ehp.store.writes import WriteTransaction


def start_reindex(call: Call) -> FhirResponse:
    if isinstance(call.reader, WriteTransaction):
        raise error(
            Category.INVALID,
            "not-supported",
            "$reindex starts a background job; it cannot be part of a transaction",
        )
    limit = (call.resource_type,) if call.resource_type is not None else _types(call)
    try:
        job = start_job(call.service.store, limit)
    except JobRunning as running:
        refused = error(
            Category.CONFLICT, "conflict", f"{running}; wait until it is done (see Content-Location)"
        )
        refused.headers["Content-Location"] = _location(call, running.job_id)
        raise refused from None
    return FhirResponse(202, resource=_status(job), headers={"Content-Location": _location(call, job.id)})


def _types(call: Call) -> tuple[str, ...] | None:
    """The types of a system-level call: ``type`` in the query (comma-separated) or the body."""
    named = [part for name, value in call.request.query if name == "type" for part in value.split(",")]
    if call.request.body:
        body = call.body_resource("Parameters")
        for parameter in body.get("parameter") or ():
            if isinstance(parameter, dict) and parameter.get("name") == "type":
                named.append(parameter.get("valueCode") or parameter.get("valueString") or "")
    for name in named:
        if not is_resource_type(name):
            raise bad_request(f"type '{name}' is not a resource type", "type")
    return tuple(dict.fromkeys(named)) or None


def reindex_status(call: Call) -> FhirResponse:
    wanted = [value for name, value in call.request.query if name == "job"]
    with call.service.store.engine.connect() as connection:
        if not wanted:
            job = latest_job(connection)
            if job is None:
                raise not_found("no reindex job has been started")
        elif not is_whole_number(wanted[0]):
            raise bad_request(f"job '{wanted[0]}' is not a job number", "job")
        else:
            job = read_job(connection, int(wanted[0]))
            if job is None:
                raise not_found(f"there is no reindex job {wanted[0]}")
    return FhirResponse(200, resource=_status(job), headers={"Content-Location": _location(call, job.id)})


def _location(call: Call, job_id: int) -> str:
    return f"{call.base}/$reindex?job={job_id}"


def _status(job: Job) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"name": "job", "valueInteger": job.id},
        {"name": "status", "valueCode": job.status},
        *({"name": "type", "valueCode": name} for name in job.types),
        *(
            {"name": "parameter", "valueUri": entry["resource"].get("url", "")}
            for entry in job.parameters
            if entry["base"]
        ),
        {"name": "processed", "valueInteger": job.processed},
        {"name": "created", "valueInstant": to_instant(job.created)},
    ]
    if job.total is not None:
        parts.append({"name": "total", "valueInteger": job.total})
        percent = 100.0 if job.total == 0 else min(100.0, 100.0 * job.processed / job.total)
        parts.append({"name": "percent", "valueDecimal": round(percent, 1)})
    if job.started is not None:
        parts.append({"name": "started", "valueInstant": to_instant(job.started)})
        end = job.finished if job.finished is not None else now_micros()
        parts.append({"name": "elapsedSeconds", "valueDecimal": round((end - job.started) / 1e6, 3)})
    if job.finished is not None:
        parts.append({"name": "finished", "valueInstant": to_instant(job.finished)})
    if job.error is not None:
        parts.append({"name": "error", "valueString": job.error})
    return {"resourceType": "Parameters", "parameter": parts}
