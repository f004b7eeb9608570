"""Profiles the server knows by URL: the core ones, and StructureDefinitions stored here.

``EHP_REQUIRED_PROFILES`` names the profiles every write of a type must conform to, as
``Type=URL`` pairs separated by commas (``Patient=http://ehp.kz/fhir/StructureDefinition/kz-patient``;
a type may be named more than once). A stored profile is looked up by its ``url`` and compiled
once per version: a new version put on the server applies to writes within
:data:`REFRESH_SECONDS`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from ehp.errors import bad_request
from ehp.fhir.definitions import is_resource_type
from ehp.fhir.jsonio import loads
from ehp.fhir.profiles import Profile, ProfileError, compile_profile, known_profile, snapshot_elements
from ehp.search.query import find_ids
from ehp.store.store import StoreReader
from ehp.store.writes import WriteTransaction

__all__ = ["REFRESH_SECONDS", "UnknownProfile", "profile_by_url", "required_profiles_setting"]

REFRESH_SECONDS = 30.0
_CACHE: dict[str, tuple[float, Profile]] = {}


class UnknownProfile(LookupError):
    """No core profile and no stored StructureDefinition has this URL (or it is unusable)."""


def required_profiles_setting(text: str | None = None) -> Mapping[str, tuple[str, ...]]:
    """``EHP_REQUIRED_PROFILES`` parsed: resource type → profile URLs. A bad value stops the
    server at start with the variable's name."""
    text = os.environ.get("EHP_REQUIRED_PROFILES", "") if text is None else text
    found: dict[str, list[str]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        resource_type, _, url = item.partition("=")
        if not is_resource_type(resource_type.strip()) or "://" not in url:
            raise ValueError(
                f"EHP_REQUIRED_PROFILES must be Type=URL pairs separated by commas, not '{item}'"
            )
        found.setdefault(resource_type.strip(), []).append(url.strip())
    return {resource_type: tuple(urls) for resource_type, urls in found.items()}


def profile_by_url(reader: StoreReader | WriteTransaction, url: str) -> Profile:
    """The core profile, or the stored StructureDefinition, with this canonical URL."""
    canonical = url.split("|", 1)[0]
    core = known_profile(canonical)
    if core is not None:
        return core
    cached = _CACHE.get(canonical)
    if cached is not None and time.monotonic() - cached[0] < REFRESH_SECONDS:
        return cached[1]
    ids = find_ids(reader, "StructureDefinition", [("url", canonical)], limit=2)
    if len(ids) != 1:
        raise UnknownProfile(
            f"no profile with the url {canonical} is known here"
            if not ids
            else f"several StructureDefinitions have the url {canonical}"
        )
    stored = reader.read("StructureDefinition", ids[0])
    if stored is None or stored.content is None:
        raise UnknownProfile(f"no profile with the url {canonical} is known here")
    definition = loads(stored.content)
    try:
        profile = compile_profile(canonical, str(definition.get("type")), snapshot_elements(definition))
    except (ProfileError, KeyError, TypeError, ValueError) as failure:
        raise UnknownProfile(
            f"the StructureDefinition {canonical} cannot be used as a profile: {failure}"
        ) from None
    _CACHE[canonical] = (time.monotonic(), profile)
    return profile


def requested_profile(reader: StoreReader | WriteTransaction, url: str) -> Profile:
    """:func:`profile_by_url` for a caller's request: an unknown profile is a 400."""
    try:
        return profile_by_url(reader, url)
    except UnknownProfile as failure:
        raise bad_request(str(failure), "profile") from None
