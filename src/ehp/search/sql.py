"""SQL pieces the search queries share: index-friendly prefix matching and pid conditions.

Prefix matching is a byte-wise range, ``prefix <= column < successor(prefix)``, which a B-tree can
answer on both databases: SQLite compares text with memcmp (BINARY collation), and on PostgreSQL
the pattern operators ``~>=~``/``~<~`` compare bytes whatever the database collation, using the
``text_pattern_ops`` indexes of revision 0003_search. ``LIKE 'x%'`` would use neither index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Table, and_, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no bound)."""
    chars = list(prefix)
    while chars:
        point = ord(chars[-1]) + 1
        if point in _SURROGATES:
            point = _SURROGATES.stop
        if point <= _MAX_CODE_POINT:
            chars[-1] = chr(point)
            return "".join(chars)
        chars.pop()
    return None


class PrefixMatch(ColumnElement[bool]):
    """``column`` starts with ``prefix``, as a range an index can answer (see the module doc)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True
    """A condition in its own right: without it SQLite would get ``(...) = 1``, which no index serves."""
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy's own declaration style)
        ("column", InternalTraversal.dp_clauseelement),
        ("low", InternalTraversal.dp_clauseelement),
        ("high", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], prefix: str) -> None:
        self.column = column
        self.low = literal(prefix)
        upper = successor(prefix)
        self.high = literal(upper) if upper is not None else None


def _render(element: PrefixMatch, compiler: SQLCompiler, greater_equal: str, less: str, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    text = f"{column} {greater_equal} {compiler.process(element.low, **kw)}"
    if element.high is not None:
        text += f" AND {column} {less} {compiler.process(element.high, **kw)}"
    return f"({text})"


@compiles(PrefixMatch)
def _prefix_default(element: PrefixMatch, compiler: SQLCompiler, **kw: Any) -> str:
    return _render(element, compiler, ">=", "<", **kw)


@compiles(PrefixMatch, "postgresql")
def _prefix_postgresql(element: PrefixMatch, compiler: SQLCompiler, **kw: Any) -> str:
    return _render(element, compiler, "~>=~", "~<~", **kw)


def starts_with(column: ColumnElement[Any], prefix: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix`` (an empty prefix matches everything)."""
    return PrefixMatch(column, prefix)


def pid_in(table: Table | Any, pids: Sequence[int]) -> ColumnElement[bool]:
    """The rows of these search parameters (one per resource type searched)."""
    return table.c.pid == pids[0] if len(pids) == 1 else table.c.pid.in_(pids)


def all_of(conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    return conditions[0] if len(conditions) == 1 else and_(*conditions)
