r"""Parsing of search values: escapes, prefixes, tokens, quantities, references, composites.

A value is split on its separators before it is unescaped: ``a\,b`` is one value ``a,b`` and
``a\|b`` one code ``a|b`` (search.html#escaping). Splitting keeps the escapes of the other
separators, so ``\$`` survives the split on ``,`` and is only unescaped in a composite's component.
"""

from __future__ import annotations

from decimal import Decimal

from ehp.fhir.definitions import is_resource_type
from ehp.index.normalization import number_range as stored_number_range

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


class SearchValueError(ValueError):
    """A malformed search value."""


def split_escaped(text: str, separator: str) -> list[str]:
    r"""Split on ``separator`` where it is not escaped; the parts keep their escapes (``\,``)."""
    parts: list[str] = []
    start = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == separator:
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return parts


def unescape(text: str) -> str:
    r"""Drop the backslash of ``\,`` ``\|`` ``\$`` ``\\`` (a lone trailing backslash stays)."""
    if "\\" not in text:
        return text
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            out.append(text[index + 1])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def split_values(text: str) -> list[str]:
    """The OR'ed values of one criterion (comma-separated), still escaped; empty ones dropped."""
    return [value for value in split_escaped(text, ",") if value != ""]


def split_prefix(value: str, prefixes: tuple[str, ...] = PREFIXES) -> tuple[str, str]:
    """``ge2020`` → (``ge``, ``2020``); no prefix means ``eq``."""
    if len(value) > 2 and value[:2] in prefixes:
        return value[:2], value[2:]
    return "eq", value


def parse_token_value(value: str) -> tuple[str | None, str | None]:
    """A token value: ``system|code``, ``|code`` (system ``""``: none), ``code``, ``system|``.

    The code is None for ``system|`` (any code of the system).
    """
    parts = split_escaped(value, "|")
    if len(parts) == 1:
        return None, unescape(parts[0])
    if len(parts) != 2:
        raise SearchValueError(f"'{unescape(value)}' has more than one '|'")
    system, code = (unescape(part) for part in parts)
    return system, code or None


def parse_of_type_value(value: str) -> tuple[str, str, str]:
    """An ``:of-type`` value: ``type-system|type-code|identifier-value``, all three required."""
    parts = [unescape(part) for part in split_escaped(value, "|")]
    if len(parts) != 3 or not all(parts):
        raise SearchValueError(f"'{unescape(value)}' is not type-system|type-code|value")
    return parts[0], parts[1], parts[2]


def parse_quantity_value(value: str) -> tuple[str, str, str | None, str | None]:
    """``[prefix]number|system|code`` → (prefix, number, system, code); empty parts are None."""
    parts = [unescape(part) for part in split_escaped(value, "|")]
    if len(parts) not in (1, 3):
        raise SearchValueError(f"'{unescape(value)}' is not number or number|system|code")
    prefix, number = split_prefix(parts[0])
    system = parts[1] if len(parts) == 3 and parts[1] else None
    code = parts[2] if len(parts) == 3 and parts[2] else None
    return prefix, number, system, code


def split_composite(value: str, components: int) -> list[str]:
    """The component values of a composite value (``code$value``), still escaped."""
    parts = split_escaped(value, "$")
    if len(parts) != components or not all(parts):
        raise SearchValueError(f"'{unescape(value)}' needs {components} components separated by '$'")
    return parts


def parse_reference_value(
    value: str, modifier: str | None, base: str | None = None
) -> tuple[str | None, str | None, str | None]:
    """A reference search value as (type, id, literal): ``Type/id``; an absolute URL (the literal);
    anything else is an id that may also be a reference's literal text (``library-x``, a relative
    canonical). A ``:Type`` modifier gives the type; a URL on this server's ``base`` is read as
    the relative reference it stands for.
    """
    if modifier is not None and not is_resource_type(modifier):
        raise SearchValueError(f"the modifier ':{modifier}' is not supported on reference parameters")
    value = unescape(value)
    if base is not None and value.startswith(base + "/"):
        value = value[len(base) + 1 :]
    if value.startswith(("http://", "https://", "urn:")):
        return None, None, value.split("|", 1)[0]
    segments = value.split("/")
    if is_resource_type(segments[0]) and len(segments) > 1:
        if len(segments) not in (2, 4) or (len(segments) == 4 and segments[2] != "_history"):
            raise SearchValueError(f"'{value}' is not a reference (Type/id, id or an absolute URL)")
        if modifier is not None and modifier != segments[0]:
            raise SearchValueError(f"'{value}' is not a {modifier}")
        return segments[0], segments[1], None
    if not value:
        raise SearchValueError("an empty reference")
    return modifier, value, value if modifier is None else None


def number_range(text: str) -> tuple[float, float]:
    """The implicit range of a decimal search value's precision (``100`` is [99.5, 100.5])."""
    try:
        return stored_number_range(text)
    except ValueError:
        raise SearchValueError(f"'{text}' is not a number") from None


def exact_number(text: str) -> float:
    """A number search value taken exactly (for ``lt`` ``le`` ``gt`` ``ge`` ``sa`` ``eb``)."""
    number_range(text)  # validates
    return float(Decimal(text))
