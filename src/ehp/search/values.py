"""Parsing of search values: escapes, prefixes, tokens, references and number precision."""

from __future__ import annotations

from ehp.fhir.definitions import is_resource_type
from ehp.search.normalization import number_range as stored_number_range

DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


class SearchValueError(ValueError):
    """A malformed search value."""


def split_escaped(text: str, separator: str) -> list[str]:
    r"""Split on ``separator`` except where escaped with a backslash (``\,`` ``\|`` ``\$``)."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def split_values(text: str) -> list[str]:
    """The OR'ed values of one criterion (comma-separated)."""
    return [value for value in split_escaped(text, ",") if value != ""]


def split_prefix(value: str, prefixes: tuple[str, ...]) -> tuple[str, str]:
    """``ge2020`` → (``ge``, ``2020``); no prefix means ``eq``."""
    if len(value) > 2 and value[:2] in prefixes:
        return value[:2], value[2:]
    return "eq", value


def parse_token_value(value: str) -> tuple[str | None, str | None]:
    """Split a token value: ``system|code``, ``|code`` (system ``""``: none), ``code``, ``system|``."""
    parts = split_escaped(value, "|")
    if len(parts) == 1:
        return None, parts[0]
    if len(parts) != 2:
        raise SearchValueError(f"'{value}' has more than one '|'")
    system, code = parts
    return system, code or None


def parse_reference_value(value: str, modifier: str | None) -> tuple[str | None, str | None, str | None]:
    """A reference search value as (type, id, absolute URL); a ``:Type`` modifier gives the type."""
    if modifier is not None and not is_resource_type(modifier):
        raise SearchValueError(f"the modifier ':{modifier}' is not supported on reference parameters")
    if value.startswith(("http://", "https://", "urn:")):
        return None, None, value
    segments = value.split("/")
    if len(segments) in (2, 4) and is_resource_type(segments[0]):
        if len(segments) == 4 and segments[2] != "_history":
            raise SearchValueError(f"'{value}' is not a reference (Type/id, id or an absolute URL)")
        if modifier is not None and modifier != segments[0]:
            raise SearchValueError(f"'{value}' is not a {modifier}")
        return segments[0], segments[1], None
    if len(segments) == 1:
        return modifier, value, None
    raise SearchValueError(f"'{value}' is not a reference (Type/id, id or an absolute URL)")


def number_range(text: str) -> tuple[float, float]:
    """The implicit range of a decimal search value's precision (``100`` is [99.5, 100.5])."""
    try:
        return stored_number_range(text)
    except ValueError:
        raise SearchValueError(f"'{text}' is not a number") from None
