"""Candidate retrieval for the matcher: a few index range scans, never a scan of all patients.

Each pass starts from its most selective condition, read as a tight range of one index, and
checks the others per row through the index on ``rid``; the passes run as one statement:

* the IIN: ``idx_token`` (pid, code, system);
* the birth date (or day and month swapped): ``idx_date`` (pid, low) over that day, then a family
  *or* given name starting alike;
* the family name starting alike: ``idx_string`` (pid, norm), one range per spelling (see
  :func:`~ehp.registry.names.index_prefixes`), then a given name starting alike and a birth year
  within one of the query's.

The SQL is written here, not built from search clauses, for three reasons. A general search
clause cannot know which condition to drive from. Prefix ranges must stay plain range terms
(``norm >= a AND norm < b``; ``~>=~``/``~<~`` on PostgreSQL, whose index has ``text_pattern_ops``),
and a per-row check must not offer SQLite the (pid, value) index (``pid + 0``), or without
statistics it reads a whole range for every row. And the statements are large (dozens of
spellings): built as SQLAlchemy expressions they cost more CPU to build and compile than to run.
Here the lists are padded to a power of four, so the text comes in few shapes, and every value
is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Select, literal_column, select, text

from ehp.registry.records import Index
from ehp.search.query import QueryRunner
from ehp.search.sql import successor

_DAY = 86_400_000_000


def _micros(day: date) -> int:
    return int(datetime.combine(day, time(), UTC).timestamp()) * 1_000_000


def _padded(values: Sequence[Any]) -> list[Any]:
    """``values`` repeated up to a power of four (a repeated ``OR`` term changes nothing)."""
    size = 1
    while size < len(values):
        size *= 4
    return [*values, *[values[-1]] * (size - len(values))]


@dataclass(slots=True)
class _Sql:
    """SQL text under construction, with its bound values (``:p0``, ``:p1``...)."""

    runner: QueryRunner
    postgresql: bool
    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f":{name}"

    def pid(self, code: str) -> str:
        pid = self.runner.params.find("Patient", code)
        assert pid is not None, f"Patient.{code} is registered at start-up"
        return self.bind(pid)

    def starts_with(self, column: str, prefix: str) -> str:
        at_least, below = ("~>=~", "~<~") if self.postgresql else (">=", "<")
        upper = successor(prefix)
        condition = f"{column} {at_least} {self.bind(prefix)}"
        return condition if upper is None else f"({condition} AND {column} {below} {self.bind(upper)})"

    def name_exists(self, rid: str, code: str, prefixes: Sequence[str], alias: str) -> str:
        ranges = " OR ".join(self.starts_with(f"{alias}.norm", prefix) for prefix in _padded(prefixes))
        return (
            f"EXISTS (SELECT 1 FROM idx_string {alias} WHERE {alias}.rid = {rid} "
            f"AND {alias}.pid + 0 = {self.pid(code)} AND ({ranges}))"
        )


def candidates(index: Index) -> _Sql:
    """A new statement for the index's database."""
    return _Sql(index, index.postgresql)


def by_iin(sql: _Sql, system: str, iin: str, limit: int) -> str:
    return (
        f"SELECT rid FROM idx_token WHERE pid = {sql.pid('identifier')} AND code = {sql.bind(iin)} "
        f"AND system = {sql.bind(system)} LIMIT {sql.bind(limit)}"
    )


def by_birth_date(
    sql: _Sql, days: Sequence[date], families: Sequence[str], givens: Sequence[str], limit: int
) -> str:
    """Born on one of ``days``, with a family or given name starting with one of the spellings."""
    ranges = []
    for day in _padded(days):
        low, high = sql.bind(_micros(day)), sql.bind(_micros(day) + _DAY)
        ranges.append(f"(d.low >= {low} AND d.low < {high} AND d.high < {high})")
    names = [
        sql.name_exists("d.rid", code, prefixes, alias)
        for code, prefixes, alias in (("family", families, "f"), ("given", givens, "g"))
        if prefixes
    ]
    return (
        f"SELECT d.rid FROM idx_date d WHERE d.pid = {sql.pid('birthdate')} AND ({' OR '.join(ranges)}) "
        f"AND ({' OR '.join(names)}) LIMIT {sql.bind(limit)}"
    )


def by_names(sql: _Sql, families: Sequence[str], givens: Sequence[str], year: int | None, limit: int) -> str:
    """A family name starting with one of ``families``, a given one with one of ``givens``, and a
    birth date (when the query has one) within a year of ``year``."""
    family = sql.pid("family")
    drivers = " UNION ".join(  # one range scan each: an OR next to ``pid =`` reads the whole pid on SQLite
        f"SELECT rid FROM idx_string WHERE pid = {family} AND {sql.starts_with('norm', prefix)}"
        for prefix in _padded(families)
    )
    conditions = [sql.name_exists("n.rid", "given", givens, "g")]
    if year is not None:
        low, high = sql.bind(_micros(date(year - 1, 1, 1))), sql.bind(_micros(date(year + 2, 1, 1)))
        conditions.append(
            f"EXISTS (SELECT 1 FROM idx_date d WHERE d.rid = n.rid AND d.pid + 0 = {sql.pid('birthdate')} "
            f"AND d.low >= {low} AND d.low < {high})"
        )
    return f"SELECT n.rid FROM ({drivers}) n WHERE {' AND '.join(conditions)} LIMIT {sql.bind(limit)}"


def patient_ids(sql: _Sql, passes: Sequence[str]) -> list[str]:
    """The ids of the current Patients the passes find, in one statement (one round trip)."""
    if not passes:
        return []
    found = " UNION ".join(f"SELECT rid FROM ({rids}) b{number}" for number, rids in enumerate(passes))
    ids = (
        f"(SELECT r.id FROM resources r WHERE r.rid IN ({found}) AND r.resource_type = {sql.bind('Patient')} "
        f"AND r.deleted = {sql.bind(False)}) AS found"
    )
    statement: Select[Any] = select(literal_column("found.id")).select_from(
        text(ids).bindparams(**sql.values)
    )
    return [row[0] for row in sql.runner.query(statement)]
