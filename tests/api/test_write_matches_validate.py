"""A write is refused exactly when ``$validate`` reports an error (property-based, real HTTP).

Hypothesis builds resources from the R4 element tables: a few elements of the type (its required
ones or not), each with a value of its type, valid or not (a day that does not exist, a code
outside a required binding, a period ending before it starts, a reference to no contained
resource...), nested two levels deep. Each goes to ``POST [type]`` and ``POST [type]/$validate``
on a running server; the answers must agree, and neither may be a server error. About one
generated resource in seven is valid (measured over 200 examples), so both answers are exercised.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ehp.fhir.definitions import ElementDef, element_tables, primitive_types, value_set_codes

TYPES = ("Observation", "Condition", "Procedure", "AllergyIntolerance", "Immunization", "Encounter")
"""Clinical types without business rules of their own (those may refuse what is valid R4)."""
EXAMPLES = int(os.environ.get("EHP_PROPERTY_EXAMPLES", "60"))
SKIPPED = frozenset(
    {"id", "meta", "contained", "extension", "modifierExtension", "implicitRules", "language"}
)

SAMPLES: dict[str, tuple[list[Any], list[Any]]] = {
    # primitive type: (valid values, invalid values)
    "boolean": ([True, False], ["true", 1]),
    "integer": ([0, 7, -3], [1.5, "7", 2**40]),
    "positiveInt": ([1, 12], [0, -1]),
    "unsignedInt": ([0, 3], [-1]),
    "decimal": ([0, 1.5, -2.25], ["1.5", float("inf")]),
    "date": (["2020", "2020-02", "2024-02-29"], ["2023-02-29", "20-01-01", "2020-13"]),
    "dateTime": (["2020-01-02T03:04:05+05:00", "2019"], ["2020-01-02T25:00:00Z", "2020-01-02T03:04"]),
    "instant": (["2020-01-02T03:04:05.123Z"], ["2020-01-02"]),
    "time": (["08:30:00"], ["8:30"]),
    "uri": (["http://example.org/x", "urn:oid:1.2.3"], ["urn:uuid:123", " "]),
    "url": (["https://example.org/a"], [""]),
    "canonical": (["http://hl7.org/fhir/ValueSet/example"], ["urn:uuid:6a2ee390-978e-42c6-8f88-c17dff3bd8a"]),
    "code": (["a-code"], [" padded", ""]),
    "id": (["abc-1"], ["a_b", "x" * 65]),
    "string": (["text", "Айгерим"], ["bell\u0007", "   "]),
    "markdown": (["**bold**"], [""]),
    "base64Binary": (["aGVsbG8="], ["not base64!"]),
}
REFERENCES = (
    ["Patient/p1", "Practitioner/d1", "urn:uuid:3f2504e0-4f89-41d3-9a0c-0305e82c3301"],
    ["#nothing", "bad ref"],
)


def _mostly(valid: list[Any], invalid: list[Any]) -> st.SearchStrategy[Any]:
    """A valid value nine times in ten: most resources then have at most one fault, or none."""
    return st.integers(0, 9).flatmap(lambda roll: st.sampled_from(invalid if roll == 0 else valid))


def _primitive(type_name: str, element: ElementDef) -> st.SearchStrategy[Any]:
    valid, invalid = SAMPLES.get(type_name, SAMPLES["string"])
    if type_name == "code" and element.binding is not None:
        systems = value_set_codes(element.binding)
        if systems:
            valid = sorted(set().union(*systems.values()))[:5]
            invalid = ["bogus", *invalid]
    return _mostly(valid, invalid)


def _value(type_name: str, element: ElementDef, depth: int) -> st.SearchStrategy[Any]:
    if type_name in primitive_types():
        return _primitive(type_name, element)
    if type_name == "Reference":
        return st.builds(lambda target: {"reference": target}, _mostly(*REFERENCES))
    if type_name == "Narrative":
        divs = (['<div xmlns="http://www.w3.org/1999/xhtml">ok</div>'], ["<div><script>x()</script></div>"])
        return st.builds(lambda div: {"status": "generated", "div": div}, _mostly(*divs))
    if depth > 2:
        return st.just({"id": "only-an-id"})  # an element with nothing but an id: ele-1 fails
    return _complex(element.context or type_name, depth + 1)


def _complex(type_name: str, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    table = element_tables()[type_name]
    names = sorted(
        name
        for name, element in table.items()
        if name not in SKIPPED
        and not {"Resource", "Extension"} & set(element.types)
        and (depth < 2 or all(code in primitive_types() or code == "Reference" for code in element.types))
    )
    required = [name for name in names if table[name].min > 0]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        # a nested element has at least one child (an empty object is an error of its own, ele-1)
        chosen = set(draw(st.lists(st.sampled_from(names), min_size=1 if depth else 0, max_size=3)))
        if draw(st.integers(0, 4)) > 0:
            chosen.update(required)
        out: dict[str, Any] = {}
        for name in sorted(chosen):
            element = table[name]
            type_name = draw(st.sampled_from(element.types)) if element.types else "BackboneElement"
            key = name + type_name[0].upper() + type_name[1:] if element.choice else name
            value = draw(_value(type_name, element, depth))
            out[key] = [value] if element.is_array else value
        return out

    return build()


RESOURCES = st.sampled_from(TYPES).flatmap(
    lambda resource_type: _complex(resource_type, 0).map(lambda body: {"resourceType": resource_type, **body})
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(RESOURCES)
def test_a_write_is_refused_exactly_when_validate_finds_an_error(
    fhir: httpx.Client, resource: dict[str, Any]
) -> None:
    resource_type = resource["resourceType"]
    checked = fhir.post(f"{resource_type}/$validate", json=resource)
    assert checked.status_code == 200, checked.text
    errors = [issue for issue in checked.json()["issue"] if issue["severity"] in ("error", "fatal")]
    written = fhir.post(resource_type, json=resource)
    assert written.status_code in (201, 422), written.text
    assert (written.status_code == 422) == bool(errors), (resource, errors, written.text)
    if written.status_code == 422:
        refused = {tuple(issue.get("expression", [])) for issue in written.json()["issue"]}
        assert refused == {tuple(issue.get("expression", [])) for issue in errors}
