"""Index rows of composite search parameters: component values that belong to the SAME element.

A composite parameter (``Observation.component-code-value-quantity``) names elements (each
``Observation.component``) and, relative to each, one expression per component (``code``,
``value.as(Quantity)``). Every value of every component becomes one row
``(code, element, component, system, value, low, high)``: ``element`` numbers the element within
the resource, so a search joins the rows of its components on it and only matches values found
together. Per component type:

* token → (system, code, None, None); string → (None, normalised text, None, None);
* reference → (target type, target id or absolute URL, None, None); uri → (None, uri, None, None);
* quantity → (system, code or unit, low, high); number → (None, None, low, high);
* date → (None, None, low, high) in microseconds as floats (exact up to the year 2255; the open
  ends of a Period are -inf/+inf).

Values are the component's own index rows (:func:`ehp.index.extract.add_values`), so they are
normalised exactly as a plain parameter of that type. An element lacking a value for one of its
components can never match and gives no rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from ehp.fhir.fhirpath_parse import FhirPathSyntaxError
from ehp.index.fhirpath_compile import CompileError, Extractor, compile_expression
from ehp.index.fhirpath_fallback import fallback_extractor
from ehp.index.normalization import DATE_MAX, DATE_MIN
from ehp.index.parameters import parameter_by_url, parameters_for, type_model

if TYPE_CHECKING:
    from ehp.index.extract import IndexRows

CompositeRow = tuple[str, int, int, str | None, str | None, float | None, float | None]
Value = tuple[str | None, str | None, float | None, float | None]
_INF = float("inf")


@dataclass(frozen=True, slots=True)
class _Component:
    type: str
    expression: str
    from_root: bool
    """``%resource.…``: evaluated on the resource, not on the element."""


@dataclass(frozen=True, slots=True)
class _Composite:
    code: str
    elements: Extractor
    components: tuple[_Component, ...]


def _compile(expression: str, base: str) -> Extractor:
    try:
        return compile_expression(expression, base, type_model())
    except (CompileError, FhirPathSyntaxError):
        return fallback_extractor(expression, type_model())


@cache
def _component_extractor(expression: str, base: str) -> Extractor:
    return _compile(expression, base)


@cache
def _plans(resource_type: str) -> tuple[_Composite, ...]:
    plans = []
    for code, parameter in parameters_for(resource_type).items():
        expression = parameter.expression_for(resource_type)
        if parameter.type != "composite" or expression is None:
            continue
        components = tuple(
            _Component(
                parameter_by_url(component.definition).type,
                component.expression,
                component.expression.startswith("%resource"),
            )
            for component in parameter.components
        )
        if all(component.type in _VALUES for component in components):
            plans.append(_Composite(code, _compile(expression, resource_type), components))
    return tuple(plans)


def component_types(resource_type: str, code: str) -> tuple[str, ...]:
    """The search types of a composite parameter's components, in order."""
    for plan in _plans(resource_type):
        if plan.code == code:
            return tuple(component.type for component in plan.components)
    raise KeyError(code)


def _token(rows: IndexRows) -> list[Value]:
    return [(system, code, None, None) for _, system, code in rows.tokens]


def _string(rows: IndexRows) -> list[Value]:
    return [(None, norm, None, None) for _, norm, _ in rows.strings]


def _reference(rows: IndexRows) -> list[Value]:
    return [
        (target_type, target_id if target_id is not None else url, None, None)
        for _, target_type, target_id, url in rows.references
    ]


def _uri(rows: IndexRows) -> list[Value]:
    return [(None, uri, None, None) for _, uri in rows.uris]


def _quantity(rows: IndexRows) -> list[Value]:
    return [(system, unit, low, high) for _, system, unit, low, high in rows.quantities]


def _number(rows: IndexRows) -> list[Value]:
    return [(None, None, low, high) for _, low, high in rows.numbers]


def _date(rows: IndexRows) -> list[Value]:
    return [
        (None, None, -_INF if low <= DATE_MIN else float(low), _INF if high >= DATE_MAX else float(high))
        for _, low, high in rows.dates
    ]


_VALUES: dict[str, Callable[[IndexRows], list[Value]]] = {
    "token": _token,
    "string": _string,
    "reference": _reference,
    "uri": _uri,
    "quantity": _quantity,
    "number": _number,
    "date": _date,
}


def add_composites(rows: IndexRows, resource_type: str, resource: dict[str, Any]) -> None:
    """Append the composite rows of ``resource`` to ``rows.composites``."""
    from ehp.index.extract import IndexRows, add_values  # extract imports this module

    # Composites share components (``code`` of the same element): each is evaluated once.
    seen: dict[tuple[int, str, str, str], list[Value]] = {}

    def values_of(component: _Component, element: dict[str, Any], element_type: str) -> list[Value]:
        target, base = (resource, resource_type) if component.from_root else (element, element_type)
        key = (id(target), component.expression, base, component.type)
        found = seen.get(key)
        if found is None:
            scratch = IndexRows()
            add_values(scratch, component.type, "", _component_extractor(component.expression, base)(target))
            found = seen[key] = _VALUES[component.type](scratch)
        return found

    for plan in _plans(resource_type):
        for element_number, (element, element_type) in enumerate(plan.elements(resource)):
            if type(element) is not dict:
                continue
            found: list[list[Value]] = []
            for component in reversed(plan.components):  # the value component is the rarer one
                values = values_of(component, element, element_type)
                if not values:
                    break
                found.append(values)
            else:
                found.reverse()
                for component_number, values in enumerate(found):
                    rows.composites.extend(
                        (plan.code, element_number, component_number, *value) for value in values
                    )
