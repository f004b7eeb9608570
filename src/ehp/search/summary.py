"""``_summary`` and ``_elements``: the part of each resource a search returns.

* ``_summary=true``: the elements marked ``isSummary`` in the resource's StructureDefinition, and
  within a kept backbone element (``Observation.component``) its own summary elements; datatype
  values are kept whole.
* ``_summary=text``: ``text``, ``id``, ``meta`` and the top-level mandatory elements.
* ``_summary=data``: everything but ``text``.
* ``_summary=count``: no resources, only the total (the caller's business).
* ``_elements=a,b``: those top-level elements, with ``id``, ``meta`` and the mandatory ones.

A resource so cut gets the ``SUBSETTED`` tag in ``meta.tag``, as the specification asks. The
``_name`` extension siblings of kept primitives are kept with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from ehp.fhir.definitions import element_tables, summary_elements
from ehp.fhir.jsonio import loads
from ehp.search.errors import SearchError

SUMMARY_MODES = ("true", "text", "data", "count", "false")
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "Resource encoded in summary mode",
}
_ALWAYS = frozenset({"resourceType", "id", "meta"})


@dataclass(frozen=True, slots=True)
class Shape:
    summary: str
    """One of :data:`SUMMARY_MODES` (``false``: whole resources)."""
    elements: frozenset[str] | None = None

    @property
    def whole(self) -> bool:
        return self.summary in ("false", "count") and self.elements is None


def parse_shape(query: Sequence[tuple[str, str]]) -> Shape:
    """The ``_summary``/``_elements`` of a search (raises SearchError when malformed)."""
    summaries = [value for name, value in query if name == "_summary"]
    elements = [value for name, value in query if name == "_elements"]
    if len(summaries) > 1:
        raise SearchError("_summary", "_summary is given more than once")
    summary = summaries[0] if summaries else "false"
    if summary not in SUMMARY_MODES:
        raise SearchError("_summary", f"_summary must be one of {', '.join(SUMMARY_MODES)}, not '{summary}'")
    if not elements:
        return Shape(summary)
    if summary != "false":
        raise SearchError("_elements", "_elements cannot be combined with _summary")
    names = frozenset(name.strip() for value in elements for name in value.split(",") if name.strip())
    return Shape(summary, names)


@cache
def _keys(context: str, names: frozenset[str]) -> frozenset[str]:
    """The JSON keys of the named child elements of a context (choice elements in every type)."""
    table = element_tables().get(context, {})
    keys: set[str] = set()
    for name in names:
        element = table.get(name)
        if element is not None and element.choice:
            keys.update(name + kind[0].upper() + kind[1:] for kind in element.types)
        else:
            keys.add(name)
    return frozenset(keys | {"_" + key for key in keys})


@cache
def _mandatory(resource_type: str) -> frozenset[str]:
    table = element_tables().get(resource_type, {})
    return frozenset(name for name, element in table.items() if element.min > 0)


@cache
def _children(context: str) -> dict[str, str]:
    """JSON key → the context of its children, for the backbone elements of a context."""
    found: dict[str, str] = {}
    for name, element in element_tables().get(context, {}).items():
        if element.context is not None and element.context in summary_elements():
            found[name] = element.context
    return found


def _summary(value: dict[str, Any], context: str) -> dict[str, Any]:
    keys = _keys(context, summary_elements().get(context, frozenset()))
    children = _children(context)
    kept: dict[str, Any] = {}
    for key, item in value.items():
        if key not in keys and key not in _ALWAYS:
            continue
        child = children.get(key)
        if child is not None and isinstance(item, dict):
            item = _summary(item, child)
        elif child is not None and isinstance(item, list):
            item = [_summary(part, child) if isinstance(part, dict) else part for part in item]
        kept[key] = item
    return kept


def _top_level(resource: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    resource_type = resource.get("resourceType", "")
    keys = _keys(resource_type, names | _mandatory(resource_type)) | _ALWAYS
    return {key: item for key, item in resource.items() if key in keys}


def shape_resource(content: bytes, shape: Shape) -> dict[str, Any]:
    """The stored resource cut to what ``shape`` asks, tagged ``SUBSETTED``."""
    resource: dict[str, Any] = loads(content)
    if shape.elements is not None:
        cut = _top_level(resource, shape.elements)
    elif shape.summary == "true":
        cut = _summary(resource, resource.get("resourceType", ""))
    elif shape.summary == "text":
        cut = _top_level(resource, frozenset({"text"}))
    else:
        cut = {key: item for key, item in resource.items() if key != "text"}
    meta = dict(cut.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    cut["meta"] = meta
    return cut
