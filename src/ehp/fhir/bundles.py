"""The rules of Bundles that are not FHIRPath invariants (those, ``bdl-1``...``bdl-12``, run in
:mod:`ehp.fhir.invariants`): what HL7's validator checks in its Bundle validator.

* ``entry.fullUrl`` is an absolute URI (``urn:uuid:``, ``urn:oid:`` or a URL with a scheme), and
  when it is a RESTful URL ending ``Type/id``, the entry's resource should have that type and id
  (a warning);
* the link relations ``self``, ``first``, ``previous``, ``next`` and ``last`` occur at most once,
  and the paging ones only in search sets and histories;
* in a search set, matches have ids, ``outcome`` entries are OperationOutcomes, and when the
  ``self`` link names the types searched (``Observation?…`` or ``_type=``), matches are of them;
* in transactions, documents and messages, a ``urn:uuid:``/``urn:oid:`` reference names the
  ``fullUrl`` of an entry: such a reference can only be resolved inside the bundle.

Checked on the parsed JSON as it is (structural errors are reported by the structural walk), so
every access is guarded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ehp.fhir.issues import Issue
from ehp.fhir.primitives import ABSOLUTE_URI

__all__ = ["check_bundle"]

_RESTFUL_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S*/([A-Z][A-Za-z]*)/([A-Za-z0-9\-.]{1,64})")
_ONCE = ("self", "first", "previous", "next", "last")
_PAGING = frozenset({"first", "previous", "next", "last", "prev"})
_PAGED_TYPES = frozenset({"searchset", "history"})
_RESOLVED_IN_BUNDLE = frozenset({"transaction", "document", "message"})
_MAX_REFERENCE_DEPTH = 100


def check_bundle(bundle: dict[Any, Any], path: str, issues: list[Issue]) -> None:
    """Append an issue for every Bundle rule ``bundle`` (at expression ``path``) breaks."""
    bundle_type = bundle.get("type")
    entries = [entry if type(entry) is dict else {} for entry in _list(bundle.get("entry"))]
    full_urls: set[str] = set()
    for position, entry in enumerate(entries):
        full_url = entry.get("fullUrl")
        if type(full_url) is not str:
            continue
        where = f"{path}.entry[{position}]"
        if not ABSOLUTE_URI.fullmatch(full_url):
            issues.append(
                Issue("error", "invalid", f"the fullUrl must be an absolute URL (not {full_url!r})", where)
            )
            continue
        full_urls.add(full_url)
        _check_restful_full_url(full_url, entry.get("resource"), where, issues)
    _check_links(bundle.get("link"), bundle_type, path, issues)
    if bundle_type == "searchset":
        _check_search_set(bundle, entries, path, issues)
    if bundle_type in _RESOLVED_IN_BUNDLE:
        for position, entry in enumerate(entries):
            resource = entry.get("resource")
            if type(resource) is not dict:
                continue
            where = f"{path}.entry[{position}].resource"
            for reference, at in _references(resource, where, 0):
                if reference.startswith(("urn:uuid:", "urn:oid:")) and reference not in full_urls:
                    issues.append(
                        Issue(
                            "error",
                            "not-found",
                            f"{reference!r} names no entry of this {bundle_type} bundle: a urn: reference "
                            "can only be resolved by an entry's fullUrl",
                            at,
                        )
                    )


def _list(value: Any) -> list[Any]:
    return value if type(value) is list else []


def _check_restful_full_url(full_url: str, resource: Any, where: str, issues: list[Issue]) -> None:
    match = _RESTFUL_URL.fullmatch(full_url)
    if match is None or type(resource) is not dict:
        return
    resource_type, resource_id = resource.get("resourceType"), resource.get("id")
    if type(resource_type) is not str or type(resource_id) is not str:
        return
    if (resource_type, resource_id) != (match.group(1), match.group(2)):
        issues.append(  # a warning, as for HL7's validator: three official examples do it
            Issue(
                "warning",
                "invalid",
                f"the fullUrl {full_url!r} is a RESTful URL, so it must end with the resource's type and "
                f"id ({resource_type}/{resource_id})",
                where,
            )
        )


def _check_links(links: Any, bundle_type: Any, path: str, issues: list[Issue]) -> None:
    seen: set[str] = set()
    for position, link in enumerate(_list(links)):
        relation = link.get("relation") if type(link) is dict else None
        if type(relation) is not str:
            continue
        where = f"{path}.link[{position}]"
        if relation in _PAGING and bundle_type not in _PAGED_TYPES:
            issues.append(
                Issue(
                    "error",
                    "invalid",
                    f"the paging link relation {relation!r} is only allowed in search sets and histories, "
                    f"not in a {bundle_type} bundle",
                    f"{where}.relation",
                )
            )
        if relation in _ONCE:
            if relation in seen:
                issues.append(
                    Issue("error", "invalid", f"the link relation {relation!r} can only occur once", where)
                )
            seen.add(relation)


def _check_search_set(
    bundle: dict[Any, Any], entries: list[dict[Any, Any]], path: str, issues: list[Issue]
) -> None:
    searched = _searched_types(bundle.get("link"))
    for position, entry in enumerate(entries):
        resource = entry.get("resource")
        if type(resource) is not dict:
            continue
        search = entry.get("search")
        mode = search.get("mode") if type(search) is dict else None
        resource_type = resource.get("resourceType")
        where = f"{path}.entry[{position}].resource"
        if mode == "outcome":
            if resource_type != "OperationOutcome":
                issues.append(
                    Issue(
                        "error",
                        "invalid",
                        f"an entry of search mode 'outcome' must be an OperationOutcome, not {resource_type}",
                        where,
                    )
                )
            continue
        if mode in (None, "match") and "id" not in resource:
            issues.append(Issue("error", "required", "search results must have ids", where))
        if mode == "match" and searched and resource_type not in searched:
            issues.append(
                Issue(
                    "error",
                    "invalid",
                    f"a {resource_type} does not match the search of the self link "
                    f"(which searches {', '.join(sorted(searched))})",
                    where,
                )
            )


def _searched_types(links: Any) -> frozenset[str]:
    """The types the ``self`` link searches (``[base]/Type?…``, ``[base]?_type=A,B``), if it says."""
    for link in _list(links):
        if type(link) is not dict or link.get("relation") != "self" or type(link.get("url")) is not str:
            continue
        parts = urlsplit(link["url"])
        types = [item for value in parse_qs(parts.query).get("_type", []) for item in value.split(",")]
        if types:
            return frozenset(item.strip() for item in types if item.strip())
        last = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if last[:1].isupper() and last.isalpha():
            return frozenset({last})
    return frozenset()


def _references(value: Any, path: str, depth: int) -> Iterator[tuple[str, str]]:
    """Every ``reference`` string under ``value`` with its expression (not into nested bundles)."""
    if depth > _MAX_REFERENCE_DEPTH:
        return
    if type(value) is dict:
        if value.get("resourceType") == "Bundle" and depth > 0:
            return  # a nested bundle resolves its own references
        for key, child in value.items():
            if type(key) is not str:
                continue
            if key == "reference" and type(child) is str:
                yield child, f"{path}.reference"
            elif type(child) in (dict, list):
                yield from _references(child, f"{path}.{key}", depth + 1)
    elif type(value) is list:
        for position, item in enumerate(value):
            yield from _references(item, f"{path}[{position}]", depth + 1)
