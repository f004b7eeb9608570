"""Extensions against their definitions: the 393 core extensions of R4 and EHP's own, and a
policy for the rest.

For every extension (and modifierExtension):

* the ``url`` is absolute and names no version (``…|1.0`` is an error: an extension is identified
  by its canonical URL alone);
* a core extension's value is of a type its definition allows (``narrativeLink`` takes a ``url``,
  not a ``string``), a complex one has no value, and its nested extensions are the ones it defines,
  each with an allowed value type; it should be used where one of its contexts allows (``Element``,
  a type or resource it names or derives from, or the element path it names): a warning, as the
  specification's own definitions use ``structuredefinition-fhir-type`` on ``ElementDefinition.type``
  and ``structuredefinition-normative-version`` on value sets, outside their contexts, 1,600 times;
* an extension no loaded definition describes is allowed with a warning by default;
  ``EHP_UNKNOWN_EXTENSIONS`` makes it an ``error`` (HL7's validator's default) or ``ignore``\\ s it.

Not checked: the context of extensions on primitives (``_birthDate.extension``: the walk knows the
holder only as an Element), a root ``max`` of 1 across siblings, and FHIRPath context invariants.
"""

from __future__ import annotations

from typing import Any, Literal

from ehp.environment import choice
from ehp.fhir.definitions import (
    ExtensionDef,
    element_tables,
    extension_definition,
    is_primitive_type,
    type_parents,
)
from ehp.fhir.issues import Issue
from ehp.fhir.primitives import ABSOLUTE_URI

__all__ = [
    "ATTACHMENT_REASON",
    "DETACHMENT_REASON",
    "EHP_EXTENSIONS",
    "POLICIES",
    "UnknownPolicy",
    "check_extension",
    "default_policy",
    "known_extension",
]

UnknownPolicy = Literal["warning", "error", "ignore"]
POLICIES: tuple[UnknownPolicy, ...] = ("warning", "error", "ignore")


ATTACHMENT_REASON = "http://ehp.kz/fhir/StructureDefinition/attachment-reason"
DETACHMENT_REASON = "http://ehp.kz/fhir/StructureDefinition/detachment-reason"
EHP_EXTENSIONS = {
    # EHP's own extensions, defined here so that its own data is never "unknown".
    url: ExtensionDef(url, frozenset({"Coding"}), ("EpisodeOfCare",), "1", {})
    for url in (ATTACHMENT_REASON, DETACHMENT_REASON)
}
"""Why an attachment to a polyclinic began or ended (a Coding of the attachment-reason system)."""


def known_extension(url: str) -> ExtensionDef | None:
    """A core extension's definition, or one of EHP's own."""
    return extension_definition(url) or EHP_EXTENSIONS.get(url)


def default_policy() -> UnknownPolicy:
    """``EHP_UNKNOWN_EXTENSIONS`` (warning, error or ignore; warning when unset)."""
    policy = choice("EHP_UNKNOWN_EXTENSIONS", "warning", POLICIES)
    return "error" if policy == "error" else "ignore" if policy == "ignore" else "warning"


def check_extension(
    extension: dict[Any, Any], holder: str, path: str, issues: list[Issue], policy: UnknownPolicy
) -> None:
    """Check one extension found on an element of type (or BackboneElement path) ``holder``.

    Nested extensions (``holder`` "Extension") are checked by their parent's definition when it is
    known, and are not reported as unknown: their url is often a plain name (``code``).
    """
    url = extension.get("url")
    if not isinstance(url, str) or not url:
        return  # required/empty: reported by the structural walk
    if "|" in url:
        issues.append(
            Issue("error", "structure", f"an extension URL must not be versioned ({url!r})", f"{path}.url")
        )
        return
    if holder == "Extension":
        return
    if not ABSOLUTE_URI.fullmatch(url):
        issues.append(
            Issue("error", "structure", f"an extension URL must be absolute ({url!r})", f"{path}.url")
        )
        return
    definition = known_extension(url)
    if definition is None:
        if policy != "ignore":
            issues.append(
                Issue(
                    policy,
                    "structure",
                    f"the extension {url} is not described by any loaded definition",
                    path,
                )
            )
        return
    _check_value(extension, definition.values, url, path, issues)
    if definition.children:
        _check_children(extension, definition, path, issues)
    if holder != "Element" and not _allowed_in(definition.contexts, holder):
        issues.append(  # a warning: R4's own definitions break contexts 1,600 times (see above)
            Issue(
                "warning",
                "structure",
                f"the extension {url} is not meant for {holder} "
                f"(its contexts: {', '.join(definition.contexts)})",
                path,
            )
        )


def _value_type(extension: dict[Any, Any]) -> str | None:
    """The type of the extension's ``value[x]`` (``valueCode`` → ``code``), if it has one."""
    for key in extension:
        if isinstance(key, str) and key.startswith("value") and len(key) > 5:
            suffix = key[5:]
            primitive = suffix[0].lower() + suffix[1:]
            return primitive if is_primitive_type(primitive) else suffix
    return None


def _check_value(
    extension: dict[Any, Any], allowed: frozenset[str], url: str, path: str, issues: list[Issue]
) -> None:
    found = _value_type(extension)
    if found is None:
        return
    if not allowed:
        issues.append(
            Issue(
                "error",
                "structure",
                f"the extension {url} is complex: it holds nested extensions, not a value ({found})",
                path,
            )
        )
    elif found not in allowed:
        issues.append(
            Issue(
                "error",
                "structure",
                f"the extension {url} allows the types [{', '.join(sorted(allowed))}] but found type {found}",
                path,
            )
        )


def _check_children(
    extension: dict[Any, Any], definition: ExtensionDef, path: str, issues: list[Issue]
) -> None:
    nested = extension.get("extension")
    if not isinstance(nested, list):
        return
    for position, child in enumerate(nested):
        if not isinstance(child, dict) or not isinstance(child.get("url"), str):
            continue
        where = f"{path}.extension[{position}]"
        allowed = definition.children.get(child["url"])
        if allowed is None:
            issues.append(
                Issue(
                    "error",
                    "structure",
                    f"the extension {definition.url} has no nested extension {child['url']!r} "
                    f"(it defines: {', '.join(sorted(definition.children))})",
                    where,
                )
            )
        else:
            _check_value(child, allowed, f"{definition.url}#{child['url']}", where, issues)


def _allowed_in(contexts: tuple[str, ...], holder: str) -> bool:
    lineage = _lineage(holder)
    for context in contexts:
        if context in ("Element", "Base") or context in lineage:
            return True
        if "." in context and context == holder:
            return True
        if "." in context and _element_type(context) in lineage:
            return True
    return False


def _lineage(name: str) -> set[str]:
    parents = type_parents()
    found = {name}
    while name in parents:
        name = parents[name]
        found.add(name)
    return found


def _element_type(context: str) -> str | None:
    """The type of the element a context path names (``Patient.name`` → ``HumanName``)."""
    owner, _, name = context.rpartition(".")
    element = element_tables().get(owner, {}).get(name.removesuffix("[x]"))
    if element is None:
        return None
    return element.context or (element.types[0] if len(element.types) == 1 else None)
