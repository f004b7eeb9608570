"""JSON in and out with decimals kept exactly as sent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehp.fhir.jsonio import FhirDecimal, JsonError, dumps, loads


@pytest.mark.parametrize(
    "text",
    [
        b'{"value":1.50}',
        b'{"value":1e3}',
        b'{"value":6.00E0}',
        b'{"value":0.30000000000000004}',
        b'{"value":3.141592653589793238462643383279}',
        b'{"value":-0.0}',
        b'{"value":1.5,"text":"1.50 in a string"}',
        b'{"values":[1,2.0,3.10]}',
    ],
)
def test_numbers_round_trip_with_their_text(text: bytes) -> None:
    assert dumps(loads(text)) == text


def test_decimals_are_floats_that_remember_their_text() -> None:
    value = loads(b'{"v":1.50}')["v"]
    assert isinstance(value, FhirDecimal)
    assert value == 1.5
    assert value.text == "1.50"


@pytest.mark.parametrize("text", [b'{"a":', b'{"a":NaN}', b'{"a":Infinity}', b""])
def test_malformed_json_is_refused(text: bytes) -> None:
    with pytest.raises(JsonError):
        loads(text)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_any_decimal_text_survives(number: object) -> None:
    text = f'{{"v":{number}}}'.encode()
    assert dumps(loads(text)) == text
