"""Compartments (``GET /fhir/Patient/123/Observation``), from the official CompartmentDefinitions.

The table ``definitions/compartments.json.gz`` is written by ``scripts/derive_compartments.py``.
A resource is in the compartment of ``Patient/123`` when one of the parameters the definition
lists for its type refers to ``Patient/123``; ``{def}`` stands for the owner itself (a
Practitioner is in its own compartment; the Patient definition lists ``link`` instead).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.sql.selectable import NamedFromClause

from ehp.index.parameters import parameters_for
from ehp.search.clauses import reference_condition
from ehp.search.query import Scope
from ehp.search.sql import pid_in
from ehp.store.schema import idx_reference

OWNER = "{def}"


@cache
def _table() -> dict[str, Any]:
    raw = files("ehp.index").joinpath("definitions/compartments.json.gz").read_bytes()
    table: dict[str, Any] = json.loads(gzip.decompress(raw))
    return table


def compartment_types() -> tuple[str, ...]:
    """The resource types that own a compartment (Patient, Encounter, ...)."""
    return tuple(sorted(_table()))


def compartment_url(compartment: str) -> str:
    url: str = _table()[compartment]["url"]
    return url


def members(compartment: str) -> Mapping[str, list[str]]:
    """Resource type → the parameters linking it to the owner (empty for an unknown compartment)."""
    entry = _table().get(compartment)
    return entry["resources"] if entry is not None else {}


def compartment_clause(
    scope: Scope, compartment: str, owner_id: str, resource_types: Sequence[str], root: NamedFromClause
) -> ColumnElement[bool] | None:
    """Resources of the given types in the compartment of ``compartment/owner_id`` (None: none of
    the types is ever in that compartment).

    All the linking reference parameters, of every type, are tested in one sub-select
    (``pid IN (...)``: a pid names its type too), which the database can join; an OR of one
    sub-select per parameter would be a filter over every resource of the types.
    """
    pids: list[int] = []
    owner = False
    for resource_type in resource_types:
        codes = members(compartment).get(resource_type, [])
        definitions = parameters_for(resource_type)
        owner = owner or (OWNER in codes and resource_type == compartment)
        for code in codes:
            pid = scope.params.find(resource_type, code)
            if pid is not None and code in definitions and definitions[code].type == "reference":
                pids.append(pid)
    conditions: list[ColumnElement[bool]] = []
    if pids:
        table = idx_reference
        refers = reference_condition(
            table.c.target_type, table.c.target_id, table.c.url, f"{compartment}/{owner_id}", None, scope.base
        )
        conditions.append(root.c.rid.in_(select(table.c.rid).where(pid_in(table, pids), refers)))
    if owner:
        conditions.append(and_(root.c.resource_type == compartment, root.c.id == owner_id))
    return or_(*conditions) if conditions else None
