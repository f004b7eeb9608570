"""The independent side of the search conformance test: what a search over the official examples
should find, from fhirpathpy evaluations and a plain-Python reading of search.html.

For every resource and search parameter, fhirpathpy (through the :class:`Oracle` of the
extraction test) gives the typed values; the project's normalisation (``add_values``: the same
folding of strings, ranges of dates and decimals) turns them into rows. A :class:`Probe` is one
search value generated from a resource's values, with a predicate deciding, from those rows
alone, whether any resource matches it. Neither the server's value parser nor its SQL is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ehp.fhir.fhirpath_parse import split_union
from ehp.index.extract import (
    DATE_MAX,
    DATE_MIN,
    IndexRows,
    add_values,
    date_range,
    normalize_string,
    number_range,
)
from ehp.index.normalization import decimal_text
from ehp.index.parameters import parameter_by_url, parameters_for
from tests.search.test_extract import Oracle

KINDS = ("token", "string", "reference", "date", "number", "quantity", "uri", "composite")
QUANTITIES = frozenset(
    {"Quantity", "Age", "Count", "Distance", "Duration", "SimpleQuantity", "MoneyQuantity"}
)
DATES = frozenset({"date", "dateTime", "instant"})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INF = float("inf")
Predicate = Callable[["Values"], bool]


@dataclass(slots=True)
class Values:
    """A resource's values for one parameter: index rows, typed nodes, or composite elements."""

    rows: IndexRows = field(default_factory=IndexRows)
    nodes: list[tuple[Any, str]] = field(default_factory=list)
    elements: list[list[list[tuple[Any, ...]]]] = field(default_factory=list)
    """Composite: per element, per component, the component's rows (without the code)."""


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    value: str
    matches: Predicate


UNSEARCHABLE = {
    "empty": "an empty code or system (invalid FHIR: strings must not be empty): search has no syntax for it",
    "no-target": "a reference that is neither Type/id nor an absolute URL (a relative path with a query, "
    "or a display-only reference): search values cannot name it",
    "open-period": "a date range open at both ends (no start and no end): no search value is inside it",
}
"""Values no search value can express, by reason; the test counts and reports them."""


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|").replace("$", "\\$")


def instant(micros: float) -> str:
    """A microsecond-precision FHIR instant (a search value whose range is that very microsecond)."""
    at = EPOCH + timedelta(microseconds=int(micros))
    return f"{at.year:04d}-{at:%m-%dT%H:%M:%S.%f}Z"


# --- evaluation ----------------------------------------------------------------------------------


def evaluate(oracle: Oracle, resource: dict[str, Any]) -> Iterator[tuple[str, str, Values]]:
    """(code, kind, values) of every supported parameter with a value in ``resource``."""
    resource_type = resource["resourceType"]
    for code, parameter in parameters_for(resource_type).items():
        expression = parameter.expression_for(resource_type)
        if parameter.type not in KINDS or expression is None or code in ("_id", "_lastUpdated"):
            continue
        values = Values()
        if parameter.type == "composite":
            values.elements = _composite(oracle, resource, expression, parameter.components)
            if values.elements:
                yield code, "composite", values
            continue
        values.nodes = oracle.evaluate(expression, resource)
        add_values(values.rows, parameter.type, code, values.nodes)
        if any(getattr(values.rows, name) for name in IndexRows.__slots__):
            yield code, parameter.type, values


def _composite(oracle: Oracle, resource: dict[str, Any], expression: str, components: Any) -> list[Any]:
    """Each element's component rows, evaluating ``operand[i].component`` for every element ``i``."""
    elements = []
    resource_type = resource["resourceType"]
    for operand in split_union(expression):
        for index in range(len(oracle.evaluate(operand, resource))):
            found = []
            for component in components:
                kind = parameter_by_url(component.definition).type
                nodes = []
                for part in split_union(component.expression):
                    if part.startswith("%resource"):
                        path = resource_type + part[len("%resource") :]
                    else:
                        path = f"{operand}[{index}].{part}"
                    nodes += oracle.evaluate(path, resource)
                rows = IndexRows()
                add_values(rows, kind, "", nodes)
                found.append(_component_rows(kind, rows))
            if all(found):
                elements.append(found)
    return elements


def _component_rows(kind: str, rows: IndexRows) -> list[tuple[Any, ...]]:
    if kind == "token":
        return [(kind, system, code) for _, system, code in rows.tokens]
    if kind == "quantity":
        return [(kind, system, code, low, high) for _, system, code, low, high in rows.quantities]
    if kind == "number":
        return [(kind, low, high) for _, low, high in rows.numbers]
    if kind == "date":
        return [(kind, low, high) for _, low, high in rows.dates]
    if kind == "string":
        return [(kind, norm) for _, norm, _ in rows.strings]
    if kind == "reference":
        return [(kind, target_type, target_id, url) for _, target_type, target_id, url in rows.references]
    return [(kind, uri) for _, uri in rows.uris]


# --- probes: a search value from a resource's values, and who must match it ----------------------


def _within(low: float, high: float, q_low: float, q_high: float) -> bool:
    return low >= q_low and high <= q_high


def _ge(low: float, high: float, point: float) -> bool:
    return high > point or _within(low, high, point, point)


def _le(low: float, high: float, point: float) -> bool:
    return low < point or _within(low, high, point, point)


def _range_probe(
    low: float, high: float, text: Callable[[float], str]
) -> tuple[str, Callable[[float, float], bool]]:
    """A search value an exact range [low, high] matches: ``ge`` its low end, else ``le`` its high end."""
    if low not in (-INF, DATE_MIN):
        return f"ge{text(low)}", lambda lo, hi: _ge(lo, hi, low)
    return f"le{text(high)}", lambda lo, hi: _le(lo, hi, high)


def _token_probe(
    system: str | None, code: str | None
) -> tuple[str, Callable[[str | None, str | None], bool]] | None:
    if code == "" or system == "" or (code is None and system is None):
        return None
    if code is None:
        return f"{escape(str(system))}|", lambda s, c: s == system
    if system is None:
        return escape(code), lambda s, c: c == code
    return f"{escape(system)}|{escape(code)}", lambda s, c: s == system and c == code


def probes(code: str, kind: str, values: Values) -> list[Probe] | str:
    """The search values generated from one resource's values (one per resource and parameter,
    plus ``:identifier`` for logical references), or the :data:`UNSEARCHABLE` reason."""
    found = _first(code, kind, values)
    if isinstance(found, str):
        return found
    if kind == "reference" and values.rows.reference_identifiers:
        _, system, value = values.rows.reference_identifiers[0]
        token = _token_probe(system, value)
        if token is not None:
            text, test = token
            found.append(
                Probe(
                    f"{code}:identifier",
                    text,
                    lambda v: any(test(s, c) for _, s, c in v.rows.reference_identifiers),
                )
            )
    return found


def _first(code: str, kind: str, values: Values) -> list[Probe] | str:
    rows = values.rows
    if kind == "token" and rows.tokens:
        token = _token_probe(rows.tokens[0][1], rows.tokens[0][2])
        if token is None:
            return "empty"
        text, test = token
        return [Probe(code, text, lambda v: any(test(s, c) for _, s, c in v.rows.tokens))]
    if kind == "token" and rows.token_texts:
        prefix = rows.token_texts[0][1]
        return [
            Probe(
                f"{code}:text",
                escape(prefix),
                lambda v: any(t.startswith(prefix) for _, t in v.rows.token_texts),
            )
        ]
    if kind == "string" and rows.strings:
        exact = rows.strings[0][2]
        prefix = normalize_string(exact)
        return [Probe(code, escape(exact), lambda v: any(n.startswith(prefix) for _, n, _ in v.rows.strings))]
    if kind == "uri" and rows.uris:
        uri = rows.uris[0][1]
        return [Probe(code, escape(uri), lambda v: any(u == uri for _, u in v.rows.uris))]
    if kind == "reference" and rows.references:
        _, target_type, target_id, url = rows.references[0]
        if url is not None:
            return [Probe(code, escape(url), lambda v: any(r[3] == url for r in v.rows.references))]
        if target_type is None or target_id is None:
            return "no-target"
        return [
            Probe(
                code,
                f"{target_type}/{target_id}",
                lambda v: any(r[1:] == (target_type, target_id, None) for r in v.rows.references),
            )
        ]
    if kind == "date" and rows.dates:
        return [_date_probe(code, values)]
    if kind == "number" and rows.numbers:
        return [_number_probe(code, values)]
    if kind == "quantity" and rows.quantities:
        return [_quantity_probe(code, values)]
    if kind == "composite":
        return _composite_probe(code, values)
    return []


def _date_probe(code: str, values: Values) -> Probe:
    text = next((v for v, t in values.nodes if t in DATES and _date_ok(v)), None)
    if text is not None:
        q_low, q_high = date_range(text)
        return Probe(code, text, lambda v: any(_within(lo, hi, q_low, q_high) for _, lo, hi in v.rows.dates))
    _, low, high = values.rows.dates[0]
    value, test = _range_probe(low, high, instant)
    return Probe(code, value, lambda v: any(test(lo, hi) for _, lo, hi in v.rows.dates))


def _date_ok(value: Any) -> bool:
    try:
        date_range(value)
    except (ValueError, TypeError):
        return False
    return True


def _number_probe(code: str, values: Values) -> Probe:
    plain = next(
        (v for v, t in values.nodes if t in ("decimal", "integer", "positiveInt", "unsignedInt")), None
    )
    if isinstance(plain, int | float) and not isinstance(plain, bool):
        text = decimal_text(plain)
        q_low, q_high = number_range(text)
        return Probe(
            code, text, lambda v: any(_within(lo, hi, q_low, q_high) for _, lo, hi in v.rows.numbers)
        )
    _, low, high = values.rows.numbers[0]
    value, test = _range_probe(low, high, repr)
    return Probe(code, value, lambda v: any(test(lo, hi) for _, lo, hi in v.rows.numbers))


def _quantity_probe(code: str, values: Values) -> Probe:
    _, system, unit, low, high = values.rows.quantities[0]
    node = next((v for v, t in values.nodes if t in QUANTITIES and isinstance(v, dict)), None)
    plain = node is not None and "comparator" not in node and isinstance(node.get("value"), int | float)
    if (
        plain
        and node is not None
        and (node.get("system"), node.get("code") or node.get("unit")) == (system, unit)
    ):
        number = decimal_text(node["value"])
        q_low, q_high = number_range(number)

        def test(lo: float, hi: float) -> bool:
            return _within(lo, hi, q_low, q_high)
    else:
        number, test = _range_probe(low, high, repr)
    units = f"|{escape(system or '')}|{escape(unit or '')}" if system or unit else ""
    return Probe(
        code,
        number + units,
        lambda v: any(
            test(lo, hi) and (system is None or s == system) and (unit is None or c == unit)
            for _, s, c, lo, hi in v.rows.quantities
        ),
    )


def _component_probe(row: tuple[Any, ...]) -> tuple[str, Callable[[tuple[Any, ...]], bool]] | str:
    kind = row[0]
    if kind == "token":
        token = _token_probe(row[1], row[2])
        if token is None:
            return "empty"
        text, test = token
        return text, lambda r: r[0] == "token" and test(r[1], r[2])
    if kind == "string":
        prefix = row[1]
        return escape(prefix), lambda r: r[0] == "string" and r[1].startswith(prefix)
    if kind in ("number", "date", "quantity"):
        low, high = row[-2], row[-1]
        fmt = instant if kind == "date" else repr
        if kind == "date" and high == DATE_MAX and low == DATE_MIN:
            return "open-period"
        value, test = _range_probe(low, high, fmt)
        if kind == "quantity":
            system, unit = row[1], row[2]
            value += f"|{escape(system or '')}|{escape(unit or '')}" if system or unit else ""
            return (
                value,
                lambda r: (
                    r[0] == kind
                    and test(r[3], r[4])
                    and (system is None or r[1] == system)
                    and (unit is None or r[2] == unit)
                ),
            )
        return value, lambda r: r[0] == kind and test(r[-2], r[-1])
    if kind == "reference" and row[1] is not None and row[2] is not None and row[3] is None:
        target = row[1:3]
        return f"{row[1]}/{row[2]}", lambda r: r[0] == "reference" and r[1:3] == target and r[3] is None
    return "no-target"


def _composite_probe(code: str, values: Values) -> list[Probe] | str:
    first = values.elements[0]
    parts = [_component_probe(component[0]) for component in first]
    for part in parts:
        if isinstance(part, str):
            return part
    texts = [part[0] for part in parts if not isinstance(part, str)]
    tests = [part[1] for part in parts if not isinstance(part, str)]

    def matches(v: Values) -> bool:
        return any(
            all(any(test(row) for row in component) for test, component in zip(tests, element, strict=True))
            for element in v.elements
        )

    return [Probe(code, "$".join(texts), matches)]
