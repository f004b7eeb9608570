"""The Patient an operation on a patient's record (``$everything``, ``$summary``) is about, read
through :func:`ehp.passport.record.read_patient` (where a per-request access decision belongs)."""

from __future__ import annotations

from typing import Any

import orjson

from ehp.api.call import Call
from ehp.errors import gone, not_found
from ehp.passport.record import read_patient


def record_patient(call: Call, operation: str) -> dict[str, Any]:
    """The current Patient resource of the call (404 for another type or an unknown id, 410 deleted)."""
    if call.type != "Patient":
        raise not_found(f"${operation} is an operation on Patient, not on {call.type}")
    stored = read_patient(call.store_reader, call.id)
    if stored is None:
        raise not_found(f"Patient/{call.id} is not known")
    if stored.content is None:
        raise gone(f"Patient/{call.id} was deleted")
    patient: dict[str, Any] = orjson.loads(stored.content)
    return patient
