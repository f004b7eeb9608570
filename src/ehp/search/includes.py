"""``_include`` and ``_revinclude`` (with ``:iterate`` and ``*``): the resources a page brings along.

``_include=Observation:subject[:Patient]`` adds what the page's Observations refer to with
``subject``; ``_revinclude=Provenance:target`` adds the Provenances that refer to the page's
resources; ``*`` means every reference parameter. Plain includes apply to the matches; ``:iterate``
ones also to what was included, round after round, until nothing new comes (at most
:data:`MAX_ROUNDS` rounds). Only local references are followed (relative ones and absolute ones
on this server's base), and at most ``limit`` resources are included per page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select

from ehp.fhir.definitions import is_resource_type
from ehp.index.parameters import parameters_for
from ehp.search.clauses import local_reference
from ehp.search.errors import SearchError
from ehp.search.query import Scope
from ehp.search.sql import pid_in
from ehp.store.schema import idx_reference, resource_versions, resources

MAX_ROUNDS = 8
ANY = "*"


@dataclass(frozen=True, slots=True)
class Include:
    source: str
    """The resource type holding the reference, or ``*``."""
    code: str
    """The reference parameter, or ``*``."""
    target: str | None
    reverse: bool
    iterate: bool

    @property
    def text(self) -> str:
        value = ANY if self.source == ANY else f"{self.source}:{self.code}"
        return f"{value}:{self.target}" if self.target else value


@dataclass(frozen=True, slots=True)
class Row:
    rid: int
    resource_type: str
    id: str
    content: bytes


def parse_include(name: str, value: str) -> Include:
    """``_include[:iterate]`` or ``_revinclude[:iterate]`` (``:recurse`` is the R3 spelling)."""
    base, _, modifier = name.partition(":")
    if modifier not in ("", "iterate", "recurse"):
        raise SearchError(name, f"'{name}' is not an include parameter (use :iterate)")
    reverse = base == "_revinclude"
    iterate = modifier != ""
    if value == ANY:
        return Include(ANY, ANY, None, reverse, iterate)
    parts = value.split(":")
    if len(parts) not in (2, 3) or not is_resource_type(parts[0]):
        raise SearchError(name, f"'{value}' is not Type:parameter[:targetType] or *")
    source, code = parts[0], parts[1]
    definition = parameters_for(source).get(code)
    if definition is None or definition.type != "reference":
        raise SearchError(name, f"'{code}' is not a reference parameter of {source}")
    target = parts[2] if len(parts) == 3 else None
    if target is not None and not is_resource_type(target):
        raise SearchError(name, f"'{target}' is not a resource type")
    return Include(source, code, target, reverse, iterate)


def _reference_pids(scope: Scope, types: Sequence[str]) -> list[int]:
    pids = []
    for resource_type in types:
        for code, definition in parameters_for(resource_type).items():
            pid = scope.params.find(resource_type, code)
            if definition.type == "reference" and pid is not None:
                pids.append(pid)
    return pids


def _forward(scope: Scope, include: Include, frontier: list[Row]) -> ColumnElement[bool] | None:
    ref = idx_reference
    if include.source == ANY:
        pids = _reference_pids(scope, sorted({row.resource_type for row in frontier}))
        sources = [row.rid for row in frontier]
    else:
        pid = scope.params.find(include.source, include.code)
        pids = [pid] if pid is not None else []
        sources = [row.rid for row in frontier if row.resource_type == include.source]
    if not pids or not sources:
        return None
    target = resources.alias("target")
    conditions = [ref.c.rid.in_(sources), pid_in(ref, pids), local_reference(ref.c.url, scope.base)]
    if include.target is not None:
        conditions.append(ref.c.target_type == include.target)
    joined = ref.join(
        target, and_(target.c.resource_type == ref.c.target_type, target.c.id == ref.c.target_id)
    )
    found = select(target.c.rid).select_from(joined).where(*conditions)
    return resources.c.rid.in_(found)


def _backward(scope: Scope, include: Include, frontier: list[Row]) -> ColumnElement[bool] | None:
    ref = idx_reference
    by_type: dict[str, list[str]] = {}
    for row in frontier:
        if include.target is None or row.resource_type == include.target:
            by_type.setdefault(row.resource_type, []).append(row.id)
    if not by_type:
        return None
    conditions = [
        local_reference(ref.c.url, scope.base),
        or_(*(and_(ref.c.target_type == t, ref.c.target_id.in_(ids)) for t, ids in by_type.items())),
    ]
    if include.source != ANY:
        pid = scope.params.find(include.source, include.code)
        if pid is None:
            return None
        conditions.append(ref.c.pid == pid)
    return resources.c.rid.in_(select(ref.c.rid).where(*conditions))


def included(
    scope: Scope,
    run: Callable[[ColumnElement[bool], int], list[Row]],
    matches: list[Row],
    includes: Sequence[Include],
    limit: int,
) -> tuple[list[Row], bool]:
    """The included resources of a page (matches left out), and whether ``limit`` cut them short.

    ``run(condition, n)`` reads at most ``n`` current resources meeting a condition on
    ``resources``.
    """
    seen = {row.rid for row in matches}
    found: list[Row] = []
    frontier = matches
    for round_number in range(MAX_ROUNDS):
        active = [i for i in includes if i.iterate or round_number == 0]
        if not frontier or not active:
            break
        new: list[Row] = []
        for include in active:
            condition = (_backward if include.reverse else _forward)(scope, include, frontier)
            if condition is None:
                continue
            for row in run(and_(condition, resources.c.deleted == false()), limit - len(found) + 1):
                if row.rid not in seen:
                    seen.add(row.rid)
                    new.append(row)
                    found.append(row)
                    if len(found) > limit:
                        return found[:limit], True
        frontier = new
    return found, False


def current_rows(condition: ColumnElement[bool]) -> Select[Any]:
    """rid, type, id and content of the current versions of the resources meeting ``condition``."""
    return (
        select(resources.c.rid, resources.c.resource_type, resources.c.id, resource_versions.c.content)
        .select_from(
            resources.join(
                resource_versions,
                and_(
                    resource_versions.c.rid == resources.c.rid,
                    resource_versions.c.version == resources.c.version,
                ),
            )
        )
        .where(condition)
    )
