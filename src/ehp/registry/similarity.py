"""Jaro-Winkler similarity of two strings (0: nothing in common, 1: equal), and one typo apart.

Jaro counts the characters the strings share within a window of half the longer length and the
transpositions among them; Winkler adds weight to a common prefix of up to four characters, which
suits names (typos are rarer in the first letters). Written out here because the matcher needs
nothing else from a string-distance library.
"""

from __future__ import annotations


def jaro(first: str, second: str) -> float:
    if first == second:
        return 1.0 if first else 0.0
    length1, length2 = len(first), len(second)
    if not length1 or not length2:
        return 0.0
    window = max(max(length1, length2) // 2 - 1, 0)
    taken = [False] * length2
    matched1: list[str] = []
    for i, char in enumerate(first):
        for j in range(max(0, i - window), min(length2, i + window + 1)):
            if not taken[j] and second[j] == char:
                taken[j] = True
                matched1.append(char)
                break
    if not matched1:
        return 0.0
    matched2 = [char for j, char in enumerate(second) if taken[j]]
    transpositions = sum(a != b for a, b in zip(matched1, matched2, strict=True)) / 2
    matches = len(matched1)
    return (matches / length1 + matches / length2 + (matches - transpositions) / matches) / 3


def jaro_winkler(first: str, second: str, prefix_scale: float = 0.1) -> float:
    similarity = jaro(first, second)
    prefix = 0
    for a, b in zip(first[:4], second[:4], strict=False):
        if a != b:
            break
        prefix += 1
    return similarity + prefix * prefix_scale * (1.0 - similarity)


def one_edit_apart(first: str, second: str) -> bool:
    """Whether one typo makes one string of the other: a letter changed, dropped, added, or two
    neighbours swapped (Damerau-Levenshtein distance 1)."""
    if first == second or abs(len(first) - len(second)) > 1:
        return False
    if len(first) > len(second):
        first, second = second, first
    start = 0
    while start < len(first) and first[start] == second[start]:
        start += 1
    if len(first) < len(second):
        return first[start:] == second[start + 1 :]
    if first[start + 1 :] == second[start + 1 :]:
        return True
    swapped = first[start : start + 2] == second[start : start + 2][::-1]
    return swapped and first[start + 2 :] == second[start + 2 :]
