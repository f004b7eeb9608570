"""The IIN: check digit, birth date and sex, validity and issuing (property-based)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehp.registry.iin import (
    IIN_SYSTEM,
    century_digit,
    iin_birth_date_and_sex,
    iin_check_digit,
    is_valid_iin,
    issue_iins,
    make_iin,
)

births = st.dates(min_value=date(1800, 1, 1), max_value=date(2099, 12, 31))
sexes = st.sampled_from(["male", "female"])
serials = st.integers(min_value=0, max_value=9999)


def test_worked_examples() -> None:
    # 8*1 + 6*2 + 0*3 + 3*4 + 3*5 + 0*6 + 4*7 + 0*8 + 0*9 + 1*10 + 5*11 = 140; 140 mod 11 = 8
    assert iin_check_digit("86033040015") == 8
    assert make_iin(date(1986, 3, 30), "female", 15) == "860330400158"
    # first weights: 87 mod 11 = 10, so weights 3..11,1,2: 81 mod 11 = 4
    assert iin_check_digit("90010140040") == 4
    # both passes give 10: serial 0043 of a man born 1 January 1990 is never issued
    assert iin_check_digit("90010140043") is None
    assert make_iin(date(1990, 1, 1), "female", 43) is None
    assert is_valid_iin("900101400404")
    assert iin_birth_date_and_sex("900101400404") == (date(1990, 1, 1), "female")
    assert IIN_SYSTEM == "http://ehp.kz/fhir/sid/iin"


def test_century_and_sex_digit() -> None:
    years, sexes_ = (1850, 1950, 2050), ("male", "female")
    assert [century_digit(date(year, 1, 1), sex) for year in years for sex in sexes_] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError):
        century_digit(date(2100, 1, 1), "male")


@settings(deadline=None)  # a loaded machine must not fail a correct test
@given(births, sexes, serials)
def test_made_iins_are_valid_and_encode_birth_date_and_sex(born: date, sex: str, serial: int) -> None:
    iin = make_iin(born, sex, serial)  # type: ignore[arg-type]
    if iin is None:
        assert iin_check_digit(f"{born:%y%m%d}{century_digit(born, sex)}{serial:04d}") is None  # type: ignore[arg-type]
        return
    assert len(iin) == 12 and iin.isdigit()
    assert is_valid_iin(iin)
    assert iin_birth_date_and_sex(iin) == (born, sex)
    assert iin[7:11] == f"{serial:04d}"


@settings(deadline=None)
@given(births, sexes, serials, st.integers(min_value=1, max_value=9))
def test_a_wrong_check_digit_is_invalid(born: date, sex: str, serial: int, shift: int) -> None:
    iin = make_iin(born, sex, serial)  # type: ignore[arg-type]
    if iin is not None:
        assert not is_valid_iin(iin[:11] + str((int(iin[11]) + shift) % 10))


@settings(deadline=None)
@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_validity_matches_the_definition(iin: str) -> None:
    try:
        iin_birth_date_and_sex(iin)
    except ValueError:
        assert not is_valid_iin(iin)
        return
    assert is_valid_iin(iin) == (iin_check_digit(iin[:11]) == int(iin[11]))


@pytest.mark.parametrize(
    "iin",
    [
        "",
        "86033040015",  # 11 digits
        "8603304001580",  # 13 digits
        "86033040015a",
        "８６０３３０４００１５８",  # full-width digits
        "860330000158",  # century digit 0
        "860330700158",  # century digit 7
        "860230400158",  # 30 February
        "861330400158",  # month 13
        "860332400158",  # day 32
    ],
)
def test_malformed_iins_are_invalid(iin: str) -> None:
    assert not is_valid_iin(iin)
    with pytest.raises(ValueError):
        iin_birth_date_and_sex(iin)


def test_check_digit_needs_eleven_ascii_digits() -> None:
    for bad in ("", "1234567890", "123456789012", "1234567890x", "１２３４５６７８９０１"):
        with pytest.raises(ValueError):
            iin_check_digit(bad)
    with pytest.raises(ValueError):
        make_iin(date(1990, 1, 1), "male", 10_000)


@settings(deadline=None)
@given(births, sexes, st.integers(min_value=0, max_value=19), st.integers(min_value=20, max_value=400))
def test_issued_iins_are_valid_distinct_and_in_serial_order(
    born: date, sex: str, start: int, step: int
) -> None:
    issued = list(issue_iins(born, sex, start=start, step=step))  # type: ignore[arg-type]
    serials = [serial for serial, _ in issued]
    assert serials == sorted(set(serials))
    assert all(serial % step == start % step for serial in serials)
    assert all(is_valid_iin(iin) and iin[7:11] == f"{serial:04d}" for serial, iin in issued)
    given_out = set(serials)
    skipped = [serial for serial in range(start, 10_000, step) if serial not in given_out]
    assert all(make_iin(born, sex, serial) is None for serial in skipped)  # type: ignore[arg-type]


def test_about_one_serial_in_121_is_never_issued() -> None:
    issued = list(issue_iins(date(1990, 1, 1), "male"))
    assert 10_000 * 0.98 < len(issued) < 10_000 * 0.999
