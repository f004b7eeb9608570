"""Reading FHIR reference strings: ``Patient/1``, ``http://x/fhir/Patient/1/_history/2``, ``#p1``."""

from __future__ import annotations

import re
from collections.abc import Container
from functools import lru_cache
from typing import Any

_REFERENCE = re.compile(
    r"(?:(?P<base>[A-Za-z][A-Za-z0-9+.\-]*://[^|#?]*/))?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-.]{1,64})?"
)


def split_reference(text: str, resource_types: Container[str]) -> tuple[str | None, str | None, bool]:
    """``(type, id, absolute)`` of a relative or absolute RESTful reference, ``|version`` ignored.

    ``(None, None, absolute)`` when the text is not ``[base/]Type/id`` with a known resource type
    (a ``urn:uuid:``, a conditional reference, a canonical without a resource-like tail...).
    """
    target_type, target_id, absolute = _parse(text)
    if target_type is None or target_type not in resource_types:
        return None, None, absolute
    return target_type, target_id, absolute


@lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[str | None, str | None, bool]:
    text = text.split("|", 1)[0]
    match = _REFERENCE.fullmatch(text)
    absolute = ":" in text
    if match is None:
        return None, None, absolute
    return match["type"], match["id"], absolute


def contained_resource(root: dict[str, Any], reference: str) -> dict[str, Any] | None:
    """The resource a local reference (``#id``, or ``#`` for the container itself) points to."""
    local_id = reference[1:]
    if not local_id:
        return root
    contained = root.get("contained")
    for candidate in contained if isinstance(contained, list) else ():
        if isinstance(candidate, dict) and candidate.get("id") == local_id:
            return candidate
    return None


def resolve_reference(
    value: Any, root: dict[str, Any], resource_types: Container[str]
) -> dict[str, Any] | None:
    """What FHIRPath ``resolve()`` gives for a Reference (a dict) or a canonical/uri (a str).

    A local reference gives the contained resource. Anything else gives a stub
    ``{"resourceType": type, "id": id}`` whose type comes from the reference string (relative or
    absolute) or else from ``Reference.type``, enough for ``resolve() is Patient``; None when the
    type cannot be known (``urn:uuid:`` without ``type``, a display-only reference...).
    """
    if isinstance(value, str):
        reference: Any = value
        declared = None
    elif isinstance(value, dict):
        reference = value.get("reference")
        declared = value.get("type")
    else:
        return None
    if isinstance(reference, str):
        if reference.startswith("#"):
            return contained_resource(root, reference)
        target_type, target_id, _ = split_reference(reference, resource_types)
        if target_type is not None:
            return {"resourceType": target_type, "id": target_id}
    if isinstance(declared, str):
        declared = declared.rsplit("/", 1)[-1]
        if declared in resource_types:
            return {"resourceType": declared}
    return None


def reference_id(reference: Any, resource_type: str) -> str | None:
    """The id in a relative ``Type/id`` reference (a Reference object or its text) to ``resource_type``."""
    text = reference.get("reference") if isinstance(reference, dict) else reference
    if not isinstance(text, str):
        return None
    kind, _, rest = text.partition("/")
    resource_id = rest.split("/", 1)[0]
    return resource_id if kind == resource_type and resource_id else None
