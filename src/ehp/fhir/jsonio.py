"""FHIR JSON in and out, keeping decimals exactly as they were sent.

FHIR requires a server to keep the precision of a decimal (a lab value of 1.50 is not 1.5).
Python floats do not, so every JSON number with a fraction or exponent is parsed into
:class:`FhirDecimal`, a ``float`` that remembers its original text and is written back verbatim.
Parsing is done by orjson when the body holds no number whose float form could differ from its
text (the common case); otherwise by the standard library with a decimal hook. A repeated
property keeps its last value in both cases.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson


class FhirDecimal(float):
    """A JSON number that keeps its original text (``1.50`` stays ``1.50``)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> FhirDecimal:
        value = float.__new__(cls, text)
        value.text = text
        return value

    def __repr__(self) -> str:
        return self.text


class JsonError(ValueError):
    """The body is not well-formed JSON."""


# A number whose float round trip may not give back its text: a trailing zero after a second
# fraction digit (1.50; 6.0 is safe), an exponent, or 16+ significant digits. Matches inside
# strings too; that only costs speed.
_LOSSY_NUMBER = re.compile(rb"\.[0-9]+0(?![0-9])|[0-9][eE][-+]?[0-9]|[0-9.]{17,}")


def _reject_constant(name: str) -> Any:
    raise JsonError(f"{name} is not a valid JSON number")


def _parse_int(text: str) -> int | FhirDecimal:
    """Integers beyond 64 bits stay numbers with their text (orjson writes only 64-bit integers)."""
    value = int(text)
    return value if -(2**63) <= value < 2**64 else FhirDecimal(text)


def loads(body: bytes | str) -> Any:
    """Parse JSON text, keeping decimal precision. Raises :class:`JsonError` when malformed."""
    raw = body.encode() if isinstance(body, str) else body
    if not _LOSSY_NUMBER.search(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise JsonError(str(error)) from None
    try:
        return json.loads(
            raw,
            parse_float=FhirDecimal,
            parse_int=_parse_int,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError) as error:
        if isinstance(error, JsonError):
            raise
        raise JsonError(str(error)) from None


def _default(value: Any) -> Any:
    if isinstance(value, FhirDecimal):
        return orjson.Fragment(value.text)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Serialise to compact JSON bytes, writing decimals back with their original text."""
    return orjson.dumps(value, default=_default)


def dumps_pretty(value: Any) -> bytes:
    """Serialise to indented JSON bytes (for ``_pretty=true``)."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_INDENT_2)
