"""``GET Patient/{id}/$summary``: the patient's International Patient Summary document
(see :mod:`ehp.passport.ips`). It takes no parameters but ``_format`` and ``_pretty``."""

from __future__ import annotations

from ehp.api.call import Call
from ehp.api.messages import FhirResponse
from ehp.errors import bad_request
from ehp.passport.ips import document
from ehp.passport.operations.patient_record import record_patient
from ehp.passport.record import load_record
from ehp.passport.summary import SUMMARY_TYPES, summarize
from ehp.search.query import Scope
from ehp.security.permissions import readable_types
from ehp.store.clock import now_micros, to_instant

IGNORED = ("_format", "_pretty")


def summary(call: Call) -> FhirResponse:
    for name, _ in call.request.query:
        if name not in IGNORED:
            raise bad_request(f"$summary takes no parameter '{name}'", name)
    types = readable_types(call.ctx, SUMMARY_TYPES) or ()
    patient = record_patient(call, "summary")
    reader = call.store_reader
    visible = call.access.search_filter() if call.access else None
    record = load_record(reader, Scope(reader.params, call.base), patient, types, visible)
    bundle = document(
        patient, summarize(record.resources), record.by_reference, call.base, to_instant(now_micros())
    )
    return FhirResponse(200, resource=bundle)
