"""``$coverage``: attached people, people with a passport and records written on a day.

``GET [base]/$coverage`` gives every organisation with attached people, by region, and the
national total; ``GET Organization/{id}/$coverage`` gives one organisation, or a region (its
department) with each of its organisations. ``date`` (default today, UTC) is the day whose
written records are counted. The answer is a Parameters: ``date``, ``total``, one ``region`` and
one ``organization`` per unit, each with the parts ``organization`` (a reference), ``attached``,
``withPassport`` and ``recordsUpdated`` (and ``region`` for an organisation). See
:mod:`ehp.registry.coverage` for how it is counted.
"""

from __future__ import annotations

from typing import Any

from ehp.api.call import Call
from ehp.api.interactions.operation_input import OperationInput
from ehp.api.messages import FhirResponse
from ehp.errors import not_found
from ehp.registry.attach import today
from ehp.registry.coverage import Coverage, Figures, coverage, members
from ehp.registry.records import index_of


def coverage_system(call: Call) -> FhirResponse:
    day = OperationInput(call).day("date", today())
    return FhirResponse(
        200, resource=_parameters(coverage(index_of(call.store_reader, call.service.store.dialect), day))
    )


def coverage_instance(call: Call) -> FhirResponse:
    if call.type != "Organization":
        raise not_found(f"$coverage is an operation on Organization or the whole server, not on {call.type}")
    index = index_of(call.store_reader, call.service.store.dialect)
    if call.id not in index.contents("Organization", [call.id]):
        raise not_found(f"Organization/{call.id} is not known")
    day = OperationInput(call).day("date", today())
    units = members(index, call.id)
    return FhirResponse(200, resource=_parameters(coverage(index, day, units[1:] or units)))


def _parameters(result: Coverage) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": "date", "valueDate": result.day.isoformat()},
        {"name": "total", "part": _figures(result.total)},
    ]
    for region, figures in sorted(result.regions.items()):
        parameters.append({"name": "region", "part": [_reference(result, region), *_figures(figures)]})
    for org, figures in sorted(result.organizations.items()):
        parts = [_reference(result, org)]
        region_id = result.region_of.get(org)
        if region_id is not None:
            parts.append(_reference(result, region_id, "region"))
        parameters.append({"name": "organization", "part": [*parts, *_figures(figures)]})
    return {"resourceType": "Parameters", "parameter": parameters}


def _reference(result: Coverage, org: str, name: str = "organization") -> dict[str, Any]:
    reference: dict[str, Any] = {"reference": f"Organization/{org}"}
    if org in result.names:
        reference["display"] = result.names[org]
    return {"name": name, "valueReference": reference}


def _figures(figures: Figures) -> list[dict[str, Any]]:
    return [
        {"name": "attached", "valueInteger": figures.attached},
        {"name": "withPassport", "valueInteger": figures.with_passport},
        {"name": "recordsUpdated", "valueInteger": figures.records_updated},
    ]
