"""FHIR search criteria to SQL over the index tables: the matching core of search and of the
conditional interactions (``find_ids``).

A criterion is a parameter name and a value. The name says what to test:

* ``code`` or ``code:modifier`` — a parameter of the searched type (:mod:`ehp.search.criteria`);
* ``ref.code``, ``ref:Type.code`` — a chain: resources whose reference ``ref`` points to a
  resource matching ``code`` (nests to any depth: ``subject:Patient.organization.name``);
* ``_has:Type:ref:code`` — a reverse chain: resources that a ``Type`` matching ``code`` points to
  with its reference ``ref`` (nests too: ``_has:Observation:patient:_has:AuditEvent:entity:agent``);
* ``_id``, ``_lastUpdated`` — columns of the store; ``_text``/``_content`` — the word index.

Values of one criterion separated by commas are OR'ed, repeated criteria are AND'ed. Every value
is a bound parameter. A search over several types (system level) uses each type's own parameter
rows; a type without the parameter does not match it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, and_, false, not_, or_, select, true, tuple_, union_all
from sqlalchemy.sql.selectable import NamedFromClause

from ehp.fhir.definitions import is_resource_type
from ehp.index.parameters import SearchParameter, all_parameters, parameters_for
from ehp.search.clauses import date_search_range, local_reference, range_condition
from ehp.search.criteria import BUILDERS, MODIFIERS, Target, missing, values_of
from ehp.search.errors import SearchError
from ehp.search.limits import check_cost
from ehp.search.sql import pid_in
from ehp.search.values import SearchValueError, unescape
from ehp.store.params import SearchParamRegistry
from ehp.store.schema import idx_reference, resources

RESULT_PARAMETERS = frozenset(
    {
        "_count",
        "_sort",
        "_total",
        "_summary",
        "_elements",
        "_include",
        "_revinclude",
        "_format",
        "_pretty",
        "_cursor",
    }
)
"""Parameters that shape the result rather than select resources."""
WORDS = frozenset({"_text", "_content"})


class UnknownParameter(Exception):
    """A parameter the searched type does not define, or that this server does not support."""


class QueryRunner(Protocol):
    """Runs a SELECT on the caller's connection (a store reader or a write transaction)."""

    params: SearchParamRegistry

    def query(self, statement: Select[Any]) -> Sequence[Any]: ...


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    """The whole parameter name: ``code``, ``code:modifier``, a chain or a ``_has``."""
    value: str


@dataclass(frozen=True, slots=True)
class Criteria:
    """The condition of a search's criteria on the searched rows."""

    where: ColumnElement[bool]
    typed: bool
    """The driving criterion only matches resources of the searched types (it reads their
    parameters' index rows), so a condition on ``resource_type`` would add nothing, and would
    mislead both planners: PostgreSQL multiplies the two selectivities as if independent and
    underestimates the matches; SQLite reads the resources through the type index and sorts them,
    where without it it walks the driver's ``rid`` list in order and stops at the page's end."""

    def of_types(self, types: Sequence[str]) -> ColumnElement[bool]:
        """``resources`` rows of these types: no condition at all when the criteria imply it."""
        if self.typed:
            return true()
        column = resources.c.resource_type
        return column == types[0] if len(types) == 1 else column.in_(types)


InnerFilter = Callable[[NamedFromClause, str], ColumnElement[bool] | None]


@dataclass(frozen=True, slots=True)
class Scope:
    """What criteria are resolved against: the parameter numbers, and this server's base URL
    (references to it count as local; None when unknown, then only relative ones do)."""

    params: SearchParamRegistry
    base: str | None = None
    inner_visible: InnerFilter | None = None
    """The caller's access condition on a nested search's rows (an alias of ``resources`` and the
    type it holds): chains and ``_has`` then see only what the caller may see, so a record a
    citizen's deny hides cannot be counted through them."""


def parse_criteria(query: Sequence[tuple[str, str]]) -> list[Criterion]:
    """The criteria of a query, result parameters left out."""
    return [Criterion(name, value) for name, value in query if name not in RESULT_PARAMETERS]


def find_ids(
    runner: QueryRunner,
    resource_type: str,
    query: Sequence[tuple[str, str]],
    limit: int,
    visible: InnerFilter | None = None,
) -> list[str]:
    """Ids of current (not deleted) resources matching the criteria, at most ``limit``; with
    ``visible``, only those the caller may see, nested criteria included.

    Raises :class:`SearchError` for unknown parameters: a conditional interaction must never
    act on a wider set than its criteria say.
    """
    check_cost(query)
    scope = Scope(runner.params, inner_visible=visible)
    criteria = criteria_clause(scope, (resource_type,), parse_criteria(query), strict=True)
    own = visible(resources, resource_type) if visible is not None else None
    statement = (
        select(resources.c.id)
        .where(
            criteria.of_types((resource_type,)),
            resources.c.deleted == false(),
            criteria.where,
            *([own] if own is not None else []),
        )
        .order_by(resources.c.rid)
        .limit(limit)
    )
    return [row.id for row in runner.query(statement)]


def criteria_clause(
    scope: Scope,
    resource_types: Sequence[str],
    criteria: Sequence[Criterion],
    *,
    strict: bool,
    unknown: list[str] | None = None,
    root: NamedFromClause = resources,
    drive: bool = True,
) -> Criteria:
    """One condition on ``root`` (``resources`` or an alias) for all criteria.

    Unknown or unsupported parameters raise :class:`SearchError` when ``strict`` (or when there is
    no ``unknown`` list to report them in), else they are appended to ``unknown`` and ignored.
    Malformed values always raise. The likely most selective criterion (:func:`_rank`) produces
    the candidate rows and the others test them (see :mod:`ehp.search.criteria`); ``drive=False``
    when the caller adds a more selective condition of its own (a compartment).
    """
    types = tuple(resource_types)
    ranks = [_rank(criterion.name) for criterion in criteria]
    candidates = [(rank, index) for index, rank in enumerate(ranks) if rank is not None]
    driver = min(candidates)[1] if drive and candidates else None
    clauses: list[ColumnElement[bool]] = []
    typed = False
    for index, criterion in enumerate(criteria):
        try:
            correlated = index != driver
            clauses.append(clause(scope, types, criterion.name, criterion.value, root, correlated=correlated))
            typed = typed or (not correlated and _selects_by_parameter_rows(criterion.name))
        except UnknownParameter:
            if strict or unknown is None:
                raise SearchError(
                    criterion.name, f"unknown or unsupported search parameter '{criterion.name}'"
                ) from None
            unknown.append(criterion.name)
        except SearchValueError as failure:
            raise SearchError(criterion.name, f"search parameter '{criterion.name}': {failure}") from None
    return Criteria(and_(true(), *clauses), typed)


def _selects_by_parameter_rows(name: str) -> bool:
    """The criterion's rows are index rows of the searched types' own parameters (their ``pid``).

    ``_id`` tests the ``id`` column and ``_has`` the ids other resources point to: neither says
    what type the matching resource has.
    """
    code = name.partition(":")[0]
    return code not in ("_id", "_has")


_RANKS = {
    "reference": 1,
    "token": 2,
    "uri": 2,
    "composite": 2,
    "string": 3,
    "date": 4,
    "number": 4,
    "quantity": 4,
}
_MODIFIER_RANKS = {"identifier": 1, "of-type": 1, "exact": 2, "text": 3, "contains": 5}


def _rank(name: str) -> int | None:
    """How likely a criterion is to select few rows (lower: fewer); None when it cannot drive."""
    if name.startswith("_has:") or "." in name:
        return 2
    code, _, modifier = name.partition(":")
    if code == "_id":
        return 0
    if modifier in ("missing", "not") or code == "_lastUpdated":
        return None
    if modifier in _MODIFIER_RANKS:
        return _MODIFIER_RANKS[modifier]
    if code in WORDS:
        return 3
    kinds = {p.type for p in _definitions(code)}
    return min((_RANKS.get(kind, 5) for kind in kinds), default=None)


@cache
def _definitions(code: str) -> tuple[SearchParameter, ...]:
    return tuple(p for p in all_parameters() if p.code == code)


def clause(
    scope: Scope,
    types: tuple[str, ...],
    name: str,
    value: str,
    root: NamedFromClause,
    *,
    correlated: bool = False,
) -> ColumnElement[bool]:
    """The condition of one criterion (raises UnknownParameter, SearchError, SearchValueError)."""
    if name.startswith("_has:"):
        return _reverse_chain(scope, types, name, value, root)
    head, dot, rest = name.partition(".")
    code, _, modifier_text = head.partition(":")
    modifier = modifier_text or None
    if dot:
        return _chain(scope, types, name, code, modifier, rest, value, root)
    if code == "_id":
        return _id(root, modifier, value)
    if code == "_lastUpdated":
        return _last_updated(root, modifier, value)
    kind, having = parameter_kind(types, code, name)
    target = Target(having, code, parameter_pids(scope, having, code), root, scope.base, correlated)
    if modifier == "missing":
        return missing(kind, target, value)
    type_modifier = kind == "reference" and modifier is not None and is_resource_type(modifier)
    if modifier is not None and modifier not in MODIFIERS[kind] and not type_modifier:
        raise SearchValueError(f"the modifier ':{modifier}' is not supported on {kind} parameters")
    return BUILDERS[kind](target, modifier, value)


def parameter_kind(types: tuple[str, ...], code: str, name: str) -> tuple[str, tuple[str, ...]]:
    """The kind of builder a parameter needs, and the searched types that define it."""
    definitions = {t: parameters_for(t)[code] for t in types if code in parameters_for(t)}
    if not definitions:
        raise UnknownParameter(name)
    kinds = {definition.type for definition in definitions.values()}
    if len(kinds) > 1:
        raise SearchError(name, f"'{code}' has different types in the searched resource types")
    kind = kinds.pop()
    if code in WORDS:
        kind = "words"
    elif kind not in BUILDERS or all(d.expression is None for d in definitions.values()):
        raise UnknownParameter(name)
    return kind, tuple(definitions)


def parameter_pids(scope: Scope, types: tuple[str, ...], code: str) -> tuple[int, ...]:
    pids = tuple(pid for pid in (scope.params.find(t, code) for t in types) if pid is not None)
    if not pids:
        raise UnknownParameter(code)
    return pids


def _constant(modifier: str, value: str, present: bool) -> ColumnElement[bool]:
    if modifier != "missing" or value not in ("true", "false"):
        raise SearchValueError(f"the modifier ':{modifier}' is not supported here")
    return true() if (value == "false") == present else false()


def _id(root: NamedFromClause, modifier: str | None, value: str) -> ColumnElement[bool]:
    if modifier not in (None, "not"):
        return _constant(modifier, value, present=True)
    found = root.c.id.in_([unescape(v) for v in values_of(value)])
    return not_(found) if modifier == "not" else found


def _last_updated(root: NamedFromClause, modifier: str | None, value: str) -> ColumnElement[bool]:
    if modifier is not None:
        return _constant(modifier, value, present=True)
    column = root.c.last_updated
    return or_(*(range_condition(column, column, *date_search_range(v)) for v in values_of(value)))


def _chain(
    scope: Scope,
    types: tuple[str, ...],
    name: str,
    code: str,
    modifier: str | None,
    rest: str,
    value: str,
    root: NamedFromClause,
) -> ColumnElement[bool]:
    """``code[:Type].rest``: the reference ``code`` points to a resource matching ``rest``."""
    kind, having = parameter_kind(types, code, name)
    if kind != "reference":
        raise SearchValueError(f"'{code}' is not a reference parameter and cannot be chained")
    if modifier is not None and not is_resource_type(modifier):
        raise SearchValueError(f"'{modifier}' is not a resource type")
    targets = (
        [modifier]
        if modifier is not None
        else sorted({t for h in having for t in parameters_for(h)[code].target if is_resource_type(t)})
    )
    table = idx_reference
    pids = pid_in(table, parameter_pids(scope, having, code))
    local = local_reference(table.c.url, scope.base)
    branches = []
    for target_type in targets:
        alias = resources.alias()
        try:
            inner = clause(scope, (target_type,), rest, value, alias)
        except UnknownParameter:
            continue
        ids = select(alias.c.id).where(
            alias.c.resource_type == target_type,
            alias.c.deleted == false(),
            inner,
            *_inner(scope, alias, target_type),
        )
        branches.append(
            select(table.c.rid).where(
                pids, table.c.target_type == target_type, table.c.target_id.in_(ids), local
            )
        )
    if not branches:
        raise UnknownParameter(name)
    # One branch per target type, united: each can become a semi-join (an OR of sub-selects cannot).
    return root.c.rid.in_(branches[0] if len(branches) == 1 else union_all(*branches))


def _inner(scope: Scope, alias: NamedFromClause, resource_type: str) -> list[ColumnElement[bool]]:
    condition = scope.inner_visible(alias, resource_type) if scope.inner_visible is not None else None
    return [condition] if condition is not None else []


def _reverse_chain(
    scope: Scope, types: tuple[str, ...], name: str, value: str, root: NamedFromClause
) -> ColumnElement[bool]:
    """``_has:Type:ref:rest``: some ``Type`` matching ``rest`` points here with its reference ``ref``."""
    parts = name.split(":", 3)
    if len(parts) != 4 or not all(parts[1:]):
        raise SearchValueError("_has takes the form _has:Type:reference:parameter")
    _, source_type, reference, rest = parts
    if not is_resource_type(source_type):
        raise SearchValueError(f"'{source_type}' is not a resource type")
    kind, _ = parameter_kind((source_type,), reference, name)
    if kind != "reference":
        raise SearchValueError(f"'{reference}' is not a reference parameter of {source_type}")
    alias = resources.alias()
    inner = clause(scope, (source_type,), rest, value, alias)
    sources = select(alias.c.rid).where(
        alias.c.resource_type == source_type,
        alias.c.deleted == false(),
        inner,
        *_inner(scope, alias, source_type),
    )
    table = idx_reference
    targets = select(table.c.target_id).where(
        pid_in(table, parameter_pids(scope, (source_type,), reference)),
        local_reference(table.c.url, scope.base),
        table.c.rid.in_(sources),
    )
    if len(types) == 1:
        return root.c.id.in_(targets.where(table.c.target_type == types[0]))
    typed = targets.add_columns(table.c.target_type).where(table.c.target_type.in_(types))
    return tuple_(root.c.id, root.c.resource_type).in_(typed)
