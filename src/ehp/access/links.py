"""Which patients a resource belongs to, on content and in SQL.

A resource belongs to the patients its Patient-compartment parameters refer to (an Observation's
``subject``/``performer``, a Consent's ``patient``...), and a resource of a type outside the
compartment to the patients any of its reference parameters that can point to a Patient refers
to (a Task's ``for``/``patient``, a Group's ``member``, an Account's ``subject``...): every
resource that references a patient is part of that patient's record. A Patient belongs to
itself. Resources with no such parameter (Organization, Practitioner, Location...) belong to
nobody: they are the public directory. Content is read with the search engine's compiled
extractors, so a read and a search agree on what belongs to whom.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from functools import cache, lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    any_,
    bindparam,
    exists,
    false,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from ehp.access.schema import access_grants
from ehp.fhir.definitions import resource_types
from ehp.index.compiled import compiled_for
from ehp.index.extract import IndexRows, add_values
from ehp.index.fhirpath_compile import Extractor
from ehp.index.parameters import parameters_for
from ehp.search.compartments import OWNER, members
from ehp.store.params import SearchParamRegistry
from ehp.store.schema import idx_reference

PATIENT = "Patient"


@cache
def patient_parameters() -> dict[str, tuple[str, ...]]:
    """Per resource type, the reference parameters that tie it to a patient: its Patient
    compartment parameters, or, outside the compartment, every reference parameter that can
    target a Patient."""
    compartment = members(PATIENT)
    found: dict[str, tuple[str, ...]] = {}
    for resource_type in resource_types():
        if resource_type == PATIENT:
            continue
        definitions = parameters_for(resource_type)
        if resource_type in compartment:
            codes = [c for c in compartment[resource_type] if c != OWNER]
        else:
            codes = [c for c, d in definitions.items() if d.type == "reference" and PATIENT in d.target]
        kept = tuple(
            sorted(c for c in codes if (d := definitions.get(c)) is not None and d.type == "reference")
        )
        if kept:
            found[resource_type] = kept
    return found


@cache
def member_types() -> frozenset[str]:
    """Resource types that hold a patient's data."""
    return frozenset(patient_parameters()) | {PATIENT}


@cache
def _extractors(resource_type: str) -> tuple[tuple[str, Extractor], ...]:
    codes = set(patient_parameters().get(resource_type, ()))
    return tuple(
        (entry.parameter.code, entry.extract)
        for entry in compiled_for(resource_type)
        if entry.parameter.code in codes
    )


def patients_of(resource: dict[str, Any]) -> frozenset[str]:
    """The ids of the patients a resource belongs to (empty for directory resources)."""
    resource_type = resource.get("resourceType")
    if resource_type == PATIENT:
        return frozenset({str(resource.get("id", ""))})
    if not isinstance(resource_type, str) or resource_type not in member_types():
        return frozenset()
    rows = IndexRows()
    for code, extract in _extractors(resource_type):
        add_values(rows, "reference", code, extract(resource))
    return frozenset(target_id for _, kind, target_id, _ in rows.references if kind == PATIENT and target_id)


def compartment_pids(params: SearchParamRegistry, types: Collection[str] | None = None) -> tuple[int, ...]:
    """The pids of every parameter linking a resource (of ``types``, default all) to its patient."""
    return _compartment_pids(params, frozenset(types) if types is not None else None)


@lru_cache(maxsize=256)
def _compartment_pids(params: SearchParamRegistry, types: frozenset[str] | None) -> tuple[int, ...]:
    pids = []
    for resource_type, codes in patient_parameters().items():
        if types is not None and resource_type not in types:
            continue
        for code in codes:
            pid = params.find(resource_type, code)
            if pid is not None:
                pids.append(pid)
    return tuple(sorted(pids))


def in_ids(target: ColumnElement[Any], ids: Collection[str], dialect: str) -> ColumnElement[bool]:
    """``target`` is one of ``ids``, as one bound parameter whatever the number of ids.

    An array on PostgreSQL (``= ANY``); a JSON array read by ``json_each`` on SQLite. Either way the
    statement's text, and so its plan cache entry, does not depend on how many patients there are.
    """
    if not ids:
        return false()
    values = sorted(ids)
    if dialect == "postgresql":
        return target == any_(bindparam(None, values, type_=ARRAY(String)))
    listed = func.json_each(bindparam(None, json.dumps(values))).table_valued("value")
    return target.in_(select(listed.c.value))


def linked_to(rid: ColumnElement[Any], pids: tuple[int, ...], patient: str) -> ColumnElement[bool]:
    """The resource ``rid`` refers, through a compartment parameter, to ``Patient/patient``."""
    ref = idx_reference.alias("patient_link")
    return exists().where(
        ref.c.rid == rid, ref.c.pid.in_(pids), ref.c.target_type == PATIENT, ref.c.target_id == patient
    )


def content_patients(content: bytes) -> frozenset[str]:
    """:func:`patients_of` stored JSON (without decimal care: only references are read)."""
    if b"Patient" not in content:
        return frozenset()
    return patients_of(orjson.loads(content))


def visible_clause(
    rid: ColumnElement[Any],
    resource_type: ColumnElement[Any],
    resource_id: ColumnElement[Any],
    *,
    subject: str,
    types: Collection[str] | None,
    params: SearchParamRegistry,
    restricted: dict[str, frozenset[str]],
    hidden: Collection[int],
) -> ColumnElement[bool] | None:
    """Rows the caller may see: directory resources, and patient data whose every patient is allowed.

    The allowed patients are the caller's rows of ``access_grants``; ``restricted`` patients are
    open only for some resource types (a Consent's data classes); ``hidden`` rids are records the
    citizens closed. ``types`` (the searched types, ``None`` for all) keeps the condition to
    what can match: ``None`` is returned when none of them holds patient data.
    """
    searched = member_types() if types is None else member_types() & set(types)
    if not searched:
        return None
    pids = compartment_pids(params, searched)
    ref = idx_reference.alias("patient_link")
    grant = access_grants.alias("grant")
    foreign = exists().where(
        ref.c.rid == rid,
        ref.c.pid.in_(pids),
        ref.c.target_type == PATIENT,
        ~exists().where(grant.c.subject == subject, grant.c.patient == ref.c.target_id),
    )
    patient_grant = access_grants.alias("patient_grant")
    own = exists().where(patient_grant.c.subject == subject, patient_grant.c.patient == resource_id)
    branches: list[ColumnElement[bool]] = []
    if types is None or set(types) - member_types():
        branches.append(not_(resource_type.in_(sorted(member_types()))))
    if PATIENT in searched:
        branches.append(and_(resource_type == PATIENT, own))
    if searched - {PATIENT}:
        branches.append(
            and_(resource_type != PATIENT, not_(foreign)) if PATIENT in searched else not_(foreign)
        )
    conditions: list[ColumnElement[bool]] = [or_(*branches) if len(branches) > 1 else branches[0]]
    if hidden:
        conditions.append(not_(rid.in_(sorted(hidden))))
    for patient, allowed_types in sorted(restricted.items()):
        conditions.append(
            or_(resource_type.in_(sorted(allowed_types | {PATIENT})), not_(linked_to(rid, pids, patient)))
        )
    return and_(*conditions)
