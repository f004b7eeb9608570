"""Index extraction: agreement with fhirpathpy on every official example, value types, speed."""

from __future__ import annotations

import copy
import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from hypothesis import given, settings
from hypothesis import strategies as st

from ehp.fhir.fhirpath_parse import split_union
from ehp.fhir.jsonio import FhirDecimal, loads
from ehp.fhir.package import examples_package_dir
from ehp.index.compiled import compile_stats, compiled_for
from ehp.index.extract import (
    DATE_MAX,
    DATE_MIN,
    IndexRows,
    add_values,
    content_text,
    date_range,
    extract_index,
    narrative_text,
    normalize_string,
    number_range,
)
from ehp.index.fhirpath_compile import compile_expression
from ehp.index.fhirpath_fallback import fallback_extractor
from ehp.index.parameters import parameters_for, type_model

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ROW_KINDS = ("token", "string", "reference", "date", "number", "quantity", "uri")

# fhirpathpy follows FHIRPath N1, where ``as`` on a collection of several items is an error; R4's
# expressions mean a filter (``ofType``), as soon as a resource repeats the element (two components,
# two useContexts...). These operands are evaluated again as ``path.ofType(Type)``.
AS_ON_SEVERAL_ITEMS = frozenset(
    {
        "(ActivityDefinition.useContext.value as CodeableConcept)",
        "(ActivityDefinition.useContext.value as Quantity)",
        "(ActivityDefinition.useContext.value as Range)",
        "(Composition.relatesTo.target as Identifier)",
        "(Composition.relatesTo.target as Reference)",
        "(Group.characteristic.value as CodeableConcept)",
        "(Group.characteristic.value as boolean)",
        "(Library.useContext.value as CodeableConcept)",
        "(Library.useContext.value as Quantity)",
        "(Library.useContext.value as Range)",
        "(Measure.useContext.value as CodeableConcept)",
        "(Measure.useContext.value as Quantity)",
        "(Measure.useContext.value as Range)",
        "(Medication.ingredient.item as CodeableConcept)",
        "(Medication.ingredient.item as Reference)",
        "(Observation.component.value as CodeableConcept)",
        "(Observation.component.value as Quantity)",
        "(Observation.component.value as SampledData)",
        "(PlanDefinition.useContext.value as CodeableConcept)",
        "(PlanDefinition.useContext.value as Quantity)",
        "(PlanDefinition.useContext.value as Range)",
        "(Substance.ingredient.substance as CodeableConcept)",
        "(Substance.ingredient.substance as Reference)",
    }
)
_CAST = re.compile(r"^\(([A-Za-z.]+) as ([A-Za-z]+)\)$")
_ORACLE_REFERENCE = re.compile(r"(?:.*/)?([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/.*)?")


@cache
def official_examples() -> tuple[tuple[str, dict[str, Any]], ...]:
    """Every resource of the examples package, Bundles as Bundles (their entries are not unpacked)."""
    found = []
    for path in sorted(examples_package_dir().glob("*.json")):
        resource = loads(path.read_bytes())
        if isinstance(resource, dict) and "resourceType" in resource:
            found.append((path.name, resource))
    return tuple(found)


class Oracle:
    """fhirpathpy with its R4 model, adapted where it cannot evaluate R4 search expressions.

    * ``resolve()`` is not implemented: it is given an implementation of the same rules as the
      indexer's (type from a relative or absolute reference, a contained resource for ``#id``,
      else ``Reference.type``);
    * ``|`` returns nodes without their types (the ``path`` of its ResourceNodes is None), so the
      top-level operands of a union are evaluated one by one;
    * a leading ``Resource.`` does not match a concrete resource, so it is replaced by the type;
    * ``as`` on several items raises: see :data:`AS_ON_SEVERAL_ITEMS`.
    """

    def __init__(self) -> None:
        self.root: dict[str, Any] = {}
        self.compiled: dict[str, Any] = {}
        self.recast: Counter[str] = Counter()
        resolve = {"fn": self.resolve, "arity": {0: []}}
        self.options = {"returnRawData": True, "userInvocationTable": {"resolve": resolve}}

    def resolve(self, inputs: Sequence[Any]) -> list[Any]:
        found = []
        for value in inputs:
            reference = value.get("reference") if isinstance(value, dict) else None
            if isinstance(reference, str) and reference.startswith("#"):
                found += [c for c in self.root.get("contained", []) if c.get("id") == reference[1:]]
                continue
            match = _ORACLE_REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
            if match:
                found.append({"resourceType": match.group(1)})
            elif isinstance(value, dict) and isinstance(value.get("type"), str):
                found.append({"resourceType": value["type"].rsplit("/", 1)[-1]})
        create_node: Any = ResourceNode.create_node
        return [create_node(resource) for resource in found]

    def evaluate(self, expression: str, resource: dict[str, Any]) -> list[tuple[Any, str]]:
        self.root = resource
        expression = re.sub(r"^(Resource|DomainResource)\.", resource["resourceType"] + ".", expression)
        nodes: list[tuple[Any, str]] = []
        for operand in split_union(expression):
            try:
                raw = self.run(operand, resource)
            except ValueError as error:
                cast = _CAST.fullmatch(operand)
                if cast is None or "singleton" not in str(error):
                    raise
                self.recast[operand] += 1
                raw = self.run(f"{cast.group(1)}.ofType({cast.group(2)})", resource)
            nodes += [self.typed(item) for item in raw]
        return nodes

    def run(self, expression: str, resource: dict[str, Any]) -> list[Any]:
        if expression not in self.compiled:
            self.compiled[expression] = fhirpathpy.compile(expression, models["r4"], self.options)
        result: list[Any] = self.compiled[expression](resource, {})
        return result

    @staticmethod
    def typed(item: Any) -> tuple[Any, str]:
        value, path = (item.data, item.path) if isinstance(item, ResourceNode) else (item, None)
        if isinstance(value, Decimal):
            value = FhirDecimal(str(value))
        if isinstance(value, dict) and "resourceType" in value:
            return value, "Resource"
        if path is None:
            path = "boolean" if isinstance(value, bool) else "string"
        return value, path


def _rows_of(rows: IndexRows, code: str) -> dict[str, set[tuple[Any, ...]]]:
    return {name: {row for row in getattr(rows, name) if row[0] == code} for name in IndexRows.__slots__}


@pytest.mark.slow
def test_agreement_with_fhirpathpy_on_every_official_example(capsys: pytest.CaptureFixture[str]) -> None:
    oracle = Oracle()
    pairs = agreeing = with_values = 0
    disagreements: list[str] = []
    for name, resource in official_examples():
        ours = extract_index(resource)
        for code, parameter in parameters_for(resource["resourceType"]).items():
            expression = parameter.expression_for(resource["resourceType"])
            if parameter.type not in ROW_KINDS or expression is None or code in ("_id", "_lastUpdated"):
                continue
            expected = IndexRows()
            add_values(expected, parameter.type, code, oracle.evaluate(expression, resource))
            pairs += 1
            mine, theirs = _rows_of(ours, code), _rows_of(expected, code)
            with_values += any(mine.values())
            if mine == theirs:
                agreeing += 1
            else:
                disagreements.append(f"{name} {code}: ours {mine} fhirpathpy {theirs}")
    with capsys.disabled():
        print(
            f"\nagreement with fhirpathpy: {agreeing}/{pairs} (parameter, resource) pairs "
            f"({agreeing / pairs:.4%}), {with_values} pairs with values; "
            f"'as' re-evaluated as ofType() on {sum(oracle.recast.values())} evaluations"
        )
    assert not disagreements, "\n".join(disagreements[:20])
    assert set(oracle.recast) <= AS_ON_SEVERAL_ITEMS
    assert pairs > 100_000
    assert len(official_examples()) == 5306


def test_extraction_speed(capsys: pytest.CaptureFixture[str]) -> None:
    examples = [resource for _, resource in official_examples()]
    observations = [resource for resource in examples if resource["resourceType"] == "Observation"]
    for resource in examples:  # compile and warm the caches
        extract_index(resource)
    start = time.perf_counter()
    for resource in examples:
        extract_index(resource)
    mean_all = (time.perf_counter() - start) / len(examples) * 1e6
    start = time.perf_counter()
    for _ in range(10):
        for resource in observations:
            extract_index(resource)
    mean_observation = (time.perf_counter() - start) / (10 * len(observations)) * 1e6
    with capsys.disabled():
        print(
            f"\nextract_index: {mean_all:.0f} µs mean over {len(examples)} examples, "
            f"{mean_observation:.0f} µs per Observation"
        )
    assert mean_all < 2000


def test_compile_stats() -> None:
    stats = compile_stats()
    assert stats.total == 1375
    assert stats.compiled + stats.fallback + stats.unsupported + stats.skipped == stats.total
    assert stats.fallback < 0.02 * stats.total
    assert len(stats.fallback_expressions) >= stats.fallback
    assert stats.skipped == 47  # 46 composites and Location.near
    assert {entry.split()[0].rsplit("/", 1)[-1] for entry in stats.unsupported_parameters} == {
        "DomainResource-text",
        "Resource-content",
        "Resource-query",
    }


def test_parameters_include_resource_and_domain_resource_ones() -> None:
    patient = parameters_for("Patient")
    for code in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "_text", "name"):
        assert code in patient
    assert "_text" not in parameters_for("Bundle")
    assert patient["_tag"].expression_for("Patient") == "Resource.meta.tag"
    clinical_patient = parameters_for("Observation")["patient"]
    assert clinical_patient.expression_for("Observation") == "Observation.subject.where(resolve() is Patient)"
    assert clinical_patient.expression_for("Condition") == "Condition.subject.where(resolve() is Patient)"
    assert "Patient" in clinical_patient.target
    assert all(entry.native for entry in compiled_for("Observation"))
    with pytest.raises(KeyError):
        parameters_for("NotAType")


# --- value types ---------------------------------------------------------------------------------


def rows(resource: dict[str, Any]) -> IndexRows:
    return extract_index(loads(json.dumps(resource)))


def of(found: Sequence[tuple[Any, ...]], code: str) -> list[tuple[Any, ...]]:
    return [row[1:] for row in found if row[0] == code]


def test_human_name_parts_are_separate_rows() -> None:
    name = {
        "family": "Нұрланова",
        "given": ["Әлия", "Ёлка"],
        "prefix": ["Dr."],
        "suffix": ["PhD"],
        "text": "x",
    }
    found = rows({"resourceType": "Patient", "name": [name]})
    assert of(found.strings, "family") == [("нұрланова", "Нұрланова")]
    assert of(found.strings, "given") == [("әлия", "Әлия"), ("елка", "Ёлка")]
    assert of(found.strings, "name") == [
        ("нұрланова", "Нұрланова"),
        ("әлия", "Әлия"),
        ("елка", "Ёлка"),
        ("dr.", "Dr."),
        ("phd", "PhD"),
        ("x", "x"),
    ]


def test_address_parts() -> None:
    address = {
        "line": ["Абай даңғылы 10", "кв. 5"],
        "city": "Алматы",
        "district": "Медеу",
        "state": "ALA",
        "postalCode": "050000",
        "country": "KZ",
        "text": "somewhere",
    }
    found = rows({"resourceType": "Patient", "address": [address]})
    assert [exact for _, exact in of(found.strings, "address")] == [
        "Абай даңғылы 10",
        "кв. 5",
        "Алматы",
        "Медеу",
        "ALA",
        "050000",
        "KZ",
        "somewhere",
    ]
    assert of(found.strings, "address-city") == [("алматы", "Алматы")]
    assert of(found.strings, "address-postalcode") == [("050000", "050000")]


def test_identifier_tokens_types_and_texts() -> None:
    identifier = {
        "system": "urn:iin",
        "value": "900101300123",
        "type": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}],
            "text": "ИИН",
        },
    }
    found = rows({"resourceType": "Patient", "identifier": [identifier, {"value": "no-system"}]})
    assert of(found.tokens, "identifier") == [("urn:iin", "900101300123"), (None, "no-system")]
    assert of(found.identifier_types, "identifier") == [
        ("http://terminology.hl7.org/CodeSystem/v2-0203", "NI", "900101300123")
    ]
    assert of(found.token_texts, "identifier") == [("иин",)]


def test_codeable_concept_coding_contact_point_and_boolean() -> None:
    code = {
        "coding": [
            {"system": "http://loinc.org", "code": "8480-6", "display": "Systolic"},
            {"system": "http://loinc.org", "code": "8480-6", "display": "Systolic"},
        ],
        "text": "Давление",
    }
    found = rows({"resourceType": "Observation", "status": "final", "code": code, "valueBoolean": True})
    assert of(found.tokens, "code") == [("http://loinc.org", "8480-6")]  # de-duplicated
    assert of(found.token_texts, "code") == [("systolic",), ("давление",)]
    assert of(found.tokens, "status") == [(None, "final")]
    telecom = [{"system": "phone", "value": "+7 701 000 0000"}, {"system": "email", "value": "a@b.kz"}]
    patient = rows({"resourceType": "Patient", "active": False, "telecom": telecom})
    assert of(patient.tokens, "telecom") == [("phone", "+7 701 000 0000"), ("email", "a@b.kz")]
    assert of(patient.tokens, "phone") == [("phone", "+7 701 000 0000")]
    assert of(patient.tokens, "email") == [("email", "a@b.kz")]
    assert of(patient.tokens, "active") == [(None, "false")]
    assert of(patient.tokens, "deceased") == [(None, "false")]  # deceased.exists() and ... is false


def test_meta_parameters_and_store_columns() -> None:
    meta = {
        "versionId": "1",
        "lastUpdated": "2024-01-01T00:00:00Z",
        "tag": [{"system": "urn:tags", "code": "t1"}],
        "security": [{"system": "urn:sec", "code": "R"}],
        "profile": ["http://example.org/StructureDefinition/kz-patient|1.0"],
        "source": "urn:source#1",
    }
    found = rows({"resourceType": "Patient", "id": "p1", "meta": meta})
    assert of(found.tokens, "_tag") == [("urn:tags", "t1")]
    assert of(found.tokens, "_security") == [("urn:sec", "R")]
    assert of(found.uris, "_profile") == [("http://example.org/StructureDefinition/kz-patient|1.0",)]
    assert of(found.uris, "_source") == [("urn:source#1",)]
    assert not of(found.tokens, "_id") and not of(found.dates, "_lastUpdated")


def test_dates_periods_and_timings() -> None:
    found = rows({"resourceType": "Encounter", "status": "finished", "period": {"start": "2020-03"}})
    assert of(found.dates, "date") == [(date_range("2020-03")[0], DATE_MAX)]
    found = rows({"resourceType": "Encounter", "status": "finished", "period": {"end": "2020"}})
    assert of(found.dates, "date") == [(DATE_MIN, date_range("2020")[1])]
    timing: dict[str, Any] = {"event": ["2021-05-01", "2021-02-01T10:00:00Z"]}
    plan = {
        "resourceType": "CarePlan",
        "activity": [{"detail": {"status": "scheduled", "scheduledTiming": timing}}],
    }
    assert of(rows(plan).dates, "activity-date") == [
        (date_range("2021-02-01T10:00:00Z")[0], date_range("2021-05-01")[1])
    ]
    timing["repeat"] = {"boundsPeriod": {"start": "2021-01-15", "end": "2021-06-30"}}  # outer limits
    assert of(rows(plan).dates, "activity-date") == [
        (date_range("2021-01-15")[0], date_range("2021-06-30")[1])
    ]
    malformed = rows({"resourceType": "Patient", "birthDate": "1990-02-30"})
    assert not malformed.dates


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2020", "2020-01-01T00:00:00", "2020-12-31T23:59:59.999999"),
        ("2020-02", "2020-02-01T00:00:00", "2020-02-29T23:59:59.999999"),
        ("2021-02-28", "2021-02-28T00:00:00", "2021-02-28T23:59:59.999999"),
        ("2021-02-28T10:30", "2021-02-28T10:30:00", "2021-02-28T10:30:59.999999"),
        ("2021-02-28T10:30:15Z", "2021-02-28T10:30:15", "2021-02-28T10:30:15.999999"),
        ("2021-02-28T10:30:15.25+05:00", "2021-02-28T05:30:15.25", "2021-02-28T05:30:15.259999"),
        ("2021-02-28T00:30:00-03:00", "2021-02-28T03:30:00", "2021-02-28T03:30:00.999999"),
        ("2015-02-07T13:28:17.2391234Z", "2015-02-07T13:28:17.239123", "2015-02-07T13:28:17.239123"),
    ],
)
def test_date_range_precision(text: str, low: str, high: str) -> None:
    def micros(iso: str) -> int:
        return (datetime.fromisoformat(iso + "+00:00") - EPOCH) // timedelta(microseconds=1)

    assert date_range(text) == (micros(low), micros(high))


@pytest.mark.parametrize(
    "text",
    ["", "20", "2020-13", "2020-02-30", "2020-1-01", "2021-01-01T25:00:00Z", "2021-01-01T10:00+15:00", "x"],
)
def test_date_range_rejects_malformed_values(text: str) -> None:
    with pytest.raises(ValueError):
        date_range(text)


def test_decimal_precision_ranges() -> None:
    assert number_range("100") == (99.5, 100.5)
    assert number_range("1.50") == pytest.approx((1.495, 1.505))
    assert number_range("1e2") == (50.0, 150.0)
    assert number_range("0.02") == pytest.approx((0.015, 0.025))
    with pytest.raises(ValueError):
        number_range("NaN")
    body = b'{"resourceType": "RiskAssessment", "status": "final", "subject": {"reference": "Patient/1"},'
    body += b' "prediction": [{"probabilityDecimal": 0.50}, {"probabilityRange": {"low": {"value": 2}}}]}'
    found = of(extract_index(loads(body)).numbers, "probability")
    assert found[0] == pytest.approx((0.495, 0.505))
    assert found[1] == (1.5, float("inf"))
    sequence = {"resourceType": "MolecularSequence", "coordinateSystem": 0, "variant": [{"start": 120}]}
    assert of(rows(sequence).numbers, "variant-start") == [(120.0, 120.0)]  # integers are exact


def test_quantities_money_and_ranges() -> None:
    value = {
        "value": 5.4,
        "comparator": "<",
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L",
    }
    found = rows({"resourceType": "Observation", "status": "final", "code": {}, "valueQuantity": value})
    assert of(found.quantities, "value-quantity") == [
        ("http://unitsofmeasure.org", "mmol/L", float("-inf"), 5.45)
    ]
    value = {"value": 185, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}
    found = rows({"resourceType": "Observation", "status": "final", "code": {}, "valueQuantity": value})
    assert of(found.quantities, "value-quantity") == [
        ("http://unitsofmeasure.org", "[lb_av]", 184.5, 185.5),
        (None, "lbs", 184.5, 185.5),
    ]
    money = rows(
        {"resourceType": "Invoice", "status": "issued", "totalNet": {"value": 1000, "currency": "KZT"}}
    )
    assert of(money.quantities, "totalnet") == [("urn:iso:std:iso:4217", "KZT", 999.5, 1000.5)]
    onset = {"low": {"value": 50, "system": "http://unitsofmeasure.org", "code": "a"}, "high": {"value": 60}}
    condition = rows(
        {"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "onsetRange": onset}
    )
    assert of(condition.quantities, "onset-age") == [("http://unitsofmeasure.org", "a", 49.5, 60.5)]


def test_references_of_every_form() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {},
        "contained": [{"resourceType": "Patient", "id": "p"}],
        "subject": {"reference": "Patient/123/_history/2"},
        "encounter": {"reference": "urn:uuid:0b1e1b5e-1111-4a0a-8c0c-000000000001", "type": "Encounter"},
        "performer": [
            {"reference": "https://fhir.example.kz/fhir/Practitioner/doc-1"},
            {"reference": "#p"},
            {"identifier": {"system": "urn:iin", "value": "800101000111"}, "type": "Practitioner"},
            {"reference": "https://example.org/not-a-resource"},
        ],
        "focus": [{"reference": "Group/g1"}],
    }
    found = rows(observation)
    assert of(found.references, "subject") == [("Patient", "123", None)]
    assert of(found.references, "patient") == [("Patient", "123", None)]
    assert of(found.references, "encounter") == [
        ("Encounter", None, "urn:uuid:0b1e1b5e-1111-4a0a-8c0c-000000000001")
    ]
    assert of(found.references, "performer") == [
        ("Practitioner", "doc-1", "https://fhir.example.kz/fhir/Practitioner/doc-1"),
        (None, None, "https://example.org/not-a-resource"),
    ]
    assert of(found.reference_identifiers, "performer") == [("urn:iin", "800101000111")]
    group_subject = rows({**observation, "subject": {"reference": "Group/g1"}})
    assert of(group_subject.references, "subject") == [("Group", "g1", None)]
    assert not of(group_subject.references, "patient")  # where(resolve() is Patient)
    plan = {
        "resourceType": "PlanDefinition",
        "status": "active",
        "library": ["http://example.org/Library/lib|2.0"],
    }
    assert of(rows(plan).references, "depends-on") == [("Library", "lib", "http://example.org/Library/lib")]
    document = {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [{"resource": {"resourceType": "Composition", "id": "c1"}}],
    }
    assert of(rows(document).references, "composition") == [("Composition", "c1", None)]


def test_uris() -> None:
    found = rows({"resourceType": "ValueSet", "status": "active", "url": "http://example.org/ValueSet/vs"})
    assert of(found.uris, "url") == [("http://example.org/ValueSet/vs",)]


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("  Ivanov   Ivan ", "ivanov ivan"),
        ("José María", "jose maria"),
        ("Straße", "strasse"),
        ("Ёлка", "елка"),
        ("ӘЛИЯ", "әлия"),
        ("Ғалым Құрманов", "ғалым құрманов"),
        ("ӨҢҮҰҺІ", "өңүұһі"),
    ],
)
def test_normalize_string(text: str, normalized: str) -> None:
    assert normalize_string(text) == normalized


def test_normalized_prefix_search_finds_kazakh_names() -> None:
    assert normalize_string("Әлия").startswith(normalize_string("әли"))
    assert normalize_string("Алёна").startswith(normalize_string("алена"))


def test_long_strings_are_cut() -> None:
    found = rows({"resourceType": "Patient", "name": [{"family": "x" * 2000}]})
    assert {len(exact) for _, exact in of(found.strings, "family")} == {512}


def test_narrative_and_content_text() -> None:
    resource = {
        "resourceType": "Patient",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Aлия &amp; <b>Co</b></p></div>',
        },
        "name": [{"family": "Нұрланова"}],
        "photo": [{"contentType": "image/png", "data": "iVBORw0KGgo="}],
    }
    assert narrative_text(resource) == "Aлия & Co"
    assert content_text(resource) == "generated Нұрланова image/png Aлия & Co"
    assert narrative_text({"resourceType": "Patient"}) == ""


# Shapes that break naive code: scalars where objects or arrays belong, and the other way round.
_ODD_VALUES = [
    True,
    1.5,
    "x",
    [],
    {},
    [None],
    ["a"],
    {"coding": True},
    {"system": {}, "code": []},
    {"start": 5},
]
_JSON = st.sampled_from(_ODD_VALUES) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@given(st.data())
@settings(max_examples=500, deadline=None)
def test_malformed_resources_never_break_extraction(data: st.DataObject) -> None:
    """Any element replaced by any JSON value: no exception, and rows hold only strings and numbers."""
    _, original = data.draw(st.sampled_from(official_examples()))
    resource = copy.deepcopy(original)
    for _ in range(data.draw(st.integers(1, 4))):
        node: Any = resource
        while True:
            keys = (
                [k for k in node if k != "resourceType"] if isinstance(node, dict) else list(range(len(node)))
            )
            if not keys:
                break
            key = data.draw(st.sampled_from(keys))
            if not isinstance(node[key], dict | list) or data.draw(st.booleans()):
                node[key] = copy.deepcopy(data.draw(_JSON))
                break
            node = node[key]
    found = extract_index(resource)
    for name in IndexRows.__slots__:
        for row in getattr(found, name):
            assert all(value is None or type(value) in (str, int, float) for value in row), (name, row)


def test_unknown_resource_type_is_rejected() -> None:
    with pytest.raises(ValueError):
        extract_index({"resourceType": "Nope"})


# --- compiler ------------------------------------------------------------------------------------


def evaluate(expression: str, resource: dict[str, Any], base: str | None = None) -> list[tuple[Any, str]]:
    return compile_expression(expression, base or resource["resourceType"], type_model())(resource)


def test_as_binds_tighter_than_union() -> None:
    observation = {"resourceType": "Observation", "valueSampledData": {"data": "1 2"}}
    assert evaluate("Observation.value as Quantity | Observation.value as SampledData", observation) == [
        ({"data": "1 2"}, "SampledData")
    ]


def test_compiled_functions() -> None:
    extension = [
        {"url": "http://kz/ethnicity", "valueCoding": {"code": "kaz"}},
        {"url": "other", "valueString": "s"},
    ]
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "extension": extension,
        "name": [{"given": ["A", "B"]}, {"given": ["C"]}],
        "deceasedDateTime": "2020",
    }
    assert evaluate("Patient.extension('http://kz/ethnicity').value", patient) == [
        ({"code": "kaz"}, "Coding")
    ]
    assert evaluate("Patient.extension.where(url = 'other').value.ofType(string)", patient) == [
        ("s", "string")
    ]
    assert evaluate("Patient.name.given.first()", patient) == [("A", "string")]
    assert evaluate("Patient.name[1].given", patient) == [("C", "string")]
    assert evaluate("Patient.deceased.as(dateTime)", patient) == [("2020", "dateTime")]
    assert evaluate("Patient.deceased is dateTime", patient) == [(True, "boolean")]
    assert evaluate("Patient.deceased.exists() and Patient.deceased != false", patient) == [(True, "boolean")]
    assert evaluate("Patient.birthDate.empty() or Patient.active", patient) == [(True, "boolean")]
    questionnaire = {"resourceType": "Questionnaire", "item": [{"linkId": "1", "item": [{"linkId": "1.1"}]}]}
    assert [value for value, _ in evaluate("Questionnaire.repeat(item).linkId", questionnaire)] == [
        "1",
        "1.1",
    ]
    assert evaluate("meta.profile", {"resourceType": "Patient", "meta": {"profile": ["p"]}}, "Resource") == [
        ("p", "canonical")
    ]


def test_fallback_to_fhirpathpy() -> None:
    extract = fallback_extractor("Patient.name.skip(1).family | Resource.meta.tag", type_model())
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "A"}, {"family": "B"}],
        "meta": {"tag": [{"code": "t"}]},
    }
    assert extract(patient) == [("B", "string"), ({"code": "t"}, "Coding")]
    with pytest.raises(ValueError):
        fallback_extractor("!!!", type_model())
