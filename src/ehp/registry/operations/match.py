"""``Patient/$match``: the master patient index (FHIR R4 operation ``Patient-match``).

Input: ``resource`` (a Patient, possibly partial), ``onlyCertainMatches`` (default false),
``count`` (default and maximum in :class:`~ehp.registry.settings.MatchSettings`). Output: a
searchset Bundle of the matching Patients, best first, each with ``search.score`` and the
``match-grade`` extension (``certain``, ``probable``, ``possible``). With ``onlyCertainMatches``
only a single certain match is returned; several certain ones return nothing but a warning, as
the specification asks.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from ehp.api.call import Call
from ehp.api.interactions.operation_input import OperationInput
from ehp.api.messages import FhirResponse
from ehp.errors import Category, FhirError, not_found
from ehp.fhir.issues import Issue, issues_to_operation_outcome
from ehp.fhir.validation import validate_resource
from ehp.registry.mpi import MATCH_GRADE, Demographics, Match, find_matches
from ehp.registry.records import index_of
from ehp.registry.settings import registry_settings
from ehp.store.clock import now_micros, to_instant


def match(call: Call) -> FhirResponse:
    if call.type != "Patient":
        raise not_found(f"$match is an operation on Patient, not on {call.type}")
    settings = registry_settings()
    given = OperationInput(call)
    patient = given.resource("resource", "Patient")
    only_certain = given.boolean("onlyCertainMatches", False)
    count = given.integer("count", settings.match.default_count, settings.match.max_count)
    errors = [issue for issue in validate_resource(patient) if issue.is_error]
    if errors:
        raise FhirError(Category.UNPROCESSABLE, errors)
    query = Demographics.of(patient, settings.iin_system)
    if not query.searchable:
        raise given.failure("resource", "needs an IIN, or a name and a birth date, or family and given names")
    found = find_matches(
        index_of(call.store_reader, call.service.store.dialect),
        patient,
        settings.match,
        settings.iin_system,
        minimum="certain" if only_certain else "possible",
    )
    issues = []
    if only_certain and len(found) > 1:
        issues.append(
            Issue("warning", "multiple-matches", f"{len(found)} records match with certainty; none is given")
        )
        found = []
    return FhirResponse(200, resource=_bundle(call, found[:count], issues))


def _bundle(call: Call, found: list[Match], issues: list[Issue]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{call.base}/Patient/{item.id}",
            "resource": item.patient,
            "search": {
                "extension": [{"url": MATCH_GRADE, "valueCode": item.scored.grade}],
                "mode": "match",
                "score": round(item.scored.score, 4),
            },
        }
        for item in found
    ]
    if issues:
        entries.append({"resource": issues_to_operation_outcome(issues), "search": {"mode": "outcome"}})
    return {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "meta": {"lastUpdated": to_instant(now_micros())},
        "type": "searchset",
        "total": len(found),
        "entry": entries,
    }
