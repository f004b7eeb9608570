"""The SQL condition one search value puts on index rows, per search parameter type.

Each function takes the columns to test, so the same rules serve a parameter's own index table
and a component of a composite (``idx_composite``). Values arrive still escaped (see
:mod:`ehp.search.values`). Comparisons follow search.html: a stored value is a range (a date's
precision, a decimal's precision, a Period, a Range, a comparator's open end), and so is a search
value, except that ``gt`` ``lt`` ``ge`` ``le`` ``sa`` ``eb`` take a number exactly ("lt100: values
that are less than exactly 100").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_

from ehp.index.normalization import date_range, normalize_string, words
from ehp.search.sql import starts_with
from ehp.search.values import (
    SearchValueError,
    exact_number,
    number_range,
    parse_quantity_value,
    parse_reference_value,
    parse_token_value,
    split_prefix,
    unescape,
)
from ehp.store.clock import now_micros

Column = ColumnElement[Any]
_EXACT_PREFIXES = frozenset({"gt", "lt", "ge", "le", "sa", "eb"})


def range_condition(
    low: Column, high: Column, prefix: str, q_low: float, q_high: float, margin: float
) -> ColumnElement[bool]:
    """A stored range [low, high] against a search range (search.html#prefix); ``margin`` is ``ap``'s."""
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
    return and_(low <= q_high + margin, high >= q_low - margin)


def date_search_range(value: str) -> tuple[str, int, int, float]:
    """(prefix, low, high, ap margin) of a date search value; the margin is 10% of the gap to now."""
    prefix, text = split_prefix(unescape(value))
    try:
        low, high = date_range(text)
    except ValueError:
        raise SearchValueError(f"'{text}' is not a date") from None
    return prefix, low, high, abs(now_micros() - (low + high) / 2) * 0.1


def date_condition(low: Column, high: Column, value: str) -> ColumnElement[bool]:
    return range_condition(low, high, *date_search_range(value))


def number_search_range(prefix: str, text: str) -> tuple[float, float, float]:
    """(low, high, ap margin) of a number: exact for gt/lt/ge/le/sa/eb, else its precision range."""
    if prefix in _EXACT_PREFIXES:
        exact = exact_number(text)
        return exact, exact, 0.0
    low, high = number_range(text)
    return low, high, abs(low + high) / 2 * 0.1


def number_condition(low: Column, high: Column, value: str) -> ColumnElement[bool]:
    prefix, text = split_prefix(unescape(value))
    return range_condition(low, high, prefix, *number_search_range(prefix, text))


def quantity_condition(
    system: Column, code: Column, low: Column, high: Column, value: str
) -> ColumnElement[bool]:
    """``[prefix]number|system|code``; ``number||code`` matches a code or a unit in any system."""
    prefix, number, q_system, q_code = parse_quantity_value(value)
    parts = [range_condition(low, high, prefix, *number_search_range(prefix, number))]
    if q_code is not None:
        parts.append(code == q_code)
    if q_system is not None:
        parts.append(system == q_system)
    return and_(*parts)


def token_condition(system: Column, code: Column, value: str) -> ColumnElement[bool]:
    """``system|code``, ``code`` (any system), ``|code`` (no system), ``system|`` (any code)."""
    q_system, q_code = parse_token_value(value)
    parts = []
    if q_code is not None:
        parts.append(code == q_code)
    if q_system == "":
        parts.append(system.is_(None))
    elif q_system is not None:
        parts.append(system == q_system)
    if not parts:
        raise SearchValueError("a token needs a code or a system")
    return and_(*parts)


def string_condition(norm: Column, value: str) -> ColumnElement[bool]:
    """The default string match: starts with the value, ignoring case, accents and extra spaces."""
    return starts_with(norm, normalize_string(unescape(value)))


def words_conditions(word: Column, value: str) -> list[ColumnElement[bool]]:
    """``_text``/``_content``: one condition per word of the value, each to be met by a row.

    A word of the value matches a word of the resource that starts with it.
    """
    found = words(unescape(value))
    if not found:
        raise SearchValueError(f"'{unescape(value)}' has no words to search for")
    return [starts_with(word, item) for item in found]


def local_reference(url: Column, base: str | None) -> ColumnElement[bool]:
    """A stored reference that points into this server: relative, or absolute on ``base``."""
    if base is None:
        return url.is_(None)
    return or_(url.is_(None), starts_with(url, base + "/"))


def reference_condition(
    target_type: Column,
    target_id: Column,
    url: Column | None,
    value: str,
    modifier: str | None,
    base: str | None,
) -> ColumnElement[bool]:
    """``Type/id`` and ``id`` (with ``:Type``) match local references; an absolute URL, or a bare
    value that is a reference's literal text, matches that text."""
    q_type, q_id, q_literal = parse_reference_value(value, modifier, base)
    literal = (url if url is not None else target_id) == q_literal if q_literal is not None else None
    if q_id is None:
        assert literal is not None
        return literal
    parts = [target_id == q_id]
    if q_type is not None:
        parts.append(target_type == q_type)
    if url is not None:
        parts.append(local_reference(url, base))
    local = and_(*parts)
    return or_(local, literal) if literal is not None and url is not None else local


def uri_condition(uri: Column, value: str, modifier: str | None) -> ColumnElement[bool]:
    """Equality; ``:below`` is a prefix; ``:above`` matches the value and its parents by path segment."""
    text = unescape(value)
    if modifier == "below":
        return starts_with(uri, text)
    if modifier == "above":
        return uri.in_(uri_parents(text))
    return uri == text


def uri_parents(text: str) -> list[str]:
    """``http://a/b/c`` and its parents by path segment: ``http://a/b``, ``http://a``..."""
    scheme_end = text.find("://")
    start = scheme_end + 3 if scheme_end >= 0 else 0
    parents = [text]
    cut = len(text)
    while True:
        cut = text.rfind("/", start, cut)
        if cut <= start:
            return parents
        parents.append(text[:cut])
