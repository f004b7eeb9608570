"""Reference growth curves for the passport's charts of a child's weight and height.

Rounded values of the WHO Child Growth Standards (2006): weight-for-age and length/height-for-age
from birth to 60 months, the median and the -2 SD and +2 SD lines, at the ages below (months). They
are drawn as straight lines between these points, for orientation next to a child's measurements;
they are not meant for a diagnosis (a z-score needs the full LMS tables).
"""

from __future__ import annotations

AGES = (0, 3, 6, 9, 12, 18, 24, 36, 48, 60)
"""Months."""

# (sex, measure) → (-2 SD, median, +2 SD), one value per age of AGES.
CURVES: dict[tuple[str, str], tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]] = {
    ("male", "weight"): (
        (2.5, 5.0, 6.4, 7.1, 7.7, 8.8, 9.7, 11.3, 12.7, 14.1),
        (3.3, 6.4, 7.9, 8.9, 9.6, 10.9, 12.2, 14.3, 16.3, 18.3),
        (4.4, 8.0, 9.8, 11.0, 12.0, 13.7, 15.3, 18.3, 21.2, 24.2),
    ),
    ("female", "weight"): (
        (2.4, 4.5, 5.7, 6.5, 7.0, 8.1, 9.0, 10.8, 12.3, 13.7),
        (3.2, 5.8, 7.3, 8.2, 8.9, 10.2, 11.5, 13.9, 16.1, 18.2),
        (4.2, 7.5, 9.3, 10.5, 11.5, 13.2, 14.8, 18.1, 21.5, 24.9),
    ),
    ("male", "height"): (
        (46.1, 57.3, 63.3, 67.5, 71.0, 76.9, 81.7, 88.7, 94.9, 100.7),
        (49.9, 61.4, 67.6, 72.0, 75.7, 82.3, 87.8, 96.1, 103.3, 110.0),
        (53.7, 65.5, 71.9, 76.5, 80.5, 87.7, 93.9, 103.5, 111.7, 119.2),
    ),
    ("female", "height"): (
        (45.4, 55.6, 61.2, 65.3, 68.9, 74.9, 80.0, 87.4, 94.1, 99.9),
        (49.1, 59.8, 65.7, 70.1, 74.0, 80.7, 86.4, 95.1, 102.7, 109.4),
        (52.9, 64.0, 70.3, 75.0, 79.2, 86.5, 92.9, 102.7, 111.3, 118.9),
    ),
}
MAX_MONTHS = AGES[-1]


def reference(sex: str, measure: str) -> list[list[list[float]]]:
    """The three curves (-2 SD, median, +2 SD) as lists of [months, value] points (empty for other sexes)."""
    curves = CURVES.get((sex, measure))
    if curves is None:
        return []
    return [[[float(age), value] for age, value in zip(AGES, curve, strict=True)] for curve in curves]
