"""Which custom parameters a reindex job applies, and which resource types it re-extracts."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from ehp.index.custom import CustomParameterError, custom_parameter, is_custom
from ehp.index.parameters import SearchParameter

log = logging.getLogger(__name__)

Entry = dict[str, Any]
"""``{"base": [types], "resource": SearchParameter resource}``: a parameter in effect for those types."""


def plan_job(
    stored: Iterable[dict[str, Any]], previous: Sequence[Entry], limit: Sequence[str] | None
) -> tuple[list[str], list[Entry]]:
    """The types to re-extract and the parameters in effect once the job is done.

    ``stored`` are the SearchParameter resources now in the store, ``previous`` the entries in
    effect now. Without ``limit`` (system level) every active custom parameter applies, and the
    types re-extracted are the bases of the new and of the previous entries (so a retired or
    deleted parameter leaves the index). With ``limit`` (type level) only those types change:
    they are re-extracted and get the active parameters, other types keep their previous ones.
    """
    active = [resource for resource in stored if is_custom(resource) and _valid(resource)]
    if limit is None:
        entries = [{"base": list(resource["base"]), "resource": resource} for resource in active]
        types = {base for entry in [*entries, *previous] for base in entry["base"]}
        return sorted(types), entries
    chosen = set(limit)
    entries = [
        {"base": [b for b in resource["base"] if b in chosen], "resource": resource}
        for resource in active
        if chosen.intersection(resource["base"])
    ]
    entries += [
        {"base": [b for b in entry["base"] if b not in chosen], "resource": entry["resource"]}
        for entry in previous
        if set(entry["base"]) - chosen
    ]
    return sorted(chosen), entries


def parameters_of(entries: Iterable[Entry]) -> list[SearchParameter]:
    """The search parameters of snapshot entries, each limited to its entry's types."""
    found: list[SearchParameter] = []
    for entry in entries:
        try:
            parameter = custom_parameter(entry["resource"])
        except CustomParameterError as failure:
            log.error("custom search parameter %s left out: %s", entry["resource"].get("url"), failure)
            continue
        bases = tuple(base for base in parameter.base if base in entry["base"])
        found.append(dataclasses.replace(parameter, base=bases))
    return found


def _valid(resource: dict[str, Any]) -> bool:
    try:
        custom_parameter(resource)
    except CustomParameterError as failure:
        log.error("custom search parameter %s not applied: %s", resource.get("url"), failure)
        return False
    return True
