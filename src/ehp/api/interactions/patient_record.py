"""The Patient an operation on a patient's record (``$everything``, ``$summary``) is about.

This is where a per-request decision on which patients the caller may see belongs: every
operation on a whole record starts here, before any of the record is read.
"""

from __future__ import annotations

from typing import Any

import orjson

from ehp.api.call import Call
from ehp.api.errors import gone, not_found


def record_patient(call: Call, operation: str) -> dict[str, Any]:
    """The current Patient resource of the call (404 for another type or an unknown id, 410 deleted)."""
    if call.type != "Patient":
        raise not_found(f"${operation} is an operation on Patient, not on {call.type}")
    stored = call.store_reader.read("Patient", call.id)
    if stored is None:
        raise not_found(f"Patient/{call.id} is not known")
    if stored.content is None:
        raise gone(f"Patient/{call.id} was deleted")
    patient: dict[str, Any] = orjson.loads(stored.content)
    return patient
