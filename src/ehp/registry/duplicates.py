"""Probable duplicate records among the people attached to an organisation (or a region's).

Each attached person's record goes through the matcher (:func:`~ehp.registry.mpi.find_matches`,
candidates from the index) against the whole national index: a duplicate is rarely attached
itself (a record made at a hospital, an ambulance call, a digitised paper card). A pair is
reported once, with its score and grade. Cost: a few index searches per attached person.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ehp.registry.coverage import attached_people
from ehp.registry.mpi import Grade, find_matches
from ehp.registry.records import Index
from ehp.registry.settings import MatchSettings

BATCH = 500


@dataclass(frozen=True, slots=True)
class Pair:
    patient: str
    """The attached person's record."""
    duplicate: str
    score: float
    grade: Grade


def duplicate_pairs(
    index: Index,
    organizations: list[str],
    settings: MatchSettings,
    iin_system: str,
    minimum: Grade,
    limit: int,
) -> tuple[list[Pair], int]:
    """Up to ``limit`` pairs at ``minimum`` or better, best first, and how many records were checked."""
    attached = attached_people(index, organizations).subquery("attached")
    people = [
        row[0] for row in index.query(select(attached.c.patient).distinct().order_by(attached.c.patient))
    ]
    found: dict[tuple[str, str], Pair] = {}
    checked = 0
    for start in range(0, len(people), BATCH):
        for patient_id, content in index.contents("Patient", people[start : start + BATCH]).items():
            checked += 1
            for match in find_matches(index, content, settings, iin_system, minimum=minimum):
                key = (min(patient_id, match.id), max(patient_id, match.id))
                if key not in found or found[key].score < match.scored.score:
                    found[key] = Pair(patient_id, match.id, match.scored.score, match.scored.grade)
        if len(found) >= limit:
            break
    pairs = sorted(found.values(), key=lambda pair: (-pair.score, pair.patient, pair.duplicate))
    return pairs[:limit], checked
