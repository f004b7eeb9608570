"""Running a search: criteria, ``_sort``, a keyset page, ``_total`` and the included resources.

:func:`prepare` turns query parameters into a :class:`SearchRequest` (errors and unknown
parameters are found there, before any query runs); :func:`run` reads one page. The page query
computes the sort keys of the matching rows in a derived table, takes the rows after the cursor
in key order, and joins the stored content of those rows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, select

from ehp.search.compartments import compartment_clause
from ehp.search.errors import SearchError
from ehp.search.includes import Include, Row, current_rows, included, parse_include
from ehp.search.limits import check_cost
from ehp.search.query import RESULT_PARAMETERS, Criterion, QueryRunner, Scope, criteria_clause
from ehp.search.sorting import Cursor, SortKey, after, order_by, parse_sort
from ehp.store.schema import resource_versions, resources

TOTALS = ("none", "estimate", "accurate")
UNSUPPORTED = frozenset({"_contained", "_containedType", "_query", "_list", "_filter", "_type"})
"""Parameters reported as not supported (``_type`` only where :func:`prepare` does not take it)."""
QUIET = frozenset({"_format", "_pretty"})


@dataclass(frozen=True, slots=True)
class Compartment:
    type: str
    id: str


@dataclass(frozen=True, slots=True)
class SearchRequest:
    types: tuple[str, ...]
    where: ColumnElement[bool]
    """Matches among all current resources (type, compartment and criteria)."""
    sort: tuple[SortKey, ...]
    count: int
    cursor: Cursor | None
    total: str
    """none, estimate, accurate, or auto (given when it costs nothing: everything on one page)."""
    includes: tuple[Include, ...]
    unknown: tuple[str, ...]
    """Parameters ignored as unknown or unsupported (lenient handling), to report."""
    used: tuple[tuple[str, str], ...]
    """The parameters applied, for the page links (``_cursor`` left out)."""
    included_visible: ColumnElement[bool] | None = None
    """What the caller may see among included resources (authorization; of any type)."""


@dataclass(slots=True)
class SearchPage:
    matches: list[Row]
    included: list[Row] = field(default_factory=list)
    total: int | None = None
    next: Cursor | None = None
    previous: Cursor | None = None
    truncated: bool = False
    """More resources were to be included than the limit allows."""


def prepare(
    scope: Scope,
    types: Sequence[str],
    query: Sequence[tuple[str, str]],
    *,
    strict: bool,
    count: int,
    all_types: bool = False,
    compartment: Compartment | None = None,
    visible: ColumnElement[bool] | None = None,
    included_visible: ColumnElement[bool] | None = None,
) -> SearchRequest:
    """Check and translate a search (raises :class:`SearchError` with the parameter's name).

    ``types`` are the searched resource types; ``all_types`` says they are every type (a system
    search without ``_type``): no type condition is needed then. ``count`` is the page size.
    ``visible`` and ``included_visible`` (authorization) restrict the matches and the included
    resources to what the caller may see.
    """
    check_cost(query)
    searched = tuple(types)
    unknown: list[str] = []
    used: list[tuple[str, str]] = []
    criteria: list[Criterion] = []
    for name, value in query:
        code = name.partition(":")[0]
        if code in QUIET or name == "_cursor" or (code == "_contained" and value == "false"):
            continue
        if code in UNSUPPORTED:
            if strict:
                raise SearchError(name, f"the search parameter '{name}' is not supported")
            unknown.append(name)
            continue
        if code in RESULT_PARAMETERS:
            used.append((name, value))
            continue
        criteria.append(Criterion(name, value))
        used.append((name, value))
    selected = criteria_clause(
        scope, searched, criteria, strict=strict, unknown=unknown, drive=compartment is None
    )
    ignored = set(unknown)
    used = [(name, value) for name, value in used if name not in ignored]
    conditions = [resources.c.deleted == false(), selected.where]
    if not all_types:
        conditions.append(selected.of_types(searched))
    if compartment is not None:
        conditions.append(_in_compartment(scope, compartment, searched))
    if visible is not None:
        conditions.append(visible)
    sort_text = ",".join(value for name, value in query if name == "_sort")
    sort = parse_sort(scope, searched, sort_text, resources) if sort_text else ()
    total = _one(query, "_total") or "auto"
    if total not in (*TOTALS, "auto"):
        raise SearchError("_total", f"_total must be one of {', '.join(TOTALS)}, not '{total}'")
    cursor_text = _one(query, "_cursor")
    cursor = Cursor.decode(cursor_text, len(sort)) if cursor_text else None
    includes = tuple(
        parse_include(name, value)
        for name, value in query
        if name.partition(":")[0] in ("_include", "_revinclude")
    )
    return SearchRequest(
        searched,
        and_(*conditions),
        sort,
        count,
        cursor,
        total,
        includes,
        tuple(unknown),
        tuple(used),
        included_visible,
    )


def _one(query: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in query if key == name]
    if len(values) > 1:
        raise SearchError(name, f"{name} is given more than once")
    return values[0] if values else None


def _in_compartment(scope: Scope, compartment: Compartment, types: tuple[str, ...]) -> ColumnElement[bool]:
    found = compartment_clause(scope, compartment.type, compartment.id, types, resources)
    if found is None:
        raise SearchError(
            "compartment", f"no resource of the requested type(s) is ever in a {compartment.type} compartment"
        )
    return found


def page_statement(request: SearchRequest) -> Select[Any]:
    """The query of one page: ``count + 1`` rows (the extra one says a next page exists).

    The page's row ids are chosen first (a LIMIT over the matches, in key order) and only those
    rows are joined to their stored content. Sort keys are computed in a derived table, once per
    matching row.
    """
    keys = [key.expression.label(f"k{number}") for number, key in enumerate(request.sort)]
    chosen = [resources.c.rid, resources.c.resource_type, resources.c.id, resources.c.version]
    source: Any = resources
    if keys:
        source = select(*chosen, *keys).where(request.where).offset(0).subquery("ranked")
    names = [f"k{number}" for number in range(len(keys))]
    reverse = request.cursor is not None and request.cursor.before
    columns = [(source.c[name], key.descending) for name, key in zip(names, request.sort, strict=True)]
    page_query = select(*(source.c[column.name] for column in chosen), *(source.c[name] for name in names))
    if not keys:
        page_query = page_query.where(request.where)
    if request.cursor is not None:
        page_query = page_query.where(after(columns, source.c.rid, request.cursor))
    page = page_query.order_by(*order_by(columns, source.c.rid, reverse=reverse)).limit(request.count + 1)
    page_rows = page.subquery("page")
    page_columns = [
        (page_rows.c[name], key.descending) for name, key in zip(names, request.sort, strict=True)
    ]
    return (
        select(
            page_rows.c.rid,
            page_rows.c.resource_type,
            page_rows.c.id,
            resource_versions.c.content,
            *(page_rows.c[name] for name in names),
        )
        .select_from(
            page_rows.join(
                resource_versions,
                and_(
                    resource_versions.c.rid == page_rows.c.rid,
                    resource_versions.c.version == page_rows.c.version,
                ),
            )
        )
        .order_by(*order_by(page_columns, page_rows.c.rid, reverse=reverse))
    )


def count_statement(request: SearchRequest) -> Select[Any]:
    return select(func.count()).select_from(resources).where(request.where)


def run(runner: QueryRunner, scope: Scope, request: SearchRequest, include_limit: int) -> SearchPage:
    """One page of matches, its included resources, the total when asked, and the page cursors."""
    count = request.count
    rows = list(runner.query(page_statement(request))) if count > 0 else []
    more = len(rows) > count
    rows = rows[:count]
    cursor = request.cursor
    if cursor is not None and cursor.before:
        rows.reverse()
    page = SearchPage([Row(row.rid, row.resource_type, row.id, row.content) for row in rows])
    keys = len(request.sort)
    if rows:
        last, first = rows[-1], rows[0]
        if (more and not (cursor and cursor.before)) or (cursor is not None and cursor.before):
            page.next = Cursor(tuple(last[4 : 4 + keys]), last.rid)
        if cursor is not None and (not cursor.before or more):
            page.previous = Cursor(tuple(first[4 : 4 + keys]), first.rid, before=True)
    if request.total in ("accurate", "estimate") or (request.total == "auto" and count == 0):
        page.total = runner.query(count_statement(request))[0][0]
    elif request.total == "auto" and cursor is None and not more:
        page.total = len(rows)
    if request.includes and page.matches:

        def read(condition: ColumnElement[bool], limit: int) -> list[Row]:
            if request.included_visible is not None:
                condition = and_(condition, request.included_visible)
            found = runner.query(current_rows(condition).order_by(resources.c.rid).limit(limit))
            return [Row(row.rid, row.resource_type, row.id, row.content) for row in found]

        page.included, page.truncated = included(scope, read, page.matches, request.includes, include_limit)
    return page
