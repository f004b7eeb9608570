"""``Organization/{id}/$duplicates``: probable duplicate records among its attached people.

On a region's department it covers every organisation ``partOf`` it. Input: ``grade`` (the lowest
grade reported: ``probable`` by default, or ``possible``, ``certain``) and ``count`` (at most this
many pairs, default 100, at most 1000). Output: a Parameters with ``checked`` (records examined)
and one ``pair`` per duplicate pair (parts ``patient``, ``duplicate``, ``score``, ``grade``), best
first. See :mod:`ehp.registry.duplicates`.
"""

from __future__ import annotations

from typing import Any

from ehp.api.call import Call
from ehp.api.interactions.operation_input import OperationInput
from ehp.api.messages import FhirResponse
from ehp.errors import not_found
from ehp.registry.coverage import members
from ehp.registry.duplicates import duplicate_pairs
from ehp.registry.mpi import Grade
from ehp.registry.records import index_of
from ehp.registry.settings import registry_settings

GRADES: dict[str, Grade] = {"certain": "certain", "probable": "probable", "possible": "possible"}


def duplicates(call: Call) -> FhirResponse:
    if call.type != "Organization":
        raise not_found(f"$duplicates is an operation on Organization, not on {call.type}")
    index = index_of(call.store_reader, call.service.store.dialect)
    if call.id not in index.contents("Organization", [call.id]):
        raise not_found(f"Organization/{call.id} is not known")
    given = OperationInput(call)
    minimum = GRADES[given.code("grade", tuple(GRADES), default="probable")]
    limit = given.integer("count", 100, 1000)
    settings = registry_settings()
    pairs, checked = duplicate_pairs(
        index, members(index, call.id), settings.match, settings.iin_system, minimum, limit
    )
    parameters: list[dict[str, Any]] = [{"name": "checked", "valueInteger": checked}]
    for pair in pairs:
        parts = [
            {"name": "patient", "valueReference": {"reference": f"Patient/{pair.patient}"}},
            {"name": "duplicate", "valueReference": {"reference": f"Patient/{pair.duplicate}"}},
            {"name": "score", "valueDecimal": round(pair.score, 4)},
            {"name": "grade", "valueCode": pair.grade},
        ]
        parameters.append({"name": "pair", "part": parts})
    return FhirResponse(200, resource={"resourceType": "Parameters", "parameter": parameters})
