"""A patient's whole record: the Patient compartment plus the resources it refers to.

The record of ``Patient/X`` is

* the Patient itself and every resource in its compartment, as the official Patient
  CompartmentDefinition defines it (:mod:`ehp.search.compartments`), optionally limited to care
  in ``[start, end]``; plus
* the practitioners (and their roles), organisations, locations and medications those resources
  refer to (:data:`REFERENCED_TYPES`, through the search index's reference rows), and the
  practitioner, organisation and locations of each such practitioner role.

``_type`` and ``_since`` then filter what is returned (by type, and by ``meta.lastUpdated``).
The record's row ids are found with the search engine's compartment and date clauses
(:func:`_record_rows`), then pages are keyset pages over them (the row id of a page's boundary in
``_cursor``, as in search), and only a page's content is read. The summary and the passport page read
the whole record (:func:`read_record`).

**Care dates** (``start``/``end``): a resource of a type with a clinical date parameter
(:func:`care_date_parameter`: ``date`` where the type has one, else the named overrides) is in
range when that date overlaps the range (the search engine's ``ge``/``le``); one without such a
date value is then left out. Resources of types without a clinical date (the Patient,
RelatedPerson...) are always kept.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, or_, select, true
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import NamedFromClause

from ehp.index.parameters import parameters_for
from ehp.search.clauses import local_reference
from ehp.search.compartments import compartment_clause, members
from ehp.search.engine import SearchPage
from ehp.search.includes import Row, current_rows
from ehp.search.query import Criterion, QueryRunner, Scope, criteria_clause
from ehp.search.sorting import Cursor
from ehp.store.schema import idx_reference, resource_versions, resources

PATIENT = "Patient"
REFERENCED_TYPES = ("Location", "Medication", "Organization", "Practitioner", "PractitionerRole")
"""The types of the resources a record brings along when its resources refer to them."""
CARE_DATE_OVERRIDES = {
    "Condition": "onset-date",
    "MedicationRequest": "authoredon",
    "MedicationDispense": "whenhandedover",
    "ServiceRequest": "authored",
    "Specimen": "collected",
    "Claim": "created",
    "ExplanationOfBenefit": "created",
}
"""Types without a ``date`` parameter whose clinical date has another name."""
CHUNK = 1000
"""Row ids per statement when reading content (bound parameters stay far below the limits)."""


@dataclass(frozen=True, slots=True)
class RecordQuery:
    patient_id: str
    start: str | None = None
    """The first day of care wanted (a FHIR date), or None."""
    end: str | None = None
    since: int | None = None
    """Only resources updated at or after this instant (microseconds since 1970)."""
    types: tuple[str, ...] | None = None
    """Only these resource types (None: all)."""
    visible: ColumnElement[bool] | None = field(default=None, compare=False)
    """The caller's access filter on ``resources`` (:meth:`ehp.access.policy.Access.search_filter`;
    None: authentication is off or the caller sees everything): records it hides are left out, and
    so is what only they refer to."""


def compartment_types() -> tuple[str, ...]:
    """The resource types that can be in a Patient compartment (the Patient included)."""
    return tuple(sorted({*members(PATIENT), PATIENT}))


@cache
def care_date_parameter(resource_type: str) -> str | None:
    """The date search parameter that says when care recorded in a resource of this type happened."""
    parameters = parameters_for(resource_type)
    code = CARE_DATE_OVERRIDES.get(resource_type, "date")
    found = parameters.get(code)
    return code if found is not None and found.type == "date" else None


def _care_range(scope: Scope, query: RecordQuery, root: NamedFromClause) -> ColumnElement[bool]:
    if query.start is None and query.end is None:
        return true()
    dated: list[ColumnElement[bool]] = []
    undated: list[str] = []
    for resource_type in compartment_types():
        code = care_date_parameter(resource_type)
        if code is None:
            undated.append(resource_type)
            continue
        criteria = [Criterion(code, f"ge{query.start}")] if query.start else []
        if query.end:
            criteria.append(Criterion(code, f"le{query.end}"))
        within = criteria_clause(scope, (resource_type,), criteria, strict=True, root=root, drive=False).where
        dated.append(and_(root.c.resource_type == resource_type, within))
    return or_(root.c.resource_type.in_(undated), *dated)


def _in_compartment(scope: Scope, query: RecordQuery, root: NamedFromClause) -> ColumnElement[bool]:
    """The Patient and its compartment within the care range, on ``root`` (``resources`` or an alias)."""
    itself = and_(root.c.resource_type == PATIENT, root.c.id == query.patient_id)
    linked = compartment_clause(scope, PATIENT, query.patient_id, compartment_types(), root)
    members_of = itself if linked is None else or_(itself, linked)
    return and_(root.c.deleted == false(), members_of, _care_range(scope, query, root))


def _with_content(columns: list[Any], root: NamedFromClause, content: bool) -> Select[Any]:
    if not content:
        return select(*columns)
    joined = root.join(
        resource_versions,
        and_(resource_versions.c.rid == root.c.rid, resource_versions.c.version == root.c.version),
    )
    return select(*columns, resource_versions.c.content).select_from(joined)


def _member_condition(scope: Scope, query: RecordQuery, only: tuple[str, ...] | None) -> ColumnElement[bool]:
    condition = _in_compartment(scope, query, resources)
    if query.visible is not None:
        condition = and_(condition, query.visible)
    return condition if only is None else and_(condition, resources.c.resource_type.in_(only))


def _referred(scope: Scope, sources: Select[Any] | list[int], content: bool) -> Select[Any]:
    """The :data:`REFERENCED_TYPES` resources the ``sources`` rows refer to (rid, type, id, update time)."""
    target = resources.alias("target")
    ref = idx_reference
    columns = [target.c.rid, target.c.resource_type, target.c.id, target.c.last_updated]
    joined = ref.join(
        target, and_(target.c.resource_type == ref.c.target_type, target.c.id == ref.c.target_id)
    )
    if content:
        joined = joined.join(
            resource_versions,
            and_(resource_versions.c.rid == target.c.rid, resource_versions.c.version == target.c.version),
        )
        columns.append(resource_versions.c.content)
    return (
        select(*columns)
        .select_from(joined)
        .where(
            ref.c.rid.in_(sources),
            ref.c.target_type.in_(REFERENCED_TYPES),
            local_reference(ref.c.url, scope.base),
            target.c.deleted == false(),
        )
    )


def _record_rows(
    runner: QueryRunner, scope: Scope, query: RecordQuery, only: tuple[str, ...] | None, content: bool
) -> list[Any]:
    """The rows of the record the query returns (with their content when asked), in row order.

    Three statements: the members, what they refer to, and what their practitioner roles refer to.
    One statement doing all of it is planned badly by PostgreSQL (nested semi-joins over the
    reference index).
    """
    condition = _member_condition(scope, query, only)
    columns = [resources.c.rid, resources.c.resource_type, resources.c.id, resources.c.last_updated]
    found = {
        row.rid: row for row in runner.query(_with_content(columns, resources, content).where(condition))
    }
    sources = select(resources.c.rid).where(condition)
    referred = {row.rid: row for row in runner.query(_referred(scope, sources, content))}
    roles = [rid for rid, row in referred.items() if row.resource_type == "PractitionerRole"]
    if roles:
        referred.update({row.rid: row for row in runner.query(_referred(scope, roles, content))})
    found.update(referred)
    return [
        row
        for _, row in sorted(found.items())
        if (query.types is None or row.resource_type in query.types)
        and (query.since is None or row.last_updated >= query.since)
    ]


def _contents(runner: QueryRunner, rids: list[int]) -> list[Row]:
    """The current content of these rows. The ids (integers read from the database) are written into
    the statement: a thousand bound parameters cost more to build and send than the query to run."""
    rows: list[Row] = []
    for start in range(0, len(rids), CHUNK):
        chunk: BindParameter[list[int]] = bindparam(
            "rids", rids[start : start + CHUNK], expanding=True, literal_execute=True
        )
        statement = current_rows(resources.c.rid.in_(chunk)).order_by(resources.c.rid)
        rows.extend(Row(row.rid, row.resource_type, row.id, row.content) for row in runner.query(statement))
    return rows


def read_page(
    runner: QueryRunner, scope: Scope, query: RecordQuery, count: int, cursor: Cursor | None
) -> SearchPage:
    """One keyset page of the record in row order (after the cursor, or before it), with the total."""
    rows = _record_rows(runner, scope, query, None, content=False)
    rids = [row.rid for row in rows]
    # Bundle.total counts the matches, not what they bring along (search.mode = include)
    matches = sum(1 for row in rows if not is_referenced(row.resource_type))
    if cursor is None:
        first = 0
    elif cursor.before:
        first = max(bisect_left(rids, cursor.rid) - count, 0)
    else:
        first = bisect_right(rids, cursor.rid)
    last = min(first + count, bisect_left(rids, cursor.rid)) if cursor and cursor.before else first + count
    chosen = rids[first:last]
    page = SearchPage(_contents(runner, chosen), total=matches)
    if chosen and last < len(rids):
        page.next = Cursor((), chosen[-1])
    if chosen and first > 0:
        page.previous = Cursor((), chosen[0], before=True)
    return page


def read_record(
    runner: QueryRunner, scope: Scope, query: RecordQuery, only: tuple[str, ...] | None = None
) -> list[Row]:
    """The whole record at once with its content (for the summary and the passport page), in row order.

    ``only`` reads just the members of these types (and what they refer to), for a reader that needs
    no more (the summary needs no Encounter).
    """
    rows = _record_rows(runner, scope, query, only, content=True)
    return [Row(row.rid, row.resource_type, row.id, row.content) for row in rows]


def is_referenced(resource_type: str) -> bool:
    """Brought along as referred to (``search.mode = include``) rather than a member of the record."""
    return resource_type in REFERENCED_TYPES
