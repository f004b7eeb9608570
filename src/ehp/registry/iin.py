"""The IIN (individual identification number): 12 digits with the birth date and sex encoded.

Layout: ``YYMMDD`` (birth date), one digit for century and sex (1/2: 1800s, 3/4: 1900s,
5/6: 2000s; odd male, even female), a 4-digit serial and a check digit. The check digit is the
weighted sum of the first 11 digits modulo 11 with weights 1..11; when that gives 10 it is
computed again with weights 3..11, 1, 2; when that gives 10 too, the serial is never issued.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Literal

IIN_SYSTEM = "http://ehp.kz/fhir/sid/iin"
"""The ``Patient.identifier.system`` (and ``Practitioner.identifier.system``) of the IIN."""

Sex = Literal["male", "female"]

_FIRST_WEIGHTS = tuple(range(1, 12))
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_CENTURIES = {1: 1800, 3: 1900, 5: 2000}


def iin_check_digit(first_eleven: str) -> int | None:
    """The check digit of the first 11 digits, or ``None`` when no IIN may end them."""
    if len(first_eleven) != 11 or not first_eleven.isascii() or not first_eleven.isdigit():
        raise ValueError(f"expected 11 digits, got {first_eleven!r}")
    digits = [int(char) for char in first_eleven]
    for weights in (_FIRST_WEIGHTS, _SECOND_WEIGHTS):
        check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check != 10:
            return check
    return None


def century_digit(birth_date: date, sex: Sex) -> int:
    """The 7th digit: century of birth and sex."""
    first = {1800: 1, 1900: 3, 2000: 5}.get(birth_date.year // 100 * 100)
    if first is None:
        raise ValueError(f"an IIN encodes births in 1800-2099, not {birth_date.year}")
    return first if sex == "male" else first + 1


def make_iin(birth_date: date, sex: Sex, serial: int) -> str | None:
    """The IIN of a birth date, sex and serial (0-9999), or ``None`` when that serial is never issued."""
    if not 0 <= serial <= 9999:
        raise ValueError(f"the serial must be 0-9999, not {serial}")
    first_eleven = f"{birth_date:%y%m%d}{century_digit(birth_date, sex)}{serial:04d}"
    check = iin_check_digit(first_eleven)
    return None if check is None else f"{first_eleven}{check}"


def iin_birth_date_and_sex(iin: str) -> tuple[date, Sex]:
    """The birth date and sex an IIN encodes; ``ValueError`` when it encodes none."""
    if len(iin) != 12 or not iin.isascii() or not iin.isdigit():
        raise ValueError(f"an IIN is 12 digits, not {iin!r}")
    marker = int(iin[6])
    century = _CENTURIES.get(marker - 1 + marker % 2)
    if century is None:
        raise ValueError(f"the 7th digit of an IIN is 1-6, not {marker}")
    born = date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))  # ValueError on a bad day
    return born, "male" if marker % 2 else "female"


def is_valid_iin(iin: str) -> bool:
    """Whether ``iin`` is 12 digits with an existing birth date, a century digit and its check digit."""
    try:
        iin_birth_date_and_sex(iin)
    except ValueError:
        return False
    return iin_check_digit(iin[:11]) == int(iin[11])


def issue_iins(birth_date: date, sex: Sex, start: int = 0, step: int = 1) -> Iterator[tuple[int, str]]:
    """Every issuable (serial, IIN) of a birth date and sex, serials ``start, start + step, ...`` in order."""
    for serial in range(start, 10_000, step):
        iin = make_iin(birth_date, sex, serial)
        if iin is not None:
            yield serial, iin
