"""A patient's whole record read once and parsed: what the summary and the passport page are made from."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement

from ehp.passport.everything import RecordQuery, read_record
from ehp.search.query import QueryRunner, Scope
from ehp.store.store import StoreReader
from ehp.store.versions import StoredVersion
from ehp.store.writes import WriteTransaction

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PatientRecord:
    patient: Json
    resources: list[Json]
    """The Patient, its compartment and the resources they refer to, in the order they were stored."""
    by_reference: dict[str, Json]
    """``Type/id`` → resource."""


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_patient(reader: StoreReader | WriteTransaction, patient_id: str) -> StoredVersion | None:
    """The stored Patient a record operation or the passport page opens (None: never existed).

    Every way into a whole record (``$everything``, ``$summary``, the passport page) starts here;
    with authentication on, the caller's access to the patient is decided before (the operations
    by :mod:`ehp.api.authorize`, the page by :meth:`ehp.passport.web.PassportPages._view`) and the
    record is then read through the caller's access filter.
    """
    return reader.read("Patient", patient_id)


def load_record(
    runner: QueryRunner,
    scope: Scope,
    patient: Json,
    only: tuple[str, ...] | None = None,
    visible: ColumnElement[bool] | None = None,
) -> PatientRecord:
    """The patient's record (just the members of the ``only`` types, and what they refer to, when given),
    as far as the caller's access filter ``visible`` lets them see it.

    The cyclic garbage collector is paused while the record is parsed: thousands of new dicts would
    set off collections that walk every one of them again, a third of the parsing time.
    """
    rows = read_record(runner, scope, RecordQuery(str(patient["id"]), visible=visible), only)
    with collector_paused():
        resources = [
            patient
            if row.resource_type == "Patient" and row.id == patient["id"]
            else orjson.loads(row.content)
            for row in rows
        ]
    return PatientRecord(patient, resources, {f"{r['resourceType']}/{r['id']}": r for r in resources})
