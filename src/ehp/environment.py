"""Numeric and choice settings from ``EHP_*`` environment variables, checked in one way everywhere.

A bad value stops the process at start with the variable's name, rather than a limit silently
becoming 0, negative or infinite.
"""

from __future__ import annotations

import math
import os


def whole_number(variable: str, default: int) -> int:
    """A positive whole number (``default`` when the variable is unset)."""
    text = os.environ.get(variable)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"{variable} must be a positive whole number, not '{text}'")
    return int(text)


def seconds(variable: str, default: float, *, zero_means_none: bool = False) -> float:
    """A positive, finite number of seconds; with ``zero_means_none``, 0 is allowed (returned as 0)."""
    text = os.environ.get(variable)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{variable} must be a number of seconds, not '{text}'") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_means_none):
        raise ValueError(f"{variable} must be {'0 or more' if zero_means_none else 'positive'}, not '{text}'")
    return value


def choice(variable: str, default: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed`` (``default`` when the variable is unset)."""
    text = os.environ.get(variable)
    if text is None:
        return default
    if text not in allowed:
        raise ValueError(f"{variable} must be one of {', '.join(allowed)}, not '{text}'")
    return text
