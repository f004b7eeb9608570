"""Name folding and the index spellings of a folded prefix (what candidate retrieval relies on)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehp.index.normalization import normalize_string
from ehp.registry.names import canonical, index_prefixes
from ehp.registry.similarity import jaro_winkler, one_edit_apart
from ehp.synth import names
from ehp.synth.names import transliterate

POOL = sorted(
    {
        *names.KAZAKH_MALE,
        *names.KAZAKH_FEMALE,
        *names.KAZAKH_SURNAMES,
        *names.RUSSIAN_MALE,
        *names.RUSSIAN_FEMALE,
        *names.RUSSIAN_SURNAMES,
    }
)


@pytest.mark.parametrize(
    "spellings",
    [
        ("Нұрлан Сейітқали", "Nurlan Seitkali", "Нурлан Сейткали", "Nūrlan Seıitqali"),
        ("Жұмабаев", "Zhumabayev", "Jumabaev", "Djumabaev"),
        ("Ахметова", "Akhmetova", "Ahmetova"),
        ("Фёдоров Артём", "Fyodorov Artyom", "Федоров Артем"),
        ("Ерлан", "Yerlan", "Erlan"),
        ("Дмитрий", "Dmitriy", "Dmitrii"),
        ("Шәріпов", "Şäripov", "Sharipov"),
        ("Назарбаев", "Nazarbayev"),
    ],
)
def test_spellings_of_one_name_fold_alike(spellings: tuple[str, ...]) -> None:
    assert len({canonical(spelling) for spelling in spellings}) == 1


def test_every_name_starts_with_a_spelling_of_its_folded_prefix() -> None:
    """What candidate retrieval relies on, for every name of the synthetic pools, in both scripts."""
    for name in POOL:
        for written in (name, transliterate(name)):
            folded, stored = canonical(written), normalize_string(written)
            doubled = any(a == b and a not in "iи" for a, b in pairwise(stored[:4]))
            if doubled or any(char in name.lower() for char in "ьъ") or len(folded) < 3:
                continue  # outside the guarantee: signs, doubled consonants (Анна), short names
            for length in (2, 3):
                spellings = index_prefixes(folded[:length])
                assert any(stored.startswith(prefix) for prefix in spellings), (written, folded)


@given(st.sampled_from(POOL))
def test_cyrillic_and_passport_latin_agree_for_the_matcher(name: str) -> None:
    assert jaro_winkler(canonical(name), canonical(transliterate(name))) >= 0.94


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [("pavel", "paval", True), ("janar", "jnar", True), ("abcd", "abdc", True), ("abc", "abcx", True),
     ("abc", "abc", False), ("abcd", "badc", False), ("abc", "axcy", False)],
)  # fmt: skip
def test_one_edit_apart(first: str, second: str, expected: bool) -> None:
    assert one_edit_apart(first, second) is expected
    assert one_edit_apart(second, first) is expected


def test_jaro_winkler_reference_values() -> None:
    assert round(jaro_winkler("martha", "marhta"), 4) == 0.9611
    assert round(jaro_winkler("dixon", "dicksonx"), 4) == 0.8133
    assert jaro_winkler("", "") == 0.0 and jaro_winkler("a", "a") == 1.0
