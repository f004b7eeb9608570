"""Search value parsing, prefix ranges, cursors and words, without a database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehp.index.normalization import words
from ehp.search.clauses import uri_parents
from ehp.search.errors import SearchError
from ehp.search.sorting import Cursor
from ehp.search.sql import successor
from ehp.search.values import (
    SearchValueError,
    parse_of_type_value,
    parse_quantity_value,
    parse_reference_value,
    parse_token_value,
    split_composite,
    split_values,
    unescape,
)


def test_escapes_survive_until_their_own_split() -> None:
    assert split_values(r"a\,b,c") == [r"a\,b", "c"]
    assert parse_token_value(r"urn:odd|a\,b\|c\$d") == ("urn:odd", "a,b|c$d")
    assert split_composite(r"x\$y$5", 2) == [r"x\$y", "5"]
    assert unescape(r"a\\b") == "a\\b"
    assert split_values(",,") == []


def test_token_forms() -> None:
    assert parse_token_value("male") == (None, "male")
    assert parse_token_value("|male") == ("", "male")
    assert parse_token_value("http://x|") == ("http://x", None)
    with pytest.raises(SearchValueError):
        parse_token_value("a|b|c")
    assert parse_of_type_value("http://t|MR|123") == ("http://t", "MR", "123")
    with pytest.raises(SearchValueError):
        parse_of_type_value("MR|123")


def test_quantity_forms() -> None:
    assert parse_quantity_value("le5.4|http://unitsofmeasure.org|mg") == (
        "le",
        "5.4",
        "http://unitsofmeasure.org",
        "mg",
    )
    assert parse_quantity_value("5.4||mg") == ("eq", "5.4", None, "mg")
    assert parse_quantity_value("5.4") == ("eq", "5.4", None, None)
    with pytest.raises(SearchValueError):
        parse_quantity_value("5.4|mg")


def test_reference_forms() -> None:
    base = "http://ehp.example/fhir"
    assert parse_reference_value("Patient/1", None) == ("Patient", "1", None)
    assert parse_reference_value("Patient/1/_history/2", None) == ("Patient", "1", None)
    assert parse_reference_value("1", "Patient") == ("Patient", "1", None)
    assert parse_reference_value("1", None) == (None, "1", "1")
    assert parse_reference_value(f"{base}/Patient/1", None, base) == ("Patient", "1", None)
    assert parse_reference_value("http://other/fhir/Patient/1", None, base) == (
        None,
        None,
        "http://other/fhir/Patient/1",
    )
    for bad, modifier in [("Patient/1/x", None), ("Patient/1", "Practitioner"), ("1", "Nope"), ("", None)]:
        with pytest.raises(SearchValueError):
            parse_reference_value(bad, modifier)


def test_uri_parents_by_path_segment() -> None:
    assert uri_parents("http://acme.org/fhir/ValueSet/123") == [
        "http://acme.org/fhir/ValueSet/123",
        "http://acme.org/fhir/ValueSet",
        "http://acme.org/fhir",
        "http://acme.org",
    ]
    assert uri_parents("urn:oid:1.2.3") == ["urn:oid:1.2.3"]


@given(st.text(min_size=1))
def test_successor_bounds_every_extension(prefix: str) -> None:
    upper = successor(prefix)
    if upper is None:
        assert all(ord(char) == 0x10FFFF for char in prefix)
        return
    assert upper > prefix
    assert upper > prefix + "\U0010ffff" * 3


def test_cursor_round_trip_and_garbage() -> None:
    cursor = Cursor((None, "abc", 7, float("inf"), -1.5), 42, before=True)
    assert Cursor.decode(cursor.encode(), 5) == cursor
    for garbage in ("", "!!", cursor.encode()[:-3], Cursor((1,), 1).encode()):
        with pytest.raises(SearchError):
            Cursor.decode(garbage, 5)


def test_words() -> None:
    assert words("Type-2 Diabetes, type 2") == ["type", "2", "diabetes"]
    assert words("Нұрланова Әлия «Алматы»") == ["нұрланова", "әлия", "алматы"]
    assert words("x" * 100) == ["x" * 64]
    assert words("...") == []
