"""A patient's whole record read once and parsed: what the summary and the passport page are made from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ehp.passport.everything import RecordQuery, read_record
from ehp.search.query import QueryRunner, Scope

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PatientRecord:
    patient: Json
    resources: list[Json]
    """The Patient, its compartment and the resources they refer to, in the order they were stored."""
    by_reference: dict[str, Json]
    """``Type/id`` → resource."""

    def members(self) -> list[Json]:
        """The resources about the patient (the compartment), without the Patient itself."""
        return [r for r in self.resources if r is not self.patient and _about(r, self.patient["id"])]


def _about(resource: Json, patient_id: str) -> bool:
    reference = f"Patient/{patient_id}"
    return any(
        isinstance(resource.get(key), dict) and resource[key].get("reference") == reference
        for key in ("subject", "patient", "beneficiary")
    )


def load_record(runner: QueryRunner, scope: Scope, patient: Json) -> PatientRecord:
    rows = read_record(runner, scope, RecordQuery(str(patient["id"])))
    resources = [
        patient if row.resource_type == "Patient" and row.id == patient["id"] else orjson.loads(row.content)
        for row in rows
    ]
    return PatientRecord(patient, resources, {f"{r['resourceType']}/{r['id']}": r for r in resources})
