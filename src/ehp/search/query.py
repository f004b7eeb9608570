"""FHIR search criteria to SQL over the index tables: the matching core used by search and by
conditional interactions.

Each criterion becomes ``rid IN (SELECT rid FROM idx_... WHERE pid = ? AND ...)``; values of one
criterion separated by commas are OR'ed, repeated criteria are AND'ed. Every value is a bound
parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, Table, and_, false, func, not_, or_, select, true

from ehp.search.normalization import date_range, normalize_string
from ehp.search.parameters import parameters_for
from ehp.search.values import (
    DATE_PREFIXES,
    SearchValueError,
    number_range,
    parse_reference_value,
    parse_token_value,
    split_prefix,
    split_values,
)
from ehp.store.params import SearchParamRegistry
from ehp.store.schema import (
    idx_date,
    idx_number,
    idx_quantity,
    idx_reference,
    idx_reference_identifier,
    idx_string,
    idx_token,
    idx_token_text,
    idx_uri,
    resources,
)


class SearchError(ValueError):
    """A search parameter or value the server cannot use; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


class QueryRunner(Protocol):
    """Runs a SELECT on the caller's connection (a store reader or a write transaction)."""

    params: SearchParamRegistry

    def query(self, statement: Select[Any]) -> Sequence[Any]: ...


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    modifier: str | None
    value: str


RESULT_PARAMETERS = frozenset(
    {
        "_count",
        "_sort",
        "_total",
        "_summary",
        "_elements",
        "_include",
        "_revinclude",
        "_contained",
        "_containedType",
        "_format",
        "_pretty",
        "_cursor",
        "_offset",
    }
)


def parse_criteria(query: Sequence[tuple[str, str]]) -> list[Criterion]:
    criteria = []
    for name, value in query:
        code, _, modifier = name.partition(":")
        if code in RESULT_PARAMETERS:
            continue
        criteria.append(Criterion(code, modifier or None, value))
    return criteria


def find_ids(
    runner: QueryRunner, resource_type: str, query: Sequence[tuple[str, str]], limit: int
) -> list[str]:
    """Ids of current (not deleted) resources matching the criteria, at most ``limit``.

    Raises :class:`SearchError` for unknown parameters: a conditional interaction must never
    act on a wider set than its criteria say.
    """
    where = criteria_clause(runner.params, resource_type, parse_criteria(query), strict=True)
    statement = (
        select(resources.c.id)
        .where(resources.c.resource_type == resource_type, resources.c.deleted == false(), where)
        .order_by(resources.c.rid)
        .limit(limit)
    )
    return [row.id for row in runner.query(statement)]


def criteria_clause(
    params: SearchParamRegistry,
    resource_type: str,
    criteria: Sequence[Criterion],
    *,
    strict: bool,
    unknown: list[str] | None = None,
) -> ColumnElement[bool]:
    """One SQL condition on ``resources`` for all criteria (unknown ones raise, or are listed)."""
    definitions = parameters_for(resource_type)
    clauses: list[ColumnElement[bool]] = []
    for criterion in criteria:
        if criterion.name == "_id":
            clauses.append(_id_clause(criterion))
            continue
        if criterion.name == "_lastUpdated":
            clauses.append(_last_updated_clause(criterion))
            continue
        definition = definitions.get(criterion.name)
        pid = params.find(resource_type, criterion.name) if definition is not None else None
        builder = _BUILDERS.get(definition.type) if definition is not None else None
        if definition is None or pid is None or builder is None:
            if strict or unknown is None:
                raise SearchError(
                    criterion.name, f"unknown or unsupported search parameter '{criterion.name}'"
                )
            unknown.append(criterion.name)
            continue
        try:
            clauses.append(builder(pid, criterion))
        except SearchValueError as failure:
            raise SearchError(criterion.name, f"search parameter '{criterion.name}': {failure}") from None
    return and_(true(), *clauses)


def _values(criterion: Criterion) -> list[str]:
    values = split_values(criterion.value)
    if not values:
        raise SearchError(criterion.name, f"search parameter '{criterion.name}' has no value")
    return values


def _id_clause(criterion: Criterion) -> ColumnElement[bool]:
    values = _values(criterion)
    clause = resources.c.id.in_(values)
    return not_(clause) if criterion.modifier == "not" else clause


def _last_updated_clause(criterion: Criterion) -> ColumnElement[bool]:
    return or_(
        *(
            _range_compare(resources.c.last_updated, resources.c.last_updated, *_date_query(criterion, value))
            for value in _values(criterion)
        )
    )


def _date_query(criterion: Criterion, value: str) -> tuple[str, int, int]:
    prefix, text = split_prefix(value, DATE_PREFIXES)
    try:
        low, high = date_range(text)
    except ValueError:
        raise SearchError(
            criterion.name, f"search parameter '{criterion.name}': '{text}' is not a date"
        ) from None
    return prefix, low, high


def _range_compare(
    low: ColumnElement[Any], high: ColumnElement[Any], prefix: str, q_low: float, q_high: float
) -> ColumnElement[bool]:
    """The spec's comparison of a stored range [low, high] with a search range (search.html#prefix)."""
    within = and_(low >= q_low, high <= q_high)
    if prefix == "eq":
        return within
    if prefix == "ne":
        return not_(within)
    if prefix == "gt":
        return high > q_high
    if prefix == "lt":
        return low < q_low
    if prefix == "ge":
        return or_(high > q_high, within)
    if prefix == "le":
        return or_(low < q_low, within)
    if prefix == "sa":
        return low > q_high
    if prefix == "eb":
        return high < q_low
    margin = max((q_high - q_low) * 0.1, abs(q_low) * 0.1)
    return and_(low <= q_high + margin, high >= q_low - margin)


def _missing(table: Table, pid: int, criterion: Criterion) -> ColumnElement[bool]:
    if criterion.value not in ("true", "false"):
        raise SearchValueError(":missing takes true or false")
    present = resources.c.rid.in_(select(table.c.rid).where(table.c.pid == pid))
    return not_(present) if criterion.value == "true" else present


def _in_index(table: Table, pid: int, conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return resources.c.rid.in_(select(table.c.rid).where(table.c.pid == pid, or_(*conditions)))


def _token(pid: int, criterion: Criterion) -> ColumnElement[bool]:
    if criterion.modifier == "missing":
        return _missing(idx_token, pid, criterion)
    if criterion.modifier == "text":
        texts = [normalize_string(value) for value in _values(criterion)]
        return _in_index(
            idx_token_text, pid, [idx_token_text.c.text.startswith(t, autoescape=True) for t in texts]
        )
    if criterion.modifier not in (None, "not"):
        raise SearchValueError(f"the modifier ':{criterion.modifier}' is not supported on token parameters")
    conditions = []
    for value in _values(criterion):
        system, code = parse_token_value(value)
        parts = []
        if code is not None:
            parts.append(idx_token.c.code == code)
        if system == "":
            parts.append(idx_token.c.system.is_(None))
        elif system is not None:
            parts.append(idx_token.c.system == system)
        conditions.append(and_(*parts))
    clause = _in_index(idx_token, pid, conditions)
    return not_(clause) if criterion.modifier == "not" else clause


def _string(pid: int, criterion: Criterion) -> ColumnElement[bool]:
    if criterion.modifier == "missing":
        return _missing(idx_string, pid, criterion)
    values = _values(criterion)
    if criterion.modifier == "exact":
        return _in_index(idx_string, pid, [idx_string.c.exact == value for value in values])
    if criterion.modifier == "contains":
        return _in_index(
            idx_string,
            pid,
            [idx_string.c.norm.contains(normalize_string(v), autoescape=True) for v in values],
        )
    if criterion.modifier is not None:
        raise SearchValueError(f"the modifier ':{criterion.modifier}' is not supported on string parameters")
    return _in_index(
        idx_string, pid, [idx_string.c.norm.startswith(normalize_string(v), autoescape=True) for v in values]
    )


def _reference(pid: int, criterion: Criterion) -> ColumnElement[bool]:
    if criterion.modifier == "missing":
        return _missing(idx_reference, pid, criterion)
    values = _values(criterion)
    if criterion.modifier == "identifier":
        conditions = []
        for value in values:
            system, code = parse_token_value(value)
            parts = [idx_reference_identifier.c.value == code]
            if system is not None:
                parts.append(idx_reference_identifier.c.system == (system or None))
            conditions.append(and_(*parts))
        return _in_index(idx_reference_identifier, pid, conditions)
    conditions = []
    for value in values:
        target_type, target_id, url = parse_reference_value(value, criterion.modifier)
        if url is not None:
            conditions.append(idx_reference.c.url == url)
            continue
        parts = [idx_reference.c.target_id == target_id]
        if target_type is not None:
            parts.append(idx_reference.c.target_type == target_type)
        conditions.append(and_(*parts))
    return _in_index(idx_reference, pid, conditions)


def _date(pid: int, criterion: Criterion) -> ColumnElement[bool]:
    if criterion.modifier == "missing":
        return _missing(idx_date, pid, criterion)
    if criterion.modifier is not None:
        raise SearchValueError(f"the modifier ':{criterion.modifier}' is not supported on date parameters")
    return _in_index(
        idx_date,
        pid,
        [
            _range_compare(idx_date.c.low, idx_date.c.high, *_date_query(criterion, v))
            for v in _values(criterion)
        ],
    )


def _number(pid: int, criterion: Criterion) -> ColumnElement[bool]:
    if criterion.modifier == "missing":
        return _missing(idx_number, pid, criterion)
    conditions = []
    for value in _values(criterion):
        prefix, text = split_prefix(value, DATE_PREFIXES)
        conditions.append(_range_compare(idx_number.c.low, idx_number.c.high, prefix, *number_range(text)))
    return _in_index(idx_number, pid, conditions)


def _quantity(pid: int, criterion: Criterion) -> ColumnElement[bool]:
    if criterion.modifier == "missing":
        return _missing(idx_quantity, pid, criterion)
    conditions = []
    for value in _values(criterion):
        number, _, unit = value.partition("|")
        system, _, code = unit.partition("|")
        prefix, text = split_prefix(number, DATE_PREFIXES)
        parts = [_range_compare(idx_quantity.c.low, idx_quantity.c.high, prefix, *number_range(text))]
        if code:
            parts.append(idx_quantity.c.code == code)
        if system:
            parts.append(idx_quantity.c.system == system)
        conditions.append(and_(*parts))
    return _in_index(idx_quantity, pid, conditions)


def _uri(pid: int, criterion: Criterion) -> ColumnElement[bool]:
    if criterion.modifier == "missing":
        return _missing(idx_uri, pid, criterion)
    values = _values(criterion)
    if criterion.modifier == "below":
        return _in_index(idx_uri, pid, [idx_uri.c.uri.startswith(v, autoescape=True) for v in values])
    if criterion.modifier == "above":
        return _in_index(
            idx_uri, pid, [func.substr(v, 1, func.length(idx_uri.c.uri)) == idx_uri.c.uri for v in values]
        )
    if criterion.modifier is not None:
        raise SearchValueError(f"the modifier ':{criterion.modifier}' is not supported on uri parameters")
    return _in_index(idx_uri, pid, [idx_uri.c.uri == v for v in values])


_BUILDERS: dict[str, Callable[[int, Criterion], ColumnElement[bool]]] = {
    "token": _token,
    "string": _string,
    "reference": _reference,
    "date": _date,
    "number": _number,
    "quantity": _quantity,
    "uri": _uri,
}
