"""Search value normalisation shared by indexing and querying: strings, dates, numbers."""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation

from ehp.fhir.jsonio import FhirDecimal

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000

DATE_MIN = (date(1, 1, 1).toordinal() - _EPOCH_ORDINAL) * _DAY_US
"""0001-01-01T00:00:00Z in microseconds: the low end of a Period without a start."""
DATE_MAX = (date(9999, 12, 31).toordinal() + 1 - _EPOCH_ORDINAL) * _DAY_US - 1
"""9999-12-31T23:59:59.999999Z in microseconds: the high end of a Period without an end."""

_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def normalize_string(text: str) -> str:
    """Fold a string for ``:contains``/prefix matching: case-folded, diacritics dropped, spaces collapsed.

    Diacritics are the combining marks of the NFKD decomposition, so ``"Ёлка"`` gives ``"елка"``
    and ``"Józef"`` gives ``"jozef"``; letters that are not decomposed, like the Kazakh ``Ә``,
    ``Ғ``, ``Қ``, ``Ң``, ``Ө``, ``Ұ``, ``Ү``, ``Һ`` and ``І``, are only lower-cased.
    """
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(char for char in decomposed if not unicodedata.combining(char)).split())


MAX_WORD_LENGTH = 64
"""Words for ``_text``/``_content`` are cut to this many characters."""
_WORD = re.compile(r"\w+")
_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_ASCII_SEPARATORS = bytes(byte if byte in _WORD_BYTES or byte >= 128 else 32 for byte in range(256))


def words(text: str) -> list[str]:
    """The distinct normalised words of a text, in order, for ``_text`` and ``_content``.

    A word is a run of letters, digits and ``_`` (``\\w``), normalised (:func:`normalize_string`)
    and cut to :data:`MAX_WORD_LENGTH`: ``"Type-2 Diabetes"`` gives ``["type", "2", "diabetes"]``.
    ASCII separators are found with a byte translation (several times faster than a regex);
    only the pieces holding other characters go through the regex and the Unicode folding.
    """
    found: dict[str, None] = {}
    pieces = text.encode("utf-8", "surrogatepass").translate(_ASCII_SEPARATORS).lower().split()
    for piece in dict.fromkeys(pieces):
        if piece.isascii():
            found[piece[:MAX_WORD_LENGTH].decode()] = None
            continue
        for word in _WORD.findall(normalize_string(piece.decode("utf-8", "replace"))):
            found[word[:MAX_WORD_LENGTH]] = None
    return list(found)


def date_range(text: str) -> tuple[int, int]:
    """The instants a FHIR date, dateTime or instant covers, in microseconds since 1970 UTC, inclusive.

    The range follows the precision: ``2020`` covers the year, ``2020-03`` the month,
    ``2020-03-04T10:00`` the minute, ``...T10:00:00.5`` a tenth of a second. A time without a time
    zone (not valid in FHIR data, but allowed in search values) and a date without a time are
    taken as UTC. Raises ``ValueError`` for anything malformed.
    """
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a FHIR date/time: {text!r}")
    year_text, month_text, day_text, hour, minute, second, fraction, zone = match.groups()
    year = int(year_text)
    month = int(month_text) if month_text else 1
    day = int(day_text) if day_text else 1
    try:
        first_day = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        raise ValueError(f"not a valid date: {text!r}") from None
    if not month_text:
        return first_day * _DAY_US, (first_day + (366 if calendar.isleap(year) else 365)) * _DAY_US - 1
    if not day_text:
        return first_day * _DAY_US, (first_day + calendar.monthrange(year, month)[1]) * _DAY_US - 1
    if hour is None:
        return first_day * _DAY_US, (first_day + 1) * _DAY_US - 1
    hours, minutes, seconds = int(hour), int(minute), int(second or 0)
    if hours > 23 or minutes > 59 or seconds > 60:
        raise ValueError(f"not a valid time: {text!r}")
    offset = 0
    if zone and zone != "Z":
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[4:6])
        if zone_hours > 14 or zone_minutes > 59:
            raise ValueError(f"not a valid time zone: {text!r}")
        offset = (zone_hours * 3600 + zone_minutes * 60) * (1 if zone[0] == "+" else -1)
    low = (first_day * 86_400 + hours * 3600 + minutes * 60 + seconds - offset) * 1_000_000
    if second is None:
        return low, low + 60_000_000 - 1
    if fraction is None:
        return low, low + 1_000_000 - 1
    digits = fraction[:6]
    low += int(digits) * 10 ** (6 - len(digits))
    return low, low + 10 ** (6 - len(digits)) - 1


def decimal_text(value: float | int) -> str:
    """The text a JSON number had: :attr:`FhirDecimal.text`, else Python's shortest round-trip form."""
    if isinstance(value, FhirDecimal):
        return value.text
    return repr(value)


def number_range(text: str) -> tuple[float, float]:
    """The implicit range of a decimal's precision: ``100`` → (99.5, 100.5), ``1.50`` → (1.495, 1.505).

    Follows the FHIR number search rules (``1e2`` → (50, 150)). Raises ``ValueError`` when malformed.
    """
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5).scaleb(exponent - 1)
    return float(value - half), float(value + half)
