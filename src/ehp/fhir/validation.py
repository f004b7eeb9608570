"""Structural validation of FHIR R4 JSON resources against the official StructureDefinitions.

Fast enough to run on every write: the derived tables are compiled once into per-type dicts keyed
by JSON property name (choice variants and ``_name`` siblings expanded), with one precompiled
checker per primitive type, so the walk is dict lookups and isinstance tests.

Checked:

* the top level is a JSON object with a known ``resourceType`` (also for contained resources,
  ``Bundle.entry.resource``, ``Parameters.parameter.resource`` and every Resource-typed element);
* every property is a known element of its type (BackboneElements and contentReference included);
  ``_name`` siblings only for primitive elements that may have extensions, holding only ``id`` and
  ``extension``, aligned with the value array (same length, ``null`` only facing a value);
* cardinality: arrays exactly for repeating elements, no ``null`` (except in aligned primitive
  arrays), required elements present (a primitive with only extensions counts);
* primitives: JSON type, 32-bit range of integers, the official regex in full, existing calendar
  days, non-whitespace strings, the resource ``id`` format;
* choice elements: an allowed type suffix and a single variant;
* invariants ele-1 (no empty object, array or string), ext-1 (an extension has a value or nested
  extensions, not both), dom-2 (no nested contained), dom-4 (no meta.versionId/lastUpdated in a
  contained resource) and dom-5 (no meta.security in a contained resource);
* required bindings expandable from the package: ``code`` values, and codings of a bound
  Coding/CodeableConcept whose system belongs to the value set;
* references: ``Reference.reference`` is ``Type/id[/_history/vid]`` with a known type, a
  conditional ``Type?search``, ``#id``, ``urn:uuid:``/``urn:oid:`` or an absolute URL;
  ``Reference.type`` is a resource type; the type named must be one the element allows
  (targetProfile).

* every other FHIRPath invariant of the R4 definitions (``obs-6``, ``per-1``, ``ref-1``,
  ``dom-3``, ``bdl-7``, ``que-1``...), by :mod:`ehp.fhir.invariants`; best-practice ones
  (``dom-6``: a resource should have a narrative) as information;
* the XHTML of narratives (txt-1, txt-2): well-formed, in the XHTML namespace, only the allowed
  elements and attributes, no scripts, event handlers or active URLs (:mod:`ehp.fhir.narrative`).

* the Bundle rules beyond invariants (:mod:`ehp.fhir.bundles`), SearchParameters and
  CapabilityStatements against the official SearchParameters (:mod:`ehp.fhir.conformance`),
  core extensions against their
  definitions (:mod:`ehp.fhir.extensions`), every Coding of a code system the package holds in
  full, and the core profiles ``meta.profile`` names (:mod:`ehp.fhir.profiles`).

Not checked: non-required bindings and value sets needing external terminologies
(``skipped_value_sets()``); codings whose system is not in the bound value set; profiles of
implementation guides not loaded (a warning).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

from ehp.environment import whole_number
from ehp.fhir.bundles import check_bundle
from ehp.fhir.conformance import CONFORMANCE_TYPES, check_conformance_resource
from ehp.fhir.definitions import (
    ElementDef,
    code_system_displays,
    element_tables,
    is_resource_type,
    primitive_types,
    resource_types,
    value_set_codes,
)
from ehp.fhir.extensions import UnknownPolicy, check_extension, default_policy
from ehp.fhir.invariants import check_invariants
from ehp.fhir.issues import Issue, Severity
from ehp.fhir.primitives import (
    ABSOLUTE_URI,
    STRICT_UUID_URN,
    Checker,
    Problem,
    check_reference,
    describe,
    make_checker,
    not_in_value_set,
    with_codes,
)
from ehp.fhir.profiles import Profile, check_profile, known_profile

__all__ = ["MAX_DEPTH", "Issue", "validate_resource", "warm_up"]

MAX_DEPTH = 100  # nested objects; deeper content is refused rather than risking the stack
MAX_REPEATS = whole_number("EHP_MAX_REPEATS", 10_000)
"""Items of one repeating element (``EHP_MAX_REPEATS``): a Patient with 10^6 identifiers (50 MB)
once held the SQLite writer for 40 s while its million index rows were written."""
_ROOT = "$this"


# How a property is walked (one int compare in the hot loop instead of isinstance tests).
_ONE_PRIMITIVE, _MANY_PRIMITIVES, _ONE_COMPLEX, _MANY_COMPLEX, _ONE_RESOURCE, _MANY_RESOURCES, _SIBLING = (
    range(7)
)

_PostCheck = Callable[[dict[Any, Any], "_Element", str, list[Issue]], None]


class _Element:
    """One JSON property of a type: a primitive, a complex value, resources, or a ``_name`` sibling.

    ``check`` is set for primitives only, ``children`` for complex values only.
    """

    __slots__ = (
        "check",
        "children",
        "choice",
        "contained",
        "holder",
        "is_array",
        "key",
        "mode",
        "post",
        "requires_code",
        "sibling_key",
        "system_codes",
        "targets",
        "type_name",
        "value_key",
        "value_set",
    )
    check: Checker
    children: _Type

    def __init__(self, key: str, type_name: str, definition: ElementDef, mode: int) -> None:
        self.key = key
        self.type_name = type_name
        self.mode = mode
        self.is_array = definition.is_array
        self.choice = definition.name if definition.choice else None
        self.value_key = key  # the property holding the value (the primitive's, for `_name`)
        self.sibling_key: str | None = None  # `_name`, for a primitive that may have extensions
        self.contained = definition.name == "contained"
        self.post: _PostCheck | None = None  # extra checks of References, Attachments, bound codings
        self.requires_code = False  # a required-bound code: extensions alone do not stand for it
        self.holder = ""  # for extensions: the type (or BackboneElement path) they are on
        self.targets = frozenset(definition.targets) if definition.targets is not None else None
        self.system_codes: Mapping[str, frozenset[str]] = {}
        self.value_set = definition.binding


class _Type:
    """A resource type, complex datatype or BackboneElement path, with its properties by JSON name."""

    __slots__ = ("choices", "elements", "is_extension", "is_resource", "name", "required")

    def __init__(self, name: str, is_resource: bool) -> None:
        self.name = name
        self.is_resource = is_resource
        self.is_extension = name == "Extension"
        self.elements: dict[str, _Element] = {}
        self.required: list[tuple[str, tuple[str, ...]]] = []  # (element name, properties giving it)
        self.choices: dict[str, tuple[str, ...]] = {}  # choice name → its variants' properties


@dataclass(frozen=True, slots=True)
class _Schema:
    resources: Mapping[str, _Type]  # concrete resource types only
    element: _Type  # Element: what a primitive's `_name` sibling may hold


@cache
def _schema() -> _Schema:
    """Compile the derived tables into linked :class:`_Type` objects (once)."""
    checkers = {name: make_checker(primitive) for name, primitive in primitive_types().items()}
    abstract = {"Resource", "DomainResource"}
    types = {name: _Type(name, name in resource_types() or name in abstract) for name in element_tables()}
    for name, table in element_tables().items():
        for definition in table.values():
            _add_element(types[name], definition, types, checkers)
    return _Schema({name: types[name] for name in sorted(resource_types())}, types["Element"])


def _add_element(
    owner: _Type, definition: ElementDef, types: dict[str, _Type], checkers: dict[str, Checker]
) -> None:
    if definition.choice:
        variants = list(definition.json_keys())
        owner.choices[definition.name] = tuple(key for key, _ in variants)
    else:
        variants = [(definition.name, definition.types[0] if definition.types else "BackboneElement")]
    systems = value_set_codes(definition.binding) if definition.binding else None
    keys: list[str] = []
    for key, type_name in variants:
        keys.append(key)
        if definition.context is None and type_name in checkers:
            element = _Element(
                key, type_name, definition, _MANY_PRIMITIVES if definition.is_array else _ONE_PRIMITIVE
            )
            element.check = checkers[type_name]
            if systems is not None and definition.binding is not None:
                element.check = with_codes(
                    element.check, frozenset().union(*systems.values()), definition.binding
                )
            if primitive_types()[type_name].extensions and not definition.no_extensions:
                element.sibling_key = sibling_key = "_" + key
                sibling = owner.elements[sibling_key] = _Element(sibling_key, type_name, definition, _SIBLING)
                sibling.value_key = key
                sibling.requires_code = systems is not None and type_name == "code"
                keys.append(sibling_key)
        elif type_name == "Resource":
            mode = _MANY_RESOURCES if definition.is_array else _ONE_RESOURCE
            element = _Element(key, type_name, definition, mode)
        else:
            element = _Element(
                key, type_name, definition, _MANY_COMPLEX if definition.is_array else _ONE_COMPLEX
            )
            element.children = types[definition.context or type_name]
            if type_name == "Reference":
                element.post = _reference
            elif type_name == "Attachment":
                element.post = _attachment
            elif type_name == "Extension":
                element.holder = owner.name
                element.post = _extension
            elif type_name == "Coding":
                element.post = _coding
                if systems is not None:
                    element.system_codes = systems
                    element.post = _bound_coding
            elif systems is not None and type_name == "CodeableConcept":
                element.system_codes = systems
                element.post = _codings
            elif definition.context == "ValueSet.compose.include":
                element.post = _include_system
        owner.elements[key] = element
    if definition.min > 0:
        owner.required.append((definition.name + ("[x]" if definition.choice else ""), tuple(keys)))


def warm_up() -> None:
    """Load and compile the definitions now (about 60 ms), e.g. at server start, not on a request."""
    _schema()


_POLICY = default_policy()


def validate_resource(
    resource: Any,
    *,
    unknown_extensions: UnknownPolicy | None = None,
    profiles: Sequence[Profile] = (),
) -> list[Issue]:
    """Validate a parsed JSON resource; never raises. No error-severity issue means valid.

    Expressions are FHIRPath-style (``Patient.name[0].given[1]``), choice elements named by their
    JSON property (``Observation.valueQuantity``); ``$this`` is the top level when it is not a
    resource of a known type. ``unknown_extensions`` says what an extension no definition
    describes is (``EHP_UNKNOWN_EXTENSIONS``, read at start, when not given). The resource is also
    checked against the core profiles its ``meta.profile`` names (an unknown one is a warning) and
    against ``profiles`` (``$validate?profile=``, a ministry's required profiles).
    """
    token = _UNKNOWN_EXTENSIONS.set(unknown_extensions or _POLICY)
    try:
        issues = _validate(resource)
        if isinstance(resource, dict) and is_resource_type(str(resource.get("resourceType"))):
            _check_profiles(resource, profiles, issues)
        return issues
    finally:
        _UNKNOWN_EXTENSIONS.reset(token)


def _check_profiles(
    resource: dict[Any, Any], profiles: Sequence[Profile], issues: list[Issue], path: str = "", depth: int = 0
) -> None:
    """The profiles given and those ``meta.profile`` names, on the resource and (by their own
    ``meta.profile``) on the resources of a Bundle's entries and of ``contained``."""
    resource_type = str(resource["resourceType"])
    where = path or resource_type
    meta = resource.get("meta")
    claimed = meta.get("profile") if isinstance(meta, dict) else None
    chosen = {profile.url: profile for profile in profiles}
    for position, url in enumerate(claimed if isinstance(claimed, list) else []):
        if not isinstance(url, str) or url.split("|", 1)[0] in chosen:
            continue
        profile = known_profile(url)
        if profile is None:
            issues.append(
                Issue(
                    "warning",
                    "not-supported",
                    f"the profile {url} is not known here: the resource is checked against R4 only",
                    f"{where}.meta.profile[{position}]",
                )
            )
        else:
            chosen[profile.url] = profile
    for profile in chosen.values():
        if profile.type != resource_type:
            issues.append(
                Issue(
                    "error",
                    "invalid",
                    f"the profile {profile.url} is for {profile.type}, not {resource_type}",
                    where,
                )
            )
            continue
        check_profile(resource, profile, issues, path)
    if depth >= 3:
        return
    for key, nested in _nested_resources(resource, where):
        if is_resource_type(str(nested.get("resourceType"))):
            _check_profiles(nested, (), issues, key, depth + 1)


def _nested_resources(resource: dict[Any, Any], where: str) -> list[tuple[str, dict[Any, Any]]]:
    found: list[tuple[str, dict[Any, Any]]] = []
    contained = resource.get("contained")
    if isinstance(contained, list):
        found.extend(
            (f"{where}.contained[{i}]", item) for i, item in enumerate(contained) if isinstance(item, dict)
        )
    entries = resource.get("entry") if resource.get("resourceType") == "Bundle" else None
    if isinstance(entries, list):
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                found.append((f"{where}.entry[{i}].resource", entry["resource"]))
    return found


def _validate(resource: Any) -> list[Issue]:
    issues: list[Issue] = []
    if not isinstance(resource, dict):
        issues.append(
            Issue("fatal", "structure", f"a resource must be a JSON object, got {describe(resource)}", _ROOT)
        )
    else:
        _resource(resource, "", issues, 0, contained=False)
        if is_resource_type(str(resource.get("resourceType"))):
            check_invariants(resource, "", issues)
    return issues


def _error(issues: list[Issue], code: str, diagnostics: str, expression: str) -> None:
    issues.append(Issue("error", code, diagnostics, expression))


def _resource(value: dict[Any, Any], path: str, issues: list[Issue], depth: int, contained: bool) -> None:
    """A resource at ``path`` ("" at the top level, where its expression is its type)."""
    severity: Severity = "error" if path else "fatal"
    where = path or _ROOT
    resource_type = value.get("resourceType")
    if resource_type is None:
        issues.append(
            Issue(severity, "required", "missing resourceType: a resource must name its type", where)
        )
        return
    if not isinstance(resource_type, str):
        issues.append(
            Issue(
                severity, "structure", f"resourceType must be a string, got {describe(resource_type)}", where
            )
        )
        return
    resource = _schema().resources.get(resource_type)
    if resource is None:
        issues.append(
            Issue(severity, "not-supported", f"unknown resource type {resource_type!r} (FHIR R4)", where)
        )
        return
    path = path or resource_type
    _object(value, resource, path, issues, depth)
    held = value.get("contained")
    if type(held) is list and held and not contained:
        _contained_ids(held, path, issues)
    if resource_type == "Bundle":
        check_bundle(value, path, issues)
    elif resource_type in CONFORMANCE_TYPES:
        check_conformance_resource(value, path, issues)
    if contained:
        _contained_rules(value, path, issues)


def _contained_ids(contained: list[Any], path: str, issues: list[Issue]) -> None:
    """Every contained resource has an id (a reference names it by ``#id``), each id once."""
    seen: set[str] = set()
    for index, item in enumerate(contained):
        if not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
            continue  # reported as not a resource
        item_id = item.get("id")
        where = f"{path}.contained[{index}]"
        if item_id is None:
            _error(issues, "required", "a contained resource must have an id (references name it)", where)
        elif isinstance(item_id, str):
            if item_id in seen:
                _error(issues, "duplicate", f"two contained resources have the id {item_id!r}", f"{where}.id")
            seen.add(item_id)


def _contained_rules(value: dict[Any, Any], path: str, issues: list[Issue]) -> None:
    if "contained" in value:
        _error(
            issues,
            "invariant",
            "a contained resource SHALL NOT contain other resources (dom-2)",
            f"{path}.contained",
        )
    meta = value.get("meta")
    if isinstance(meta, dict):
        for key in ("versionId", "lastUpdated"):
            if key in meta:
                _error(
                    issues,
                    "invariant",
                    f"a contained resource SHALL NOT have meta.{key} (dom-4)",
                    f"{path}.meta.{key}",
                )
        if "security" in meta:
            _error(
                issues,
                "invariant",
                "a contained resource SHALL NOT have security labels (dom-5)",
                f"{path}.meta.security",
            )


def _object(obj: dict[Any, Any], owner: _Type, path: str, issues: list[Issue], depth: int) -> None:
    """The properties of one JSON object of type ``owner`` found at ``path`` (the hot loop)."""
    elements = owner.elements
    variants: dict[str, str] | None = None  # choice name → the variant present
    for key, value in obj.items():
        element = elements.get(key)
        if element is None:
            _unknown(key, owner, path, issues)
            continue
        if element.choice is not None:
            if variants is None:
                variants = {element.choice: element.value_key}
            elif variants.setdefault(element.choice, element.value_key) != element.value_key:
                _error(
                    issues,
                    "structure",
                    f"only one {owner.name}.{element.choice}[x] is allowed: found both "
                    f"{variants[element.choice]} and {element.value_key}",
                    f"{path}.{element.value_key}",
                )
        if isinstance(value, list) and len(value) > MAX_REPEATS:
            _error(
                issues,
                "too-costly",
                f"{key} repeats {len(value):,} times; an element repeats at most {MAX_REPEATS:,} times",
                f"{path}.{key}",
            )
            continue
        # The common cases are inlined (a valid primitive, a non-empty object); _complex() and
        # _primitive_problem() deal with everything else.
        mode = element.mode
        if mode == _ONE_PRIMITIVE:
            problem = element.check(value)
            if problem is not None:
                _primitive_problem(issues, problem, element, value, f"{path}.{key}")
        elif mode == _ONE_COMPLEX:
            where = f"{path}.{key}"
            if (
                isinstance(value, dict)
                and (len(value) > 1 or (value and "id" not in value))
                and depth < MAX_DEPTH
            ):
                _object(value, element.children, where, issues, depth + 1)
                if element.post is not None:
                    element.post(value, element, where, issues)
            else:
                _complex(element, value, where, issues, depth)
        elif not isinstance(value, list) or not value or mode >= _ONE_RESOURCE:
            if mode == _SIBLING:
                _sibling(obj, element, value, path, issues, depth)
            elif mode == _ONE_RESOURCE:
                _complex(element, value, f"{path}.{key}", issues, depth)
            elif mode == _MANY_RESOURCES and isinstance(value, list) and value:
                for index, item in enumerate(value):
                    _complex(element, item, f"{path}.{key}[{index}]", issues, depth)
            else:
                _not_array(issues, key, value, f"{path}.{key}")
        elif mode == _MANY_COMPLEX:
            children, post = element.children, element.post
            for index, item in enumerate(value):
                where = f"{path}.{key}[{index}]"
                if (
                    isinstance(item, dict)
                    and (len(item) > 1 or (item and "id" not in item))
                    and depth < MAX_DEPTH
                ):
                    _object(item, children, where, issues, depth + 1)
                    if post is not None:
                        post(item, element, where, issues)
                else:
                    _complex(element, item, where, issues, depth)
        else:
            check = element.check
            for index, item in enumerate(value):
                problem = check(item)
                if problem is not None and not (item is None and _sibling_at(obj, element, index)):
                    _primitive_problem(issues, problem, element, item, f"{path}.{key}[{index}]")
    for label, keys in owner.required:
        for key in keys:
            if key in obj:
                break
        else:
            _error(
                issues,
                "required",
                f"missing required element {owner.name}.{label} (min 1)",
                f"{path}.{label}",
            )
    if owner.is_extension and (variants is not None and "value" in variants) == ("extension" in obj):
        _error(
            issues,
            "invariant",
            "an extension SHALL have either a value[x] or nested extensions, not both (ext-1)"
            if "extension" in obj
            else "an extension SHALL have either a value[x] or nested extensions (ext-1)",
            path,
        )


def _not_array(issues: list[Issue], key: str, value: Any, path: str) -> None:
    if isinstance(value, list):
        _error(issues, "invariant", f"empty array for {key}: omit the element (ele-1)", path)
    else:
        _error(issues, "structure", f"{key} repeats: it must be a JSON array, got {describe(value)}", path)


def _primitive_problem(
    issues: list[Issue], problem: Problem, element: _Element, value: Any, path: str
) -> None:
    if isinstance(value, list) and not element.is_array:
        _error(
            issues, "structure", f"{element.key} does not repeat (max 1): it must not be a JSON array", path
        )
    elif value is None and element.is_array:
        _error(
            issues,
            "structure",
            f"null in {element.key} is only allowed where _{element.key} has extensions at the same index",
            path,
        )
    else:
        _error(issues, problem[0], problem[1], path)


def _complex(element: _Element, value: Any, path: str, issues: list[Issue], depth: int) -> None:
    """A resource, or a complex value that is not a plain non-empty object (the slow path)."""
    resource = element.mode in (_ONE_RESOURCE, _MANY_RESOURCES)
    if isinstance(value, list) and not element.is_array:
        _error(
            issues, "structure", f"{element.key} does not repeat (max 1): it must not be a JSON array", path
        )
    elif value is None:
        _error(issues, "structure", f"null is not allowed for {element.key}: omit the element", path)
    elif not isinstance(value, dict):
        _error(
            issues,
            "structure",
            f"{element.key} is of type {element.type_name}: expected a JSON object, got {describe(value)}",
            path,
        )
    elif depth >= MAX_DEPTH:
        _error(issues, "too-costly", f"content nested deeper than {MAX_DEPTH} levels is not accepted", path)
    elif resource:
        _resource(value, path, issues, depth + 1, element.contained)
    else:
        _error(issues, "invariant", f"{element.key} has no value and no children: omit it (ele-1)", path)


def _sibling_at(obj: dict[Any, Any], element: _Element, index: int) -> bool:
    """Whether ``_name[index]`` holds extensions, which makes a null at ``name[index]`` legitimate."""
    siblings = obj.get(element.sibling_key) if element.sibling_key is not None else None
    return isinstance(siblings, list) and index < len(siblings) and isinstance(siblings[index], dict)


def _sibling(
    obj: dict[Any, Any], element: _Element, value: Any, path: str, issues: list[Issue], depth: int
) -> None:
    """A ``_name`` property: the id and extensions of primitive ``name`` (of each item, for arrays)."""
    key, name = element.key, element.value_key
    where = f"{path}.{name}"
    primitive = obj.get(name)
    if not element.is_array:
        if isinstance(value, dict):
            _extension_holder(value, primitive is not None, key, where, issues, depth)
            if primitive is None and element.requires_code:
                _no_code(element, where, issues)
        else:
            _error(issues, "structure", f"{key} must be a JSON object, got {describe(value)}", where)
        return
    if not isinstance(value, list):
        _error(
            issues,
            "structure",
            f"{key} must be a JSON array (as {name} repeats), got {describe(value)}",
            where,
        )
        return
    if not value:
        _error(issues, "invariant", f"empty array for {key}: omit the element (ele-1)", where)
        return
    values = primitive if isinstance(primitive, list) else []
    if primitive is not None and len(values) != len(value):
        _error(
            issues,
            "structure",
            f"{key} has {len(value)} items but {name} has "
            f"{len(values) if isinstance(primitive, list) else 1}: they must align one to one",
            where,
        )
    for index, item in enumerate(value):
        has_value = index < len(values) and values[index] is not None
        if item is None:
            if index >= len(values):  # a null facing a null is reported with the value
                _error(
                    issues,
                    "structure",
                    f"{key}[{index}] is null and {name} has no value there: each item needs one or the other",
                    f"{where}[{index}]",
                )
        elif isinstance(item, dict):
            _extension_holder(item, has_value, f"{key}[{index}]", f"{where}[{index}]", issues, depth)
            if not has_value and element.requires_code:
                _no_code(element, f"{where}[{index}]", issues)
        else:
            _error(
                issues,
                "structure",
                f"{key}[{index}] must be a JSON object or null, got {describe(item)}",
                f"{where}[{index}]",
            )


_UNKNOWN_EXTENSIONS: ContextVar[UnknownPolicy] = ContextVar("unknown_extensions", default="warning")


def _extension(value: dict[Any, Any], element: _Element, path: str, issues: list[Issue]) -> None:
    check_extension(value, element.holder, path, issues, _UNKNOWN_EXTENSIONS.get())


def _no_code(element: _Element, where: str, issues: list[Issue]) -> None:
    _error(
        issues,
        "code-invalid",
        f"no code provided, and a code is required from the value set {element.value_set} "
        "(an extension such as data-absent-reason does not replace it)",
        where,
    )


def _attachment(value: dict[Any, Any], element: _Element, path: str, issues: list[Issue]) -> None:
    """The stated ``size`` and ``hash`` (SHA-1, base64) of inline ``data`` are those of the data."""
    data = value.get("data")
    if not isinstance(data, str):
        return
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return  # the base64Binary checker has reported it
    size = value.get("size")
    if type(size) is int and size != len(content):
        _error(
            issues,
            "structure",
            f"the stated attachment size {size} does not match the size of its data ({len(content)} bytes)",
            f"{path}.size",
        )
    stated = value.get("hash")
    if isinstance(stated, str) and stated != base64.b64encode(hashlib.sha1(content).digest()).decode():
        # A warning: official examples (DiagnosticReport-example-pgx) state hashes of other content.
        issues.append(
            Issue(
                "warning",
                "structure",
                "the stated attachment hash is not the SHA-1 of its data",
                f"{path}.hash",
            )
        )


def _extension_holder(
    holder: dict[Any, Any], has_value: bool, key: str, path: str, issues: list[Issue], depth: int
) -> None:
    if depth >= MAX_DEPTH:
        _error(issues, "too-costly", f"content nested deeper than {MAX_DEPTH} levels is not accepted", path)
        return
    _object(holder, _schema().element, path, issues, depth + 1)
    if not holder:
        _error(issues, "invariant", f"{key} is an empty object: omit it (ele-1)", path)
    elif not has_value and "extension" not in holder:
        _error(issues, "invariant", f"{key} has neither a value nor extensions (ele-1)", path)


def _unknown(key: Any, owner: _Type, path: str, issues: list[Issue]) -> None:
    """Report a property that is not an element of ``owner`` as helpfully as possible."""
    if key == "resourceType" and owner.is_resource:
        return
    name = str(key)
    where = f"{path}.{name}"
    if name.startswith("_") and name[1:] in owner.elements:
        reason = (
            f"{name[1:]} cannot have extensions"
            if owner.elements[name[1:]].mode in (_ONE_PRIMITIVE, _MANY_PRIMITIVES)
            else f"{name[1:]} is not a primitive element (its id and extensions go inside it)"
        )
        _error(issues, "structure", f"{name!r} is not allowed in {owner.name}: {reason}", where)
        return
    for choice, keys in owner.choices.items():
        suffix = name[len(choice) :]
        if name.startswith(choice) and (not suffix or suffix == "[x]" or suffix[0].isupper()):
            _error(
                issues,
                "structure",
                f"{name!r} is not a valid form of {owner.name}.{choice}[x]: use one of {', '.join(keys)}",
                where,
            )
            return
    _error(issues, "structure", f"unknown element {name!r} in {owner.name}", where)


def _reference(value: dict[Any, Any], element: _Element, path: str, issues: list[Issue]) -> None:
    """Reference.reference format, Reference.type, and the target type allowed by the element."""
    target: str | None = None
    reference = value.get("reference")
    if isinstance(reference, str) and reference.strip():
        problem, target = check_reference(reference)
        if problem is not None:
            _error(issues, "value", problem, f"{path}.reference")
        elif reference.startswith("urn:uuid:") and not STRICT_UUID_URN.fullmatch(reference):
            issues.append(
                Issue(
                    "warning",
                    "value",
                    f"{reference!r} is not a lowercase RFC 4122 UUID (allowed in R4, but other systems may "
                    "refuse it)",
                    f"{path}.reference",
                )
            )
    declared = value.get("type")
    if isinstance(declared, str) and declared and ":" not in declared:
        if declared not in resource_types():
            _error(issues, "value", f"Reference.type {declared!r} is not a resource type", f"{path}.type")
        elif target is not None and target != declared:
            _error(
                issues,
                "value",
                f"Reference.type {declared!r} does not match the reference {reference!r}",
                f"{path}.type",
            )
        else:
            target = declared
    if target is not None and element.targets is not None and target not in element.targets:
        _error(
            issues,
            "value",
            f"{element.key} may refer to {', '.join(sorted(element.targets))}, not {target}",
            f"{path}.reference" if "reference" in value else f"{path}.type",
        )


_VALUE_SET_URL = "http://hl7.org/fhir/ValueSet/"
_HL7_TERMINOLOGY = "http://terminology.hl7.org/"


def _coding(value: dict[Any, Any], element: _Element, path: str, issues: list[Issue]) -> None:
    """Every Coding: an absolute system that is not a value set; in a code system the package holds
    in full (1,054 of them), a code that exists there, and its display (a warning if another)."""
    system = value.get("system")
    if not isinstance(system, str):
        return
    if not ABSOLUTE_URI.fullmatch(system):
        _error(
            issues,
            "invalid",
            f"Coding.system must be an absolute URI, not a local reference ({system!r})",
            f"{path}.system",
        )
        return
    if system.startswith(_VALUE_SET_URL):
        _error(
            issues,
            "invalid",
            f"the Coding names a value set, not a code system ({system!r})",
            f"{path}.system",
        )
        return
    displays = code_system_displays(system)
    code = value.get("code")
    if displays is None or not isinstance(code, str):
        return
    known = displays.get(code)
    if known is None:
        # FHIR's own code systems are fixed with R4: an unknown code is an error. HL7's terminology
        # (terminology.hl7.org, v2 and v3 tables) grows on its own; the package's copy is of 2019,
        # so a newer code (v2-0203 NNFIN) is only warned about.
        severity: Severity = "warning" if system.startswith(_HL7_TERMINOLOGY) else "error"
        issues.append(
            Issue(
                severity,
                "code-invalid",
                f"unknown code {code!r} in the code system {system} (as of FHIR 4.0.1)",
                f"{path}.code",
            )
        )
        return
    display = value.get("display")
    if isinstance(display, str) and known and _folded(display) != _folded(known):
        issues.append(
            Issue(
                "warning",
                "invalid",
                f"wrong display {display!r} for {system}#{code}: the code system's display is {known!r}",
                f"{path}.display",
            )
        )


def _in_system(system: str, code: str) -> bool:
    """Whether the code exists in its system, or may (external, or HL7's growing terminology):
    else :func:`_coding` has reported it."""
    displays = code_system_displays(system)
    return displays is None or code in displays or system.startswith(_HL7_TERMINOLOGY)


def _folded(text: str) -> str:
    return " ".join(text.casefold().split())


def _bound_coding(value: dict[Any, Any], element: _Element, path: str, issues: list[Issue]) -> None:
    _coding(value, element, path, issues)
    _codings(value, element, path, issues)


def _include_system(value: dict[Any, Any], element: _Element, path: str, issues: list[Issue]) -> None:
    """``ValueSet.compose.include.system`` (and ``exclude``) must be absolute: a contained code
    system is named by its own URL (and the valueset-system extension), not ``#id``."""
    system = value.get("system")
    if isinstance(system, str) and not ABSOLUTE_URI.fullmatch(system):
        _error(
            issues,
            "invalid",
            f"ValueSet.compose.include.system must be an absolute URI ({system!r}); name a contained code "
            "system by its url, with the http://hl7.org/fhir/StructureDefinition/valueset-system extension",
            path,
        )


def _codings(value: dict[Any, Any], element: _Element, path: str, issues: list[Issue]) -> None:
    """Codings of a required-bound Coding/CodeableConcept whose system belongs to the value set."""
    if element.type_name == "Coding":
        codings: list[tuple[Any, str]] = [(value, path)]
    else:
        listed = value.get("coding")
        if not isinstance(listed, list):
            return
        codings = [(coding, f"{path}.coding[{index}]") for index, coding in enumerate(listed)]
    for coding, where in codings:
        if not isinstance(coding, dict):
            continue
        system, code = coding.get("system"), coding.get("code")
        codes = element.system_codes.get(system) if isinstance(system, str) else None
        if (
            codes is not None
            and isinstance(code, str)
            and code not in codes
            and _in_system(str(system), code)
        ):
            _error(issues, "code-invalid", not_in_value_set(code, codes, element.value_set), f"{where}.code")
