"""Configuration of the registries: the IIN system, the patient matcher and the attachment rules.

Everything has a default that suits the country (documented in ``docs/architecture.md``). A server
reads its configuration once, at start-up, from two environment variables:

* ``EHP_IIN_SYSTEM`` — the ``Identifier.system`` of the IIN (default :data:`DEFAULT_IIN_SYSTEM`);
* ``EHP_REGISTRY_SETTINGS`` — a JSON file overriding fields of :class:`MatchSettings` (key
  ``"match"``) and :class:`AttachmentRules` (key ``"attachment"``), e.g.
  ``{"attachment": {"free_changes_per_year": 2, "campaign": null}}``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from ehp.registry.iin import IIN_SYSTEM as DEFAULT_IIN_SYSTEM

IIN_SYSTEM_VARIABLE = "EHP_IIN_SYSTEM"
SETTINGS_VARIABLE = "EHP_REGISTRY_SETTINGS"


class SettingsError(ValueError):
    """The registry configuration cannot be used."""


def iin_system() -> str:
    """The configured IIN system URI: ``EHP_IIN_SYSTEM``, else :data:`DEFAULT_IIN_SYSTEM`."""
    return os.environ.get(IIN_SYSTEM_VARIABLE) or DEFAULT_IIN_SYSTEM


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """Weights (points) and thresholds of ``Patient/$match``.

    Each compared field adds its *agree* points, its *partial* points (a near miss: a typo, a
    swapped day and month) or its *disagree* points (usually negative); a field missing on either
    side adds nothing. The sum grades the pair; ``search.score`` is the sum over
    :attr:`certain`, clamped to 0..1.
    """

    iin_agree: float = 12.0
    iin_near: float = -4.0
    """Both have an IIN and they differ in one digit (the 11th digit escapes the check digit)."""
    iin_disagree: float = -12.0
    family_agree: float = 5.0
    family_partial: float = 2.5
    family_disagree: float = -4.0
    given_agree: float = 4.0
    given_partial: float = 2.0
    given_disagree: float = -4.0
    patronymic_agree: float = 2.0
    patronymic_partial: float = 1.0
    patronymic_disagree: float = -1.0
    birth_date_agree: float = 5.0
    birth_date_swapped: float = 3.5
    """Day and month swapped (``1990-03-05`` for ``1990-05-03``)."""
    birth_date_partial: float = 1.5
    """Two of year, month and day agree."""
    birth_date_disagree: float = -5.0
    gender_agree: float = 1.0
    gender_disagree: float = -3.0
    address_agree: float = 1.5
    """The same street line and city (no penalty for a different address: people move)."""
    city_agree: float = 0.5
    name_agree_similarity: float = 0.94
    """Jaro-Winkler similarity of the normalised names from which they agree."""
    name_partial_similarity: float = 0.85
    """From which they partly agree; names one typo apart (4 letters or more) partly agree too."""
    certain: float = 20.0
    """Points from which a pair is ``certain`` (only reachable with the same IIN)."""
    probable: float = 12.0
    """Points from which a pair is ``probable``: the default threshold of a match."""
    possible: float = 8.0
    """Points from which a candidate is returned at all (``possible``)."""
    prefix_length: int = 3
    """Normalised letters of a name used to find candidates in the index by names."""
    birth_date_prefix_length: int = 2
    """The same, for candidates born on the same day (or with day and month swapped)."""
    candidates_per_pass: int = 100
    """At most this many candidates from each index search (IIN, birth date, names)."""
    default_count: int = 10
    max_count: int = 100


@dataclass(frozen=True, slots=True)
class AttachmentRules:
    """When a citizen may change polyclinic (``Patient/{id}/$attach`` while attached).

    A change for a reason in :attr:`exceptions` is always allowed. Any other change must fall in
    the annual campaign window (when one is set) and be within :attr:`free_changes_per_year`
    changes in that calendar year. A first attachment (nobody attached) is always allowed.
    """

    free_changes_per_year: int = 1
    campaign: tuple[str, str] | None = ("09-15", "11-15")
    """The yearly window of free changes, ``MM-DD`` to ``MM-DD`` inclusive; ``None``: all year."""
    exceptions: tuple[str, ...] = ("change-of-residence", "organization-closed")
    primary_care_types: tuple[str, ...] = ("polyclinic",)
    """Codes of the facility-type CodeSystem a citizen may be attached to."""

    def in_campaign(self, day: date) -> bool:
        if self.campaign is None:
            return True
        start, end = self.campaign
        return start <= f"{day:%m-%d}" <= end


@dataclass(frozen=True, slots=True)
class RegistrySettings:
    iin_system: str = DEFAULT_IIN_SYSTEM
    match: MatchSettings = field(default_factory=MatchSettings)
    attachment: AttachmentRules = field(default_factory=AttachmentRules)


def load_settings(iin: str, overrides: dict[str, Any]) -> RegistrySettings:
    """Settings from the IIN system and a JSON object of overrides (see the module doc)."""
    unknown = set(overrides) - {"match", "attachment"}
    if unknown:
        raise SettingsError(f"unknown registry settings {sorted(unknown)}; use 'match' and 'attachment'")
    match = _override(MatchSettings(), overrides.get("match", {}))
    attachment = _override(AttachmentRules(), overrides.get("attachment", {}))
    campaign = attachment.campaign
    if campaign is not None:
        if len(campaign) != 2 or not all(_is_month_day(part) for part in campaign):
            raise SettingsError(f"attachment.campaign must be two MM-DD dates or null, not {campaign!r}")
        attachment = dataclasses.replace(attachment, campaign=(campaign[0], campaign[1]))
    return RegistrySettings(iin, match, attachment)


def _override(settings: Any, values: Any) -> Any:
    if not isinstance(values, dict):
        raise SettingsError(f"registry settings for {type(settings).__name__} must be a JSON object")
    known = {f.name for f in dataclasses.fields(settings)}
    changed: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            raise SettingsError(f"{type(settings).__name__} has no setting '{name}'")
        current = getattr(settings, name)
        if isinstance(value, list) and (current is None or isinstance(current, tuple)):
            value = tuple(value)
        elif isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not (value is None and name == "campaign") and type(value) is not type(current):
            raise SettingsError(f"{type(settings).__name__}.{name} must be like {current!r}, not {value!r}")
        changed[name] = value
    return dataclasses.replace(settings, **changed)


def _is_month_day(text: Any) -> bool:
    if not isinstance(text, str) or len(text) != 5:
        return False
    try:
        date.fromisoformat(f"2000-{text}")
    except ValueError:
        return False
    return True


@cache
def registry_settings() -> RegistrySettings:
    """This process's settings, read once from the environment."""
    path = os.environ.get(SETTINGS_VARIABLE)
    overrides: dict[str, Any] = {}
    if path:
        try:
            overrides = orjson.loads(Path(path).read_bytes())
        except (OSError, orjson.JSONDecodeError) as failure:
            raise SettingsError(f"{SETTINGS_VARIABLE}={path}: {failure}") from None
        if not isinstance(overrides, dict):
            raise SettingsError(f"{SETTINGS_VARIABLE}={path} must hold a JSON object")
    return load_settings(iin_system(), overrides)
