"""Names written in Kazakh or Russian Cyrillic or in any of their Latin transliterations, made comparable.

:func:`canonical` folds a name to a small Latin alphabet so that the spellings of one name in
records from different systems meet: ``"Нұрлан Сейітқали"``, ``"Nurlan Seitkali"`` (ICAO Doc 9303,
the passports), ``"Нурлан Сейткали"`` (Kazakh letters typed as Russian ones) and
``"Nūrlan Seıitqali"`` (the 2021 Kazakh Latin alphabet) all give ``"nurlan seitkali"``.

The folding: case and diacritics dropped; Cyrillic letters to Latin, the Kazakh ones to their
Russian neighbours (``ә``→a, ``ғ``→g, ``қ``→k, ``ң``→n, ``ө``→o, ``ұ``/``ү``→u, ``һ``→h, ``і``→i);
the spellings that differ between transliteration schemes to one form (``zh``/``j``/``ж``→j,
``kh``/``х``→h, ``ts``/``ch``/``ц``/``ч``→c, ``yo``/``ё``→e, ``y``/``й``/``ы``→i, ``q``→k, ``w``→v,
a leading ``ye``→e, ``yev`` after a vowel→ev; ``ы`` goes through its ICAO spelling ``y``, so
``ыо`` meets the ``yo`` of its transliteration); letters repeated in a row to one
(``Сейіт``→``seiit``→``seit``); anything but the letters a-z (and the spaces between words) dropped.

:func:`index_prefixes` goes the other way for finding candidates in the search index, which holds
names as written (only case-folded and without diacritics): every spelling, in Cyrillic or in
Latin, whose folding starts with a given folded prefix.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_CYRILLIC = {
    "а": "a", "ә": "a", "б": "b", "в": "v", "г": "g", "ғ": "g", "д": "d", "е": "e", "ё": "e",
    "ж": "j", "з": "z", "и": "i", "й": "i", "і": "i", "к": "k", "қ": "k", "л": "l", "м": "m",
    "н": "n", "ң": "n", "о": "o", "ө": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ұ": "u", "ү": "u", "ф": "f", "х": "h", "һ": "h", "ц": "c", "ч": "c", "ш": "sh", "щ": "sh",
    "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
}  # fmt: skip
_BEFORE_DECOMPOSITION = str.maketrans({"ş": "sh", "ç": "ch", "ı": "i"})
"""Letters whose meaning NFKD would lose: ``ş`` is ``ш``, not ``с``; ``ı`` is not decomposed."""
_SPELLINGS = (
    ("shch", "sh"), ("sch", "sh"), ("dzh", "j"), ("zh", "j"), ("dj", "j"), ("kh", "h"), ("yo", "e"),
    ("ts", "c"), ("tc", "c"), ("ch", "c"), ("y", "i"), ("q", "k"), ("w", "v"),
)  # fmt: skip
"""Spellings that differ between transliteration schemes, to one form (in this order)."""
_IOTATED = re.compile(r"(?<=[aeiou])iev")
"""``ayev`` in ``Nazarbayev`` is ``аев`` in ``Назарбаев``."""
_REPEATED = re.compile(r"([a-z])\1+")
_NOT_LETTERS = re.compile(r"[^a-z]+")


def canonical(text: str) -> str:
    """The folded form of a name (see the module doc); words separated by single spaces."""
    lowered = text.casefold().translate(_BEFORE_DECOMPOSITION)
    decomposed = unicodedata.normalize("NFKD", lowered)
    plain = "".join(_CYRILLIC.get(char, char) for char in decomposed if not unicodedata.combining(char))
    words = []
    for word in _NOT_LETTERS.split(plain.replace("'", "").replace("ʼ", "")):
        if word.startswith("ye"):
            word = word[1:]
        for spelling, folded in _SPELLINGS:
            word = word.replace(spelling, folded)
        if word:
            words.append(_REPEATED.sub(r"\1", _IOTATED.sub("ev", word)))
    return " ".join(words)


# How a folded letter (or pair) may be written in the search index: names as written, case-folded,
# without diacritics (so no й or ё: they are и and е there).
_CYRILLIC_LETTERS = {
    "a": "аә", "b": "б", "c": "цч", "d": "д", "e": "еэ", "f": "ф", "g": "гғ", "h": "хһ", "i": "иіы",
    "j": "ж", "k": "кқ", "l": "л", "m": "м", "n": "нң", "o": "оө", "p": "п", "r": "р", "s": "с",
    "t": "т", "u": "уұү", "v": "в", "z": "з", "sh": "шщ", "ia": "я", "iu": "ю",
}  # fmt: skip
_CYRILLIC_WRITING = {folded: tuple(letters) for folded, letters in _CYRILLIC_LETTERS.items()}
_LATIN_WRITING = {
    **{letter: (letter,) for letter in "abdefglmnoprstuxz"},
    "c": ("c", "ts", "ch"), "h": ("h", "kh"), "i": ("i", "y"), "j": ("j", "zh", "dj"),
    "k": ("k", "q"), "v": ("v", "w"),
}  # fmt: skip


@cache
def index_prefixes(prefix: str) -> tuple[str, ...]:
    """Every spelling (Cyrillic or Latin, as the search index holds it) of a folded prefix.

    ``index_prefixes("nur")`` gives ``нур``, ``нұр``, ``ңүр``..., ``nur``: a name whose folding
    starts with ``nur`` starts with one of them, unless its first letters hold a soft or hard sign
    or a doubled consonant (``Алла``). An ``i`` before the last letter may be written with two
    letters, since folding merges them (``Айым`` is ``аиым`` in the index and folds to ``aim``).
    """
    latin = _spell(prefix, _LATIN_WRITING)
    if prefix.startswith("e"):
        latin |= {"ye" + rest for rest in _spell(prefix[1:], _LATIN_WRITING)}
    return tuple(sorted(_spell(prefix, _CYRILLIC_WRITING) | latin))


def _spell(folded: str, writing: dict[str, tuple[str, ...]]) -> set[str]:
    if not folded:
        return {""}
    found: set[str] = set()
    for key, spellings in writing.items():
        if folded.startswith(key):
            rest = folded[len(key) :]
            if rest and key == "i":  # й next to и/ы/і folds to one i; at the end the prefix covers it
                spellings = (
                    *spellings,
                    *(a + b for a in spellings for b in spellings if len(a) == len(b) == 1),
                )
            found.update(spelling + tail for spelling in spellings for tail in _spell(rest, writing))
        elif key.startswith(folded):
            found.update(spellings)
    return found
