"""Index rows for a resource: the values of its search parameters, ready for ``executemany``.

Every row is a tuple whose first item is the search parameter code. Per value kind:

* token: Coding → (system, code); CodeableConcept → each coding; Identifier → (system, value);
  ContactPoint → (system, value); code, string, id, uri and the other string primitives → (None,
  value); boolean → (None, "true"/"false"). Texts for ``:text`` (CodeableConcept.text,
  Coding.display, Identifier.type.text) go to ``token_texts``, normalised; Identifier.type codings
  with the identifier's value go to ``identifier_types`` for ``:of-type``. Texts are cut to
  :data:`MAX_STRING_LENGTH` characters.
* string: each part of a HumanName (family, given, prefix, suffix, text) and of an Address (line,
  city, district, state, postalCode, country, text) is its own row (normalised, exact); both are
  cut to :data:`MAX_STRING_LENGTH` characters so they fit a B-tree index.
* date: (low, high) microseconds, see :func:`date_range`; a Period's open ends are
  :data:`DATE_MIN`/:data:`DATE_MAX`; a Timing covers its events and bounds (its outer limits, as
  the specification says); malformed dates are skipped (validation is not the indexer's job).
* number: decimals by the implicit range of their precision (``100`` → 99.5..100.5); integers
  are exact; a Range from its low to its high (open ends infinite).
* quantity: (system, code, low, high) by the value's precision, widened to infinity by a
  comparator (``<5``); a quantity with a unit that differs from its code gets a second row
  (None, unit, ...) so that ``5||mg`` finds unit-only quantities; Money → currency as code with
  system ``urn:iso:std:iso:4217``; Range → from low to high; SampledData is not indexed.
* reference: ``Patient/1`` → ("Patient", "1", None); an absolute URL → (type, id, url) with type
  and id read from a ``.../Type/id`` tail (else None); ``urn:uuid:...`` → (Reference.type, None,
  url); a canonical → like an absolute URL, ``|version`` removed; local ``#id`` references are not
  indexed (the contained resource is part of this one); a resource (``Bundle.entry[0].resource``)
  → (type, id, None); an Attachment (``Consent.source``) is not indexed. Reference.identifier goes
  to ``reference_identifiers``.
* uri: the uri as is.

* composite: see :mod:`ehp.index.composites` (component values numbered by their element).
* ``_text`` and ``_content``: the distinct normalised words (:func:`words`) of the narrative and of
  every string of the resource (:func:`narrative_text`, :func:`content_text`).

The special ``near`` is not extracted, nor ``_id`` and ``_lastUpdated`` (columns of the store).
Rows are de-duplicated per resource.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from functools import cache, lru_cache
from typing import Any

from ehp.index.compiled import compiled_for
from ehp.index.composites import CompositeRow, add_composites
from ehp.index.fhirpath_compile import Node
from ehp.index.normalization import (
    DATE_MAX,
    DATE_MIN,
    date_range,
    decimal_text,
    normalize_string,
    number_range,
    words,
)
from ehp.index.parameters import overlay_generation, parameters_for, resource_types
from ehp.index.refs import split_reference

__all__ = [
    "DATE_MAX",
    "DATE_MIN",
    "MAX_STRING_LENGTH",
    "IndexRows",
    "add_values",
    "content_text",
    "date_range",
    "extract_index",
    "narrative_text",
    "normalize_string",
    "number_range",
]

MAX_STRING_LENGTH = 512
"""String and token text rows keep this many characters (a PostgreSQL B-tree entry must stay < 2.7 kB)."""
MAX_CONTENT_LENGTH = 100_000
"""``_content`` indexes the words of about this many characters of a resource's strings (the
median resource has 700, a few conformance resources millions)."""
MONEY_SYSTEM = "urn:iso:std:iso:4217"
_STORE_COLUMNS = frozenset({"_id", "_lastUpdated"})
_INF = float("inf")


@dataclass(slots=True)
class IndexRows:
    """A resource's index rows, one list per index table; the first item of a row is the parameter code."""

    tokens: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    token_texts: list[tuple[str, str]] = field(default_factory=list)
    identifier_types: list[tuple[str, str | None, str | None, str]] = field(default_factory=list)
    strings: list[tuple[str, str, str]] = field(default_factory=list)
    dates: list[tuple[str, int, int]] = field(default_factory=list)
    numbers: list[tuple[str, float, float]] = field(default_factory=list)
    quantities: list[tuple[str, str | None, str | None, float, float]] = field(default_factory=list)
    references: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    reference_identifiers: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    uris: list[tuple[str, str]] = field(default_factory=list)
    composites: list[CompositeRow] = field(default_factory=list)
    words: list[tuple[str, str]] = field(default_factory=list)

    def deduplicate(self) -> None:
        """Drop repeated rows, keeping the first occurrence's order."""
        for name in _ROW_LISTS:
            rows = getattr(self, name)
            if len(rows) > 1:
                setattr(self, name, list(dict.fromkeys(rows)))


_ROW_LISTS = tuple(item.name for item in fields(IndexRows))


_Adder = Callable[[IndexRows, str, Any], None]


def _text(value: Any) -> str | None:
    """``value`` when it is a string: rows only hold strings and numbers, even from malformed input."""
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array (an array element may hold anything in malformed input)."""
    return value if type(value) is list else []


# --- token ---------------------------------------------------------------------------------------


def _token_text(rows: IndexRows, code: str, text: Any) -> None:
    if isinstance(text, str) and text:
        rows.token_texts.append((code, normalize_string(text[:MAX_STRING_LENGTH])))


def _token_coding(rows: IndexRows, code: str, coding: Any) -> None:
    system, value = _text(coding.get("system")), _text(coding.get("code"))
    if system is not None or value is not None:
        rows.tokens.append((code, system, value))
    _token_text(rows, code, coding.get("display"))


def _token_concept(rows: IndexRows, code: str, concept: Any) -> None:
    for coding in _list(concept.get("coding")):
        if isinstance(coding, dict):
            _token_coding(rows, code, coding)
    _token_text(rows, code, concept.get("text"))


def _token_identifier(rows: IndexRows, code: str, identifier: Any) -> None:
    system, value = _text(identifier.get("system")), _text(identifier.get("value"))
    if system is not None or value is not None:
        rows.tokens.append((code, system, value))
    kind = identifier.get("type")
    if isinstance(kind, dict):
        _token_text(rows, code, kind.get("text"))
        if value is not None:
            for coding in _list(kind.get("coding")):
                if isinstance(coding, dict):
                    type_system, type_code = _text(coding.get("system")), _text(coding.get("code"))
                    rows.identifier_types.append((code, type_system, type_code, value))


def _token_contact(rows: IndexRows, code: str, contact: Any) -> None:
    """A ContactPoint is the token ``system|value`` (``phone|+7 701 ...``): its system says what
    the value is, as the spec's token search for ContactPoint asks; ``telecom=value`` still
    matches whatever the system."""
    value = contact.get("value")
    if isinstance(value, str):
        system = contact.get("system")
        rows.tokens.append((code, system if isinstance(system, str) and system else None, value))


def _token_primitive(rows: IndexRows, code: str, value: Any) -> None:
    if isinstance(value, bool):
        rows.tokens.append((code, None, "true" if value else "false"))
    elif isinstance(value, str):
        rows.tokens.append((code, None, value))


# --- string --------------------------------------------------------------------------------------


def _string_value(rows: IndexRows, code: str, value: Any) -> None:
    if isinstance(value, str) and value:
        exact = value[:MAX_STRING_LENGTH]
        rows.strings.append((code, normalize_string(exact), exact))


def _string_parts(*keys: str) -> _Adder:
    def add(rows: IndexRows, code: str, value: Any) -> None:
        for key in keys:
            part = value.get(key)
            if type(part) is list:
                for item in part:
                    _string_value(rows, code, item)
            else:
                _string_value(rows, code, part)

    return add


# --- date ----------------------------------------------------------------------------------------


def _range_of(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    try:
        return date_range(value)
    except ValueError:
        return None


def _date_value(rows: IndexRows, code: str, value: Any) -> None:
    found = _range_of(value)
    if found is not None:
        rows.dates.append((code, *found))


def _period_range(period: Any) -> tuple[int, int] | None:
    start, end = _range_of(period.get("start")), _range_of(period.get("end"))
    if start is None and end is None:
        return None
    return (DATE_MIN if start is None else start[0]), (DATE_MAX if end is None else end[1])


def _date_period(rows: IndexRows, code: str, period: Any) -> None:
    found = _period_range(period)
    if found is not None:
        rows.dates.append((code, *found))


def _date_timing(rows: IndexRows, code: str, timing: Any) -> None:
    ranges = [found for found in map(_range_of, _list(timing.get("event"))) if found is not None]
    repeat = timing.get("repeat")
    if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
        bounds = _period_range(repeat["boundsPeriod"])
        if bounds is not None:
            ranges.append(bounds)
    if ranges:
        rows.dates.append((code, min(low for low, _ in ranges), max(high for _, high in ranges)))


# --- number and quantity -------------------------------------------------------------------------


def _number_range(value: Any) -> tuple[float, float] | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return number_range(decimal_text(value))
    except ValueError:
        return None


def _number_decimal(rows: IndexRows, code: str, value: Any) -> None:
    found = _number_range(value)
    if found is not None:
        rows.numbers.append((code, *found))


def _number_integer(rows: IndexRows, code: str, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        rows.numbers.append((code, float(value), float(value)))


def _range_bounds(range_value: Any) -> tuple[float, float, dict[str, Any] | None] | None:
    """Low and high of a Range (infinite when open), and the quantity giving its unit."""
    low_quantity, high_quantity = range_value.get("low"), range_value.get("high")
    low = _number_range(low_quantity.get("value")) if isinstance(low_quantity, dict) else None
    high = _number_range(high_quantity.get("value")) if isinstance(high_quantity, dict) else None
    if low is None and high is None:
        return None
    unit = low_quantity if low is not None else high_quantity
    return (-_INF if low is None else low[0]), (_INF if high is None else high[1]), unit


def _number_range_value(rows: IndexRows, code: str, value: Any) -> None:
    bounds = _range_bounds(value)
    if bounds is not None:
        rows.numbers.append((code, bounds[0], bounds[1]))


def _quantity_rows(rows: IndexRows, code: str, quantity: dict[str, Any], low: float, high: float) -> None:
    system, unit_code, unit = (
        _text(quantity.get("system")),
        _text(quantity.get("code")),
        _text(quantity.get("unit")),
    )
    rows.quantities.append((code, system, unit_code if unit_code is not None else unit, low, high))
    if unit_code is not None and unit is not None and unit != unit_code:
        rows.quantities.append((code, None, unit, low, high))


def _quantity(rows: IndexRows, code: str, quantity: Any) -> None:
    found = _number_range(quantity.get("value"))
    if found is None:
        return
    low, high = found
    comparator = quantity.get("comparator")
    if comparator in ("<", "<="):
        low = -_INF
    elif comparator in (">", ">="):
        high = _INF
    _quantity_rows(rows, code, quantity, low, high)


def _quantity_money(rows: IndexRows, code: str, money: Any) -> None:
    found = _number_range(money.get("value"))
    if found is not None:
        rows.quantities.append((code, MONEY_SYSTEM, _text(money.get("currency")), *found))


def _quantity_range(rows: IndexRows, code: str, value: Any) -> None:
    bounds = _range_bounds(value)
    if bounds is not None:
        low, high, unit = bounds
        _quantity_rows(rows, code, unit or {}, low, high)


# --- reference and uri ---------------------------------------------------------------------------


def _reference_text(rows: IndexRows, code: str, text: str, declared_type: Any) -> None:
    if text.startswith("#"):
        return
    target_type, target_id, absolute = split_reference(text, resource_types())
    if target_type is None and isinstance(declared_type, str):
        declared_type = declared_type.rsplit("/", 1)[-1]
        if declared_type in resource_types():
            target_type = declared_type
    url = text.split("|", 1)[0] if absolute or target_type is None else None
    rows.references.append((code, target_type, target_id, url))


def _reference(rows: IndexRows, code: str, reference: Any) -> None:
    text = reference.get("reference")
    if isinstance(text, str):
        _reference_text(rows, code, text, reference.get("type"))
    identifier = reference.get("identifier")
    if isinstance(identifier, dict):
        system, value = _text(identifier.get("system")), _text(identifier.get("value"))
        if system is not None or value is not None:
            rows.reference_identifiers.append((code, system, value))


def _reference_canonical(rows: IndexRows, code: str, value: Any) -> None:
    if isinstance(value, str):
        _reference_text(rows, code, value, None)


def _reference_resource(rows: IndexRows, code: str, resource: Any) -> None:
    resource_id = _text(resource.get("id"))
    if resource_id is not None:
        rows.references.append((code, _text(resource.get("resourceType")), resource_id, None))


def _uri(rows: IndexRows, code: str, value: Any) -> None:
    if isinstance(value, str):
        rows.uris.append((code, value))


# --- dispatch ------------------------------------------------------------------------------------

_STRING_PRIMITIVES = ("string", "code", "id", "markdown", "uri", "url", "canonical", "oid", "uuid")
_QUANTITIES = ("Quantity", "Age", "Count", "Distance", "Duration", "SimpleQuantity", "MoneyQuantity")

ADDERS: dict[str, dict[str, _Adder]] = {
    "token": {
        "Coding": _token_coding,
        "CodeableConcept": _token_concept,
        "Identifier": _token_identifier,
        "ContactPoint": _token_contact,
        "boolean": _token_primitive,
        **dict.fromkeys(_STRING_PRIMITIVES, _token_primitive),
    },
    "string": {
        "HumanName": _string_parts("family", "given", "prefix", "suffix", "text"),
        "Address": _string_parts("line", "city", "district", "state", "postalCode", "country", "text"),
        **dict.fromkeys(_STRING_PRIMITIVES, _string_value),
    },
    "date": {
        "date": _date_value,
        "dateTime": _date_value,
        "instant": _date_value,
        "Period": _date_period,
        "Timing": _date_timing,
    },
    "number": {
        "decimal": _number_decimal,
        "integer": _number_integer,
        "positiveInt": _number_integer,
        "unsignedInt": _number_integer,
        "Range": _number_range_value,
    },
    "quantity": {
        **dict.fromkeys(_QUANTITIES, _quantity),
        "Money": _quantity_money,
        "Range": _quantity_range,
    },
    "reference": {
        "Reference": _reference,
        "canonical": _reference_canonical,
        "uri": _reference_canonical,
        "url": _reference_canonical,
        "Resource": _reference_resource,
    },
    "uri": dict.fromkeys(("uri", "url", "canonical", "oid", "uuid"), _uri),
}
"""Row builders per parameter type and FHIR type of the value; other value types give no rows."""


def add_values(rows: IndexRows, param_type: str, code: str, nodes: Iterable[Node]) -> None:
    """Append the rows of typed values ``(value, FHIR type)`` for a parameter of ``param_type``."""
    adders = ADDERS.get(param_type)
    if adders is not None:
        _add(rows, code, nodes, adders)


def _add(rows: IndexRows, code: str, nodes: Iterable[Node], adders: dict[str, _Adder]) -> None:
    for value, value_type in nodes:
        adder = adders.get(value_type)
        # Complex types (capitalised) must be objects; primitive adders check their value's type.
        if adder is not None and (type(value) is dict or value_type[0].islower()):
            adder(rows, code, value)


_Plan = tuple[tuple[str, Callable[[dict[str, Any]], list[Node]], dict[str, _Adder]], ...]


@lru_cache(maxsize=512)  # keyed by the custom parameters' generation, like compiled_for
def _plan(resource_type: str, generation: int) -> _Plan:
    return tuple(
        (entry.parameter.code, entry.extract, ADDERS[entry.parameter.type])
        for entry in compiled_for(resource_type)
        if entry.parameter.code not in _STORE_COLUMNS and entry.parameter.type in ADDERS
    )


def extract_index(resource: dict[str, Any]) -> IndexRows:
    """The index rows of a resource for its type's search parameters.

    Raises ``ValueError`` when ``resourceType`` is not an R4 resource type.
    """
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in resource_types():
        raise ValueError(f"not an R4 resource type: {resource_type!r}")
    rows = IndexRows()
    for code, extract, adders in _plan(resource_type, overlay_generation()):
        _add(rows, code, extract(resource), adders)
    add_composites(rows, resource_type, resource)
    narrative = words(narrative_text(resource))
    if _has_text(resource_type):
        rows.words.extend(("_text", word) for word in narrative)
    content = dict.fromkeys(words("\n".join(_string_values(resource, MAX_CONTENT_LENGTH))))
    content.update(dict.fromkeys(narrative))
    rows.words.extend(("_content", word) for word in content)
    rows.deduplicate()
    return rows


@cache
def _has_text(resource_type: str) -> bool:
    return "_text" in parameters_for(resource_type)


# --- _text and _content --------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_SKIPPED_CONTENT = frozenset({"resourceType", "data", "div", "meta", "id", "system", "reference", "url"})
"""Keys whose values are for machines, not readers: ``_content`` does not index them (``meta`` and
``id`` have their own parameters, code systems, references and extension urls are addresses)."""


def narrative_text(resource: dict[str, Any]) -> str:
    """The text of the narrative (``text.div``) without markup, for ``_text``; "" when there is none."""
    narrative = resource.get("text")
    div = narrative.get("div") if isinstance(narrative, dict) else None
    if not isinstance(div, str):
        return ""
    return " ".join(html.unescape(_TAG.sub(" ", div)).split())


def _string_values(resource: dict[str, Any], limit: int | None = None) -> list[str]:
    """Every string value of the resource, in document order, but markup, the keys of
    :data:`_SKIPPED_CONTENT`, base64 data and the extensions of primitives (``_name`` properties);
    it stops once their length passes ``limit``. Iterative, each key's verdict remembered: keys
    repeat a lot.
    """
    parts: list[str] = []
    size = 0
    stack: list[Any] = [resource]
    skip: dict[str, bool] = {}
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            parts.append(value)
            size += len(value)
            if limit is not None and size > limit:
                break
        elif kind is list:
            stack.extend(reversed(value))
        elif kind is dict:
            kept = []
            for key, item in value.items():
                verdict = skip.get(key)
                if verdict is None:
                    verdict = skip[key] = (
                        key in _SKIPPED_CONTENT or key[:1] == "_" or key.endswith("Base64Binary")
                    )
                if not verdict:
                    kept.append(item)
            stack.extend(reversed(kept))
    return parts


def content_text(resource: dict[str, Any]) -> str:
    """Every string value of the resource (see :func:`_string_values`) and the narrative's text."""
    parts = _string_values(resource)
    narrative = narrative_text(resource)
    if narrative:
        parts.append(narrative)
    return " ".join(" ".join(parts).split())
