"""What citizens and privacy officers read: the access log and the break-the-glass review queue.

- ``GET /fhir/AuditEvent?patient=Patient/ID[&_count=N]`` (with authentication on): a searchset
  Bundle of the AuditEvents about that patient from the hash-chained audit store, newest first.
  Only the citizen, their representatives and administrators may ask (403 for anyone else).
- ``GET /fhir/Patient/ID/$access-log[?_count=N]``: the same records as a ``collection`` Bundle of
  AuditEvents each carrying a one-line human-readable narrative (``text.div``), e.g. "2026-11-27
  07:40 Practitioner/7 read Observation/9 (emergency access: unconscious)".
- ``GET /fhir/Organization/ID/$break-glass-review[?_count=N]``: every break-the-glass opened by
  someone working for that organisation, newest first, as AuditEvents (who, patient, reason,
  until when). For the organisation's privacy officers (an active PractitionerRole there with the
  code ``privacy-officer``), the organisation's own system, and administrators.
"""

from __future__ import annotations

from html import escape
from typing import Any
from uuid import uuid4

from sqlalchemy import select

from ehp.access.authority import check_log_reader
from ehp.access.events import BREAK_GLASS, PURPOSE, audit_records
from ehp.access.schema import break_glass
from ehp.api.call import Call
from ehp.api.messages import FhirResponse
from ehp.context import RequestContext
from ehp.errors import Category, bad_request, error, not_found
from ehp.fhir.jsonio import loads
from ehp.fhir.primitives import is_whole_number
from ehp.security.audit import patient_log
from ehp.store.clock import now_micros, to_instant

DEFAULT_COUNT = 100
MAX_COUNT = 1000


def audit_search(call: Call) -> FhirResponse:
    """``AuditEvent?patient=...`` from the audit store (see the module doc)."""
    values = [value for name, value in call.request.query if name in ("patient", "entity")]
    if len(values) != 1 or not values[0].removeprefix("Patient/"):
        raise bad_request("AuditEvent search takes exactly one patient=Patient/ID", "patient")
    patient = values[0].removeprefix("Patient/")
    events = _events(call, patient)
    return FhirResponse(200, resource=_bundle("searchset", call, events))


def access_log(call: Call) -> FhirResponse:
    """``Patient/ID/$access-log``: the patient's AuditEvents with a readable narrative each."""
    if call.type != "Patient":
        raise not_found("$access-log is an operation on Patient")
    events = _events(call, call.id)
    for event in events:
        event["text"] = {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{escape(_line(event))}</div>',
        }
    return FhirResponse(200, resource=_bundle("collection", call, events))


def break_glass_review(call: Call) -> FhirResponse:
    """``Organization/ID/$break-glass-review``: the organisation's emergency accesses to review."""
    if call.type != "Organization":
        raise not_found("$break-glass-review is an operation on Organization")
    organization = call.id
    access = call.access
    if access is not None and not (
        access.grant.everything
        or organization in access.grant.privacy_officer_of
        or call.ctx.actor == f"Organization/{organization}"
    ):
        raise error(
            Category.FORBIDDEN,
            "forbidden",
            "only the organisation's privacy officers may review its break-the-glass",
        )
    with call.service.store.engine.connect() as connection:
        rows = connection.execute(
            select(break_glass).order_by(break_glass.c.opened.desc()).limit(MAX_COUNT * 10)
        ).all()
    events = []
    for row in rows:
        if organization not in row.organizations.split():
            continue
        ctx = RequestContext(actor=row.actor, purpose="ETREAT")
        event = audit_records(
            ctx,
            subtype="break-glass",
            action="E",
            outcome="success",
            patients=[row.patient],
            what=None,
            purpose="ETREAT",
            on_behalf_of=[f"Organization/{organization}"],
            emergency_reason=row.reason,
        )[0].event
        event["recorded"] = to_instant(row.opened)
        event["period"] = {"start": to_instant(row.opened), "end": to_instant(row.expires)}
        events.append(event)
        if len(events) >= _count(call):
            break
    return FhirResponse(200, resource=_bundle("collection", call, events))


def _count(call: Call) -> int:
    raw = call.request.param("_count")
    if raw is None:
        return DEFAULT_COUNT
    if not is_whole_number(raw):
        raise bad_request(f"_count must be a whole number, not '{raw}'", "_count")
    return min(int(raw), MAX_COUNT)


def _events(call: Call, patient: str) -> list[dict[str, Any]]:
    access = call.access
    if access is not None:
        check_log_reader(access.grant, patient)
        access.touched.add(patient)  # reading the log is an access to it, recorded there too
        access.policy.audit.flush()
    return [loads(content) for content in patient_log(call.service.store.engine, patient, _count(call))]


def _bundle(kind: str, call: Call, events: list[dict[str, Any]]) -> dict[str, Any]:
    entries = [{"fullUrl": f"{call.base}/AuditEvent/{event['id']}", "resource": event} for event in events]
    if kind == "searchset":
        for entry in entries:
            entry["search"] = {"mode": "match"}
    return {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "meta": {"lastUpdated": to_instant(now_micros())},
        "type": kind,
        "entry": entries,
    }


def _line(event: dict[str, Any]) -> str:
    """One readable line: when, who, what they did to what, and an emergency's reason."""
    agent = (event.get("agent") or [{}])[0].get("who", {})
    who = agent.get("reference") or agent.get("display") or "someone"
    subtype = (event.get("subtype") or [{}])[0].get("code", "access")
    what = next(
        (
            entity["what"]["reference"]
            for entity in event.get("entity", [])
            if entity.get("role", {}).get("code") == "4" and "what" in entity
        ),
        "",
    )
    outcome = "" if event.get("outcome") == "0" else " (refused)"
    line = f"{str(event.get('recorded', ''))[:16].replace('T', ' ')} {who} {subtype} {what}{outcome}".rstrip()
    emergency = any(item.get("system") == BREAK_GLASS for item in event.get("subtype", []))
    purposes = {
        c.get("code")
        for p in event.get("purposeOfEvent", [])
        for c in p.get("coding", [])
        if c.get("system") == PURPOSE
    }
    if emergency or "ETREAT" in purposes:
        reason = next(
            (e.get("description") for e in event.get("entity", []) if e.get("role", {}).get("code") == "13"),
            None,
        )
        line += f" [EMERGENCY ACCESS{': ' + reason if reason else ''}]"
    return line
