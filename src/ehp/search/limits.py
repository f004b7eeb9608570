"""What one search may cost: limits checked before any SQL is built.

A single practitioner request once ran 610 s on PostgreSQL with 2,000 repeated ``name=``
criteria, 100 ``_sort`` keys cost 13-70 s of CPU, 1,000 ``_include`` 10 s, and 30 nested
``_has`` or a chain of 40 links ended in a 500 (Python's recursion limit, SQLite's "expression
tree is too large"). Every limit here is far above what a clinical search needs (HAPI FHIR caps
chains at 4 links and ``_has`` is rarely nested twice) and each is a setting
(``EHP_SEARCH_MAX_...``). A search over a limit is refused with a 400 naming the parameter and
the limit; nothing is run. The database's own statement timeout (``store/database.py``) bounds
whatever passes these.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from ehp.environment import whole_number
from ehp.search.errors import SearchError

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Control characters no search value carries (tab, line feed and carriage return pass)."""


@dataclass(frozen=True, slots=True)
class SearchLimits:
    parameters: int = 50
    """Query parameters of one search, criteria and result parameters together."""
    values: int = 100
    """Comma-separated values (OR) of one criterion."""
    total_values: int = 500
    """Values of all criteria together."""
    sort_keys: int = 6
    includes: int = 12
    """``_include`` and ``_revinclude`` parameters together."""
    chain_links: int = 4
    """Links of one chained parameter (``subject:Patient.organization.name`` has 3)."""
    has_depth: int = 3
    """Nested ``_has:`` of one parameter."""
    value_length: int = 4096
    """Characters of one parameter value."""

    @classmethod
    def from_environment(cls) -> SearchLimits:
        defaults = cls()
        return cls(
            **{
                name: whole_number(f"EHP_SEARCH_MAX_{name.upper()}", getattr(defaults, name))
                for name in cls.__slots__
            }
        )


@cache
def search_limits() -> SearchLimits:
    """The process's limits, read once from the environment."""
    return SearchLimits.from_environment()


def check_cost(query: Sequence[tuple[str, str]], limits: SearchLimits | None = None) -> None:
    """Refuse (``SearchError``, a 400) a search whose size alone makes it too costly to run."""
    limits = limits or search_limits()
    if len(query) > limits.parameters:
        raise SearchError(
            "_query", f"a search takes at most {limits.parameters} parameters; this one has {len(query)}"
        )
    total = sort_keys = includes = 0
    for name, value in query:
        if len(value) > limits.value_length or len(name) > limits.value_length:
            raise SearchError(name[:100], f"a search parameter is at most {limits.value_length} characters")
        if CONTROL.search(value) or CONTROL.search(name):
            raise SearchError(name[:100], "a search parameter may not hold control characters")
        code = name.partition(":")[0]
        if code == "_sort":
            sort_keys += len(value.split(","))
            continue
        if code in ("_include", "_revinclude"):
            includes += 1
            continue
        if code.startswith("_") and code not in ("_has", "_id", "_lastUpdated", "_text", "_content", "_tag"):
            continue
        values = value.count(",") + 1
        if values > limits.values:
            raise SearchError(
                name, f"'{name}' has {values} values; a criterion takes at most {limits.values}"
            )
        total += values
        _check_depth(name, limits)
    if total > limits.total_values:
        raise SearchError(
            "_query", f"a search takes at most {limits.total_values} values in all; this has {total}"
        )
    if sort_keys > limits.sort_keys:
        raise SearchError("_sort", f"_sort takes at most {limits.sort_keys} keys; this has {sort_keys}")
    if includes > limits.includes:
        raise SearchError(
            "_include",
            f"a search takes at most {limits.includes} _include and _revinclude; this has {includes}",
        )


def _check_depth(name: str, limits: SearchLimits) -> None:
    has = name.count("_has:")
    if has > limits.has_depth:
        raise SearchError(name[:100], f"_has nests at most {limits.has_depth} deep; this one {has}")
    # the chain is what follows the last _has (Type:reference:parameter), split on its dots
    tail = name.rsplit("_has:", 1)[-1]
    if has:
        tail = tail.split(":", 2)[-1]
    links = tail.count(".")
    if links > limits.chain_links:
        raise SearchError(name[:100], f"a chain has at most {limits.chain_links} links; this one {links}")
