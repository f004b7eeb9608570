"""Checks of FHIR primitive values as they are written in JSON, and of literal references.

Each primitive type gets one precompiled checker, built from the derived tables: the JSON type
(boolean, integer, number or string) and the official regex, matched in full with ASCII classes
(as the Java reference validator does: ``\\s`` and ``\\S`` are ASCII-only). On top of the regex:
integers must fit in 32 bits, calendar dates must exist (no 2023-02-30), strings must have
non-whitespace content, and decimals must be finite.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable
from typing import Any

from ehp.fhir.definitions import PrimitiveType, resource_types
from ehp.fhir.narrative import narrative_problem

Problem = tuple[str, str]  # (IssueType code, diagnostics)
Checker = Callable[[Any], Problem | None]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
_DATE_TYPES = frozenset({"date", "dateTime", "instant"})
_BASE64_ALPHABET_AND_SPACE = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\n\r\x0b\x0c"
)
_ASCII_WHITESPACE = " \t\r\n\f\v"  # as in XML and the regexes: a lone U+00A0 is content
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Control characters: no FHIR string holds them (they are not XML characters, so no XML form of
the resource could carry them; ``\\S`` of the official regexes would let them through). A NUL
once reached PostgreSQL as a 500 and was stored by SQLite. Checking costs about 0.15 µs a string
(2.0 µs for the 13 strings of an Observation whose whole validation takes 11.9 µs, measured
2026-12-03), small beside the write it guards."""
_NEVER = re.compile(r"(?!)")
MAX_STRING = 1024 * 1024
"""R4: "strings SHALL NOT exceed 1MB (1024*1024 characters) in size" (base64Binary excepted)."""
_ID = r"[A-Za-z0-9\-.]{1,64}"
_LOCAL_REFERENCE = re.compile(r"#\S*")  # any fragment: ref-1 then says whether it names a contained id
_RELATIVE_REFERENCE = re.compile(rf"([A-Z][A-Za-z]*)/{_ID}(?:/_history/{_ID})?")
_CONDITIONAL_REFERENCE = re.compile(r"([A-Z][A-Za-z]*)\?\S*")
_URN_REFERENCE = re.compile(
    r"urn:uuid:\S+"  # R4 allows any urn:uuid: value; non-strict ones get a warning (see below)
    r"|urn:oid:[0-2](?:\.(?:0|[1-9][0-9]*))+"
)
STRICT_UUID_URN = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""RFC 4122's textual form in lower case, as the FHIR uuid type asks. In a reference other
urn:uuid: values are only warned about (R4 allows them; so does HL7's validator); in a uri, url or
canonical a malformed one (not 8-4-4-4-12 hex digits, any case) is an error, as there."""
_ANY_CASE_UUID_URN = re.compile(STRICT_UUID_URN.pattern, re.IGNORECASE)
ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
"""A URI with a scheme (``urn:uuid:…``, ``http://…``): what fullUrls, Coding.system and extension
URLs must be."""
_ABSOLUTE_REFERENCE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")
_RESTFUL_TAIL = re.compile(rf"/([A-Z][A-Za-z]*)/{_ID}(?:/_history/{_ID})?\Z")


def describe(value: Any) -> str:
    """The value as a short JSON-ish phrase for diagnostics: ``string '2020-13'``, ``number 1.5``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"number {_number(value)}"
    if isinstance(value, str):
        return f"string {_quote(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _number(value: float) -> str:
    """A number as text; huge integers are not converted (Python refuses beyond 4300 digits)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"of {value.bit_length()} bits"
    return repr(value)


def _quote(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _valid_calendar_day(text: str) -> bool:
    """The regexes allow day 31 in any month; check the day exists in its month (dates start YYYY-MM-DD)."""
    if len(text) < 10 or text[8:10] <= "28":
        return True
    year, month, day = int(text[:4]), int(text[5:7]), int(text[8:10])
    return day <= calendar.monthrange(year, month)[1]


def _base64_ok(value: str) -> bool:
    """Same language as the official regex ``(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+``, which backtracks
    exponentially on bad input and is slow on megabytes: runs of whole quads separated by spaces."""
    if not value.isascii():
        return False
    raw = value.encode("ascii")
    if raw.translate(None, _BASE64_ALPHABET_AND_SPACE):
        return False
    parts = raw.split()
    return bool(parts) and all(len(part) % 4 == 0 for part in parts)


def _any_format(value: str) -> bool:
    """The format check of a primitive without a regex (xhtml: see :mod:`ehp.fhir.narrative`)."""
    return True


def _wrong_type(name: str, expected: str, value: Any) -> Problem:
    if value is None:
        return "structure", f"null is not allowed for a single {name}: omit the element"
    return "value", f"expected a JSON {expected} for {name}, got {describe(value)}"


def make_checker(primitive: PrimitiveType) -> Checker:
    """A function returning None for a valid JSON value of this primitive type, else the problem."""
    name = primitive.name
    pattern = re.compile(primitive.regex, re.ASCII) if primitive.regex is not None else None

    if primitive.json == "boolean":

        def check_boolean(value: Any) -> Problem | None:
            if value is True or value is False:
                return None
            return _wrong_type(name, "boolean (true or false)", value)

        return check_boolean

    if primitive.json == "integer":

        def check_integer(value: Any) -> Problem | None:
            if not isinstance(value, int) or isinstance(value, bool):
                return _wrong_type(name, "integer", value)
            if not INT32_MIN <= value <= INT32_MAX:
                return "value", f"{_number(value)} is out of range for {name} (32-bit signed integer)"
            if pattern is not None and pattern.fullmatch(str(value)) is None:
                return "value", f"{value} is not a valid {name}"
            return None

        return check_integer

    if primitive.json == "number":

        def check_number(value: Any) -> Problem | None:
            if not isinstance(value, int | float) or isinstance(value, bool):
                return _wrong_type(name, "number", value)
            if isinstance(value, float) and not math.isfinite(value):
                return "value", f"{value!r} is not a valid {name}"
            return None

        return check_number

    well_formed: Callable[[str], object]
    if name == "base64Binary":
        well_formed = _base64_ok
    elif pattern is not None:
        well_formed = pattern.fullmatch
    else:
        well_formed = _any_format
    is_date = name in _DATE_TYPES
    # base64Binary's own regex admits only its alphabet and ASCII whitespace (\v, \f included)
    control = _CONTROL if name != "base64Binary" else _NEVER
    # the narrative (xhtml) and attachments (base64Binary) are not strings: the body limit holds them
    longest = MAX_STRING if name not in ("base64Binary", "xhtml") else 2**62

    def check_string(value: Any) -> Problem | None:
        # Fast path for the common case; anything else (including a valid " x") goes the long way.
        if (
            isinstance(value, str)
            and value
            and value[0] > " "
            and len(value) <= longest
            and not control.search(value)
            and well_formed(value)
            and (not is_date or _valid_calendar_day(value))
        ):
            return None
        if not isinstance(value, str):
            return _wrong_type(name, "string", value)
        if not value:
            return "invariant", f"empty string for {name}: a value SHALL have content (ele-1)"
        if not value.strip(_ASCII_WHITESPACE):
            return (
                "value",
                f"the {name} {_quote(value)} has only whitespace: it SHALL have non-whitespace content",
            )
        if len(value) > longest:
            return "too-costly", f"the {name} has {len(value):,} characters; a string has at most {longest:,}"
        if (found := control.search(value)) is not None:
            return "value", f"the {name} holds the control character U+{ord(found.group()):04X}"
        if not well_formed(value):
            return "value", f"{_quote(value)} is not a valid {name}"
        if is_date and not _valid_calendar_day(value):
            return "value", f"{_quote(value)} is not a valid {name}: no such day in that month"
        return None

    if name == "xhtml":

        def check_xhtml(value: Any) -> Problem | None:
            problem = check_string(value)
            if problem is not None:
                return problem
            found = narrative_problem(value)
            return ("invariant", f"txt-1: {found}") if found is not None else None

        return check_xhtml
    if name in ("uri", "url", "canonical"):

        def check_uri(value: Any) -> Problem | None:
            problem = check_string(value)
            if problem is None and value.startswith("urn:uuid:") and not _ANY_CASE_UUID_URN.fullmatch(value):
                return (
                    "value",
                    f"{_quote(value)} is not a valid UUID URN (urn:uuid: and 8-4-4-4-12 hex digits)",
                )
            return problem

        return check_uri
    return check_string


def with_codes(check: Checker, codes: frozenset[str], value_set: str) -> Checker:
    """The checker of a primitive bound (required) to an expanded value set."""

    def check_code(value: Any) -> Problem | None:
        if isinstance(value, str) and value in codes:  # the value set holds only well-formed codes
            return None
        return check(value) or ("code-invalid", not_in_value_set(value, codes, value_set))

    return check_code


def not_in_value_set(code: Any, codes: frozenset[str], value_set: str | None) -> str:
    allowed = sorted(codes)
    listed = ", ".join(allowed[:12]) + (f" … ({len(allowed)} codes)" if len(allowed) > 12 else "")
    return f"{describe(code)} is not in the required value set {value_set} (allowed: {listed})"


def check_reference(reference: str) -> tuple[str | None, str | None]:
    """Check a ``Reference.reference`` string: returns (problem or None, resource type it names or None).

    Accepted: ``Type/id[/_history/vid]`` with a known type, ``Type?search`` (conditional references,
    resolved in transactions), ``#id`` (contained), ``urn:uuid:``/``urn:oid:``, absolute URLs.
    """
    match = _RELATIVE_REFERENCE.fullmatch(reference) or _CONDITIONAL_REFERENCE.fullmatch(reference)
    if match is not None:
        if match.group(1) not in resource_types():
            return f"{_quote(reference)} refers to {match.group(1)!r}, which is not a resource type", None
        return None, match.group(1)
    if _LOCAL_REFERENCE.fullmatch(reference) or _URN_REFERENCE.fullmatch(reference):
        return None, None
    if _ABSOLUTE_REFERENCE.fullmatch(reference):
        tail = _RESTFUL_TAIL.search(reference)
        if tail is not None and tail.group(1) in resource_types():
            return None, tail.group(1)
        return None, None
    return (
        f"{_quote(reference)} is not a valid reference: expected Type/id, Type/id/_history/vid, "
        "an absolute URL, #id (contained), urn:uuid: or urn:oid:"
    ), None


def is_whole_number(text: str, digits: int = 18) -> bool:
    """ASCII digits only, at most ``digits`` of them (so it fits a 64-bit integer column).

    ``str.isdigit`` alone accepts ``²`` and other Unicode digits that ``int()`` then refuses, and
    any length, which PostgreSQL then refuses to compare with a ``bigint``: both once ended in 500s.
    """
    return 0 < len(text) <= digits and text.isascii() and text.isdigit()
