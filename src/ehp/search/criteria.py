"""One criterion on one parameter (``code:modifier=v1,v2``) to a condition on the searched resources.

Every builder gives ``root.rid IN (SELECT rid FROM idx_... WHERE pid IN (...) AND ...)``, or, when
the target is ``correlated``, ``EXISTS (SELECT ... WHERE idx_....rid = root.rid AND ...)``: the
values of one criterion are OR'ed inside the sub-select, ``:not`` and ``:missing=true`` negate it.
``root`` is the ``resources`` table or an alias of it (chains and ``_has`` nest searches).

PostgreSQL plans both forms as the same semi-join. SQLite does not: it reads a non-correlated
``IN`` sub-select whole into a temporary index, even when another criterion already narrowed the
rows to a handful. So one criterion, the likely most selective, drives (``IN``) and the others are
probed per candidate row through their table's ``rid`` index (``EXISTS``); see
:func:`ehp.search.query.criteria_clause`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, not_, or_, select
from sqlalchemy.sql.selectable import NamedFromClause

from ehp.index.composites import component_types
from ehp.index.normalization import normalize_string
from ehp.search.clauses import (
    date_condition,
    number_condition,
    quantity_condition,
    reference_condition,
    string_condition,
    token_condition,
    uri_condition,
    words_conditions,
)
from ehp.search.sql import all_of, pid_in, starts_with
from ehp.search.values import (
    SearchValueError,
    parse_of_type_value,
    split_composite,
    split_values,
    unescape,
)
from ehp.store.schema import (
    idx_composite,
    idx_date,
    idx_identifier_type,
    idx_number,
    idx_quantity,
    idx_reference,
    idx_reference_identifier,
    idx_string,
    idx_token,
    idx_token_text,
    idx_uri,
    idx_word,
)

MODIFIERS: dict[str, tuple[str, ...]] = {
    "token": ("missing", "not", "text", "of-type"),
    "string": ("missing", "exact", "contains"),
    "reference": ("missing", "identifier", "[type]"),
    "date": ("missing",),
    "number": ("missing",),
    "quantity": ("missing",),
    "uri": ("missing", "below", "above"),
    "composite": ("missing",),
    "words": ("missing",),
}
"""The modifiers each type supports (``[type]`` is a resource type, ``subject:Patient``)."""

PRESENCE: dict[str, tuple[Table, ...]] = {
    "token": (idx_token, idx_token_text),
    "string": (idx_string,),
    "reference": (idx_reference, idx_reference_identifier),
    "date": (idx_date,),
    "number": (idx_number,),
    "quantity": (idx_quantity,),
    "uri": (idx_uri,),
    "composite": (idx_composite,),
    "words": (idx_word,),
}
"""The tables whose rows say a resource has a value for a parameter of the type (``:missing``)."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a builder works on: the parameter's pids, the searched rows (``root``), this server's base."""

    resource_types: tuple[str, ...]
    code: str
    pids: tuple[int, ...]
    root: NamedFromClause
    base: str | None
    correlated: bool = False
    """Test each candidate row (``EXISTS``) rather than produce the matching rows (``IN``)."""


def values_of(value: str) -> list[str]:
    values = split_values(value)
    if not values:
        raise SearchValueError("no value is given")
    return values


def member(target: Target, rows: Select[Any], rid: Any) -> ColumnElement[bool]:
    """``root`` is one of the ``rows`` (whose row id column is ``rid``): ``IN``, or ``EXISTS``."""
    if target.correlated:
        return rows.where(rid == target.root.c.rid).exists()
    return target.root.c.rid.in_(rows)


def _has(table: Table | Any, target: Target, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return member(target, select(table.c.rid).where(pid_in(table, target.pids), *conditions), table.c.rid)


def _in(table: Table | Any, target: Target, conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    return _has(table, target, or_(*conditions))


def missing(kind: str, target: Target, value: str) -> ColumnElement[bool]:
    """``:missing=true``: no value for the parameter; ``false``: some value."""
    if value not in ("true", "false"):
        raise SearchValueError(":missing takes true or false")
    present = or_(*(_has(table, target) for table in PRESENCE[kind]))
    return not_(present) if value == "true" else present


def _token(target: Target, modifier: str | None, value: str) -> ColumnElement[bool]:
    values = values_of(value)
    if modifier == "text":
        texts = [starts_with(idx_token_text.c.text, normalize_string(unescape(v))) for v in values]
        return _in(idx_token_text, target, texts)
    if modifier == "of-type":
        conditions = []
        for item in values:
            type_system, type_code, identifier = parse_of_type_value(item)
            conditions.append(
                and_(
                    idx_identifier_type.c.value == identifier,
                    idx_identifier_type.c.type_system == type_system,
                    idx_identifier_type.c.type_code == type_code,
                )
            )
        return _in(idx_identifier_type, target, conditions)
    conditions = [token_condition(idx_token.c.system, idx_token.c.code, v) for v in values]
    clause = _in(idx_token, target, conditions)
    return not_(clause) if modifier == "not" else clause


def _string(target: Target, modifier: str | None, value: str) -> ColumnElement[bool]:
    values = values_of(value)
    if modifier == "exact":
        return _in(idx_string, target, [idx_string.c.exact == unescape(v) for v in values])
    if modifier == "contains":
        return _in(
            idx_string,
            target,
            [idx_string.c.norm.contains(normalize_string(unescape(v)), autoescape=True) for v in values],
        )
    return _in(idx_string, target, [string_condition(idx_string.c.norm, v) for v in values])


def _reference(target: Target, modifier: str | None, value: str) -> ColumnElement[bool]:
    values = values_of(value)
    if modifier == "identifier":
        table = idx_reference_identifier
        return _in(table, target, [token_condition(table.c.system, table.c.value, v) for v in values])
    table = idx_reference
    conditions = [
        reference_condition(table.c.target_type, table.c.target_id, table.c.url, v, modifier, target.base)
        for v in values
    ]
    return _in(table, target, conditions)


def _date(target: Target, modifier: str | None, value: str) -> ColumnElement[bool]:
    table = idx_date
    return _in(table, target, [date_condition(table.c.low, table.c.high, v) for v in values_of(value)])


def _number(target: Target, modifier: str | None, value: str) -> ColumnElement[bool]:
    table = idx_number
    return _in(table, target, [number_condition(table.c.low, table.c.high, v) for v in values_of(value)])


def _quantity(target: Target, modifier: str | None, value: str) -> ColumnElement[bool]:
    table = idx_quantity
    columns = (table.c.system, table.c.code, table.c.low, table.c.high)
    conditions = [quantity_condition(*columns, v) for v in values_of(value)]
    return _in(table, target, conditions)


def _uri(target: Target, modifier: str | None, value: str) -> ColumnElement[bool]:
    return _in(idx_uri, target, [uri_condition(idx_uri.c.uri, v, modifier) for v in values_of(value)])


def _words(target: Target, modifier: str | None, value: str) -> ColumnElement[bool]:
    """Each word must start some word of the resource (a row each); values are OR'ed."""
    alternatives = [
        all_of([_has(idx_word, target, condition) for condition in conditions])
        for conditions in (words_conditions(idx_word.c.word, v) for v in values_of(value))
    ]
    return or_(*alternatives)


def _component(kind: str, rows: NamedFromClause, value: str, base: str | None) -> ColumnElement[bool]:
    system, code, low, high = rows.c.system, rows.c.code, rows.c.low, rows.c.high
    if kind == "token":
        return token_condition(system, code, value)
    if kind == "string":
        return string_condition(code, value)
    if kind == "reference":
        return reference_condition(system, code, None, value, None, base)
    if kind == "uri":
        return code == unescape(value)
    if kind == "quantity":
        return quantity_condition(system, code, low, high, value)
    if kind == "number":
        return number_condition(low, high, value)
    return date_condition(low, high, value)


def _composite(target: Target, modifier: str | None, value: str) -> ColumnElement[bool]:
    """The components' rows must share an element: a self-join of ``idx_composite`` on ``elem``."""
    kinds = component_types(target.resource_types[0], target.code)
    aliases = [idx_composite.alias() for _ in kinds]
    first = aliases[0]
    joined: Any = first
    for number, alias in enumerate(aliases[1:], start=1):
        joined = joined.join(
            alias,
            and_(
                alias.c.rid == first.c.rid,
                alias.c.pid == first.c.pid,
                alias.c.elem == first.c.elem,
                alias.c.comp == number,
            ),
        )
    alternatives = []
    for item in values_of(value):
        parts = split_composite(item, len(kinds))
        components = zip(kinds, aliases, parts, strict=True)
        alternatives.append(and_(*(_component(kind, a, part, target.base) for kind, a, part in components)))
    statement = select(first.c.rid).select_from(joined).where(pid_in(first, target.pids), first.c.comp == 0)
    return member(target, statement.where(or_(*alternatives)), first.c.rid)


BUILDERS: dict[str, Callable[[Target, str | None, str], ColumnElement[bool]]] = {
    "token": _token,
    "string": _string,
    "reference": _reference,
    "date": _date,
    "number": _number,
    "quantity": _quantity,
    "uri": _uri,
    "composite": _composite,
    "words": _words,
}
"""Builders per kind: the parameter's search type, or ``words`` for ``_text`` and ``_content``."""
