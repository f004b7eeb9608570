"""``_sort`` and keyset paging: sort keys, their order, and the cursor of a page boundary.

A sort key is one value per resource: for a parameter with several values, ascending order uses
the smallest (``min(low)`` of a date), descending the largest (``max(high)``). Resources without a
value come last in both directions. The row id breaks ties, so the order is total and a page
boundary — the keys and row id of a page's last (or first) row, carried in ``_cursor`` — never
repeats or skips a resource while others write. A page before a cursor is read in the reversed
order and turned around.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Table, and_, false, func, or_, select
from sqlalchemy.sql.selectable import NamedFromClause

from ehp.search.errors import SearchError
from ehp.search.query import Scope, UnknownParameter, parameter_kind, parameter_pids
from ehp.search.sql import pid_in
from ehp.store.schema import idx_date, idx_number, idx_quantity, idx_reference, idx_string, idx_token, idx_uri

SORTABLE: dict[str, tuple[Table, str, str]] = {
    "string": (idx_string, "norm", "norm"),
    "token": (idx_token, "code", "code"),
    "date": (idx_date, "low", "high"),
    "number": (idx_number, "low", "high"),
    "quantity": (idx_quantity, "low", "high"),
    "uri": (idx_uri, "uri", "uri"),
    "reference": (idx_reference, "", ""),
}
"""Per type: the index table and the columns of the ascending and the descending key."""


@dataclass(frozen=True, slots=True)
class SortKey:
    name: str
    descending: bool
    expression: ColumnElement[Any]
    """One value per row of ``root`` (NULL when it has none)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """A page boundary: the sort keys and row id of a row; ``before`` reads the page before it."""

    keys: tuple[Any, ...]
    rid: int
    before: bool = False

    def encode(self) -> str:
        raw = orjson.dumps(["p" if self.before else "n", [_tag(key) for key in self.keys], self.rid])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, keys: int) -> Cursor:
        try:
            direction, values, rid = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if direction not in ("n", "p") or type(rid) is not int or len(values) != keys:
                raise ValueError
            return cls(tuple(_untag(value) for value in values), rid, direction == "p")
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise SearchError("_cursor", "_cursor is not a page link of this search") from None


def _tag(value: Any) -> Any:
    """JSON for a key value: floats as text (infinite ones included), others as they are."""
    return ["f", repr(value)] if isinstance(value, float) else value


def _untag(value: Any) -> Any:
    if isinstance(value, list):
        if len(value) != 2 or value[0] != "f":
            raise ValueError
        return float(value[1])
    if value is None or isinstance(value, str | int):
        return value
    raise ValueError


def parse_sort(scope: Scope, types: tuple[str, ...], text: str, root: NamedFromClause) -> tuple[SortKey, ...]:
    """``_sort=status,-date``: keys in order (raises SearchError for what cannot be sorted on)."""
    keys = []
    for item in text.split(","):
        name = item.strip()
        descending = name.startswith("-")
        code = name[1:] if descending else name
        if not code:
            continue
        keys.append(SortKey(code, descending, _expression(scope, types, code, descending, root)))
    return tuple(keys)


def _expression(
    scope: Scope, types: tuple[str, ...], code: str, descending: bool, root: NamedFromClause
) -> Any:
    if code == "_id":
        return root.c.id
    if code == "_lastUpdated":
        return root.c.last_updated
    try:
        kind, having = parameter_kind(types, code, code)
        pids = parameter_pids(scope, having, code)
    except UnknownParameter:
        raise SearchError("_sort", f"cannot sort on '{code}': it is not a search parameter here") from None
    if kind not in SORTABLE:
        raise SearchError("_sort", f"cannot sort on '{code}' (a {kind} parameter)")
    table, ascending_column, descending_column = SORTABLE[kind]
    if kind == "reference":
        column: Any = func.coalesce(table.c.target_type + "/" + table.c.target_id, table.c.url)
    else:
        column = table.c[descending_column if descending else ascending_column]
    aggregate = func.max(column) if descending else func.min(column)
    return select(aggregate).where(table.c.rid == root.c.rid, pid_in(table, pids)).scalar_subquery()


def order_by(columns: Sequence[tuple[Any, bool]], rid: Any, *, reverse: bool) -> list[Any]:
    """ORDER BY terms: each key (missing last), then the row id; ``reverse`` turns it all around."""
    terms = []
    for column, descending in columns:
        if descending != reverse:
            terms.append(column.desc().nulls_first() if reverse else column.desc().nulls_last())
        else:
            terms.append(column.asc().nulls_first() if reverse else column.asc().nulls_last())
    terms.append(rid.desc() if reverse else rid.asc())
    return terms


def after(columns: Sequence[tuple[Any, bool]], rid: Any, cursor: Cursor) -> ColumnElement[bool]:
    """Rows after the cursor in the order of :func:`order_by` (before it, for ``cursor.before``)."""
    alternatives = []
    equal: list[ColumnElement[bool]] = []
    for (column, descending), value in zip(columns, cursor.keys, strict=True):
        beyond = _beyond(column, descending != cursor.before, value, cursor.before)
        alternatives.append(and_(*equal, beyond))
        equal.append(column.is_(None) if value is None else column == value)
    alternatives.append(and_(*equal, rid < cursor.rid if cursor.before else rid > cursor.rid))
    return or_(*alternatives)


def _beyond(column: Any, downwards: bool, value: Any, before: bool) -> ColumnElement[bool]:
    """Strictly further than ``value`` in this key's direction of travel (missing values are last)."""
    if value is None:
        return column.is_not(None) if before else false()
    further = column < value if downwards else column > value
    return further if before else or_(further, column.is_(None))
