"""``Patient/$merge``: merge a duplicate record (``source-patient``) into the one kept (``target-patient``).

Input: ``source-patient`` and ``target-patient`` (references), ``preview`` (default false). The
answer is a Parameters with ``outcome`` (an OperationOutcome), ``result`` (the target Patient as
it is, or would be, afterwards), ``source`` (the retired source), one ``updated`` reference per
other resource rewritten, and ``provenance`` (the Provenance recording the merge, unless a
preview). A preview runs every check and computes every change, and writes nothing. See
:mod:`ehp.registry.merge` for what a merge does.
"""

from __future__ import annotations

from typing import Any

from ehp.api.call import Call
from ehp.api.interactions.operation_input import OperationInput
from ehp.api.messages import FhirResponse
from ehp.errors import not_found
from ehp.fhir.issues import Issue, issues_to_operation_outcome
from ehp.registry.iin_rule import IinRule
from ehp.registry.merge import apply_merge, plan_merge
from ehp.registry.settings import registry_settings


def merge(call: Call) -> FhirResponse:
    if call.type != "Patient":
        raise not_found(f"$merge is an operation on Patient, not on {call.type}")
    given = OperationInput(call)
    source = given.reference("source-patient", "Patient")
    target = given.reference("target-patient", "Patient")
    assert source is not None and target is not None
    preview = given.boolean("preview", False)
    plan = plan_merge(call.write_tx, source, target, IinRule(registry_settings().iin_system), call.base)
    if not preview:
        apply_merge(call.write_tx, plan, call.service.rules, call.ctx)
    count = len(plan.updates)
    verb = "would merge" if preview else "merged"
    message = (
        f"{verb} Patient/{source} into Patient/{target}; {count} other resource(s) refer to the target now"
    )
    parameters: list[dict[str, Any]] = [
        {
            "name": "outcome",
            "resource": issues_to_operation_outcome([Issue("information", "informational", message)]),
        },
        {"name": "result", "resource": plan.target},
        {"name": "source", "resource": plan.source},
    ]
    parameters += [
        {"name": "updated", "valueReference": {"reference": f"{update['resourceType']}/{update['id']}"}}
        for update in plan.updates
    ]
    if plan.provenance is not None:
        parameters.append(
            {"name": "provenance", "valueReference": {"reference": f"Provenance/{plan.provenance['id']}"}}
        )
    return FhirResponse(200, resource={"resourceType": "Parameters", "parameter": parameters})
