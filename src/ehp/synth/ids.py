"""Deterministic ids and random streams: the same seed gives the same ids and bytes.

Infrastructure (organisations, locations, staff) gets name-based UUIDs (version 5) from the seed
and a stable key, so a polyclinic keeps its id whatever the number of people generated. A unit
of people (a person, or a mother with her children) draws from its own random stream seeded by
the seed and the unit's number, and its ids are version 4 UUIDs drawn from that stream.
"""

from __future__ import annotations

import random
import uuid

_NAMESPACE = uuid.UUID("6f1f7a52-4b0e-4d39-9a51-2b1b0ad1c0de")


def stable_id(seed: int, key: str) -> str:
    """The id of a piece of infrastructure, from the seed and its key (``Organization/astana/...``)."""
    return str(uuid.uuid5(_NAMESPACE, f"{seed}:{key}"))


def stream(seed: int, *parts: object) -> random.Random:
    """An independent random stream for one purpose (str seeds go through SHA-512: stable everywhere)."""
    return random.Random(":".join([str(seed), *(str(part) for part in parts)]))


def random_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
