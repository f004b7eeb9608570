"""A citizen's ``Consent`` resources, read as permit and deny rules for workers (R4 Consent).

Only ``status = active`` Consents count. Each provision (the root and the nested ones) with a
``type`` is a rule: its ``actor`` references (Practitioner, PractitionerRole, Organization) say to
whom it applies (no actor: to everyone), its ``period`` when, and what it covers: ``class``
(resource types, codes of ``http://hl7.org/fhir/resource-types``), ``securityLabel`` (records
carrying that label in ``meta.security``) and ``data`` (named records, e.g. an episode). A rule
without class, label or data covers the whole passport.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ehp.index.normalization import date_range


@dataclass(frozen=True, slots=True)
class Rule:
    patient: str
    permit: bool
    actors: frozenset[str]
    """References to whom the rule applies; empty: to everyone."""
    classes: frozenset[str]
    labels: frozenset[str]
    """Security label codes."""
    data: frozenset[str]
    """``Type/id`` of named records."""

    @property
    def whole(self) -> bool:
        return not (self.classes or self.labels or self.data)

    def applies_to(self, references: frozenset[str]) -> bool:
        return not self.actors or bool(self.actors & references)


def consent_rules(consent: dict[str, Any], now: int) -> list[Rule]:
    """The rules of an active Consent in force at ``now`` (microseconds)."""
    if consent.get("status") != "active":
        return []
    patient = _reference(consent.get("patient"))
    if patient is None or not patient.startswith("Patient/"):
        return []
    provision = consent.get("provision")
    if not isinstance(provision, dict):
        return []
    return list(_walk(patient.removeprefix("Patient/"), provision, now))


def _walk(patient: str, provision: dict[str, Any], now: int) -> Iterator[Rule]:
    kind = provision.get("type")
    if kind in ("permit", "deny") and in_force(provision.get("period"), now):
        yield Rule(
            patient,
            kind == "permit",
            frozenset(
                reference
                for actor in _list(provision.get("actor"))
                if (reference := _reference(actor.get("reference"))) is not None
            ),
            frozenset(str(item["code"]) for item in _list(provision.get("class")) if item.get("code")),
            frozenset(
                str(item["code"]) for item in _list(provision.get("securityLabel")) if item.get("code")
            ),
            frozenset(
                reference
                for item in _list(provision.get("data"))
                if (reference := _reference(item.get("reference"))) is not None
            ),
        )
    for nested in _list(provision.get("provision")):
        yield from _walk(patient, nested, now)


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _reference(value: Any) -> str | None:
    text = value.get("reference") if isinstance(value, dict) else None
    return text if isinstance(text, str) and "/" in text else None


def in_force(period: Any, now: int) -> bool:
    if not isinstance(period, dict):
        return True
    try:
        if isinstance(period.get("start"), str) and date_range(period["start"])[0] > now:
            return False
        return not (isinstance(period.get("end"), str) and date_range(period["end"])[1] < now)
    except ValueError:
        return False
