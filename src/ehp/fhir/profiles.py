"""Profiles: a resource checked against a StructureDefinition that constrains its type.

A profile is compiled once from its snapshot into a tree of elements (slices hanging off the
element they slice). Checked, on top of the base definitions (which the structural walk has
checked already, so only what the profile makes stricter is reported):

* cardinality made stricter (``bp``: ``component`` 2..*, ``valueQuantity`` 0..0);
* the types a choice element may take (``value[x]`` only as ``Quantity``);
* ``fixed[x]`` values (equal) and ``pattern[x]`` values (contained);
* slices with ``value`` or ``pattern`` discriminators (``code.coding`` must hold the LOINC
  coding ``85354-9``; ``component`` one systolic and one diastolic): each slice's cardinality,
  and its own rules on the items it matches;
* the profile's FHIRPath constraints that the base does not have (``vs-1``..``vs-3``).

A resource's own ``meta.profile`` is followed into a Bundle's entries and contained resources.
The 43 core profiles of resources are in ``definitions/profiles.json.gz``; a ministry's profiles are
StructureDefinition resources in the store (see ``$validate?profile=``). Not checked: bindings the
profile adds, ``type``/``profile``/``exists`` discriminators, ``mustSupport``, extensions' profiles.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from ehp.fhir.definitions import (
    Constraint,
    choice_key,
    core_profile,
    element_constraints,
    element_tables,
    type_constraints,
)
from ehp.fhir.fhirpath_eval import (
    NO_ANSWER,
    Env,
    Function,
    Node,
    UnsupportedFhirPath,
    compile_expression,
    is_satisfied,
)
from ehp.fhir.issues import Issue

__all__ = [
    "Profile",
    "ProfileError",
    "check_profile",
    "compile_profile",
    "known_profile",
    "snapshot_elements",
]

_KEPT = ("id", "path", "sliceName", "min", "max", "base", "type", "slicing", "constraint")


def snapshot_elements(structure_definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The snapshot elements of a profile trimmed to what is checked here (also what
    ``scripts/derive_fhir_tables.py`` stores for the core profiles)."""
    out: list[dict[str, Any]] = []
    for element in structure_definition.get("snapshot", {}).get("element", []):
        if not isinstance(element, dict) or not isinstance(element.get("id"), str):
            continue
        kept = {key: element[key] for key in _KEPT if key in element}
        base = element.get("base")
        kept["base"] = (
            {key: base[key] for key in ("min", "max") if key in base} if isinstance(base, dict) else {}
        )
        if isinstance(kept.get("type"), list):
            kept["type"] = [
                item["code"] for item in kept["type"] if isinstance(item, dict) and "code" in item
            ]
        if isinstance(kept.get("constraint"), list):
            kept["constraint"] = [
                [item["key"], item.get("severity", "error"), item.get("human", ""), item["expression"]]
                for item in kept["constraint"]
                if isinstance(item, dict) and "key" in item and "expression" in item
            ]
        if isinstance(kept.get("slicing"), dict):
            kept["slicing"] = [
                [item.get("type"), item.get("path")]
                for item in kept["slicing"].get("discriminator", [])
                if isinstance(item, dict)
            ]
        for key, value in element.items():
            if key.startswith(("fixed", "pattern")):
                kept[key] = value
        out.append(kept)
    return out


def _cardinality(value: Any) -> int | None:
    """``max`` as a number (None for ``*``)."""
    if value == "*" or value is None:
        return None
    return int(value)


@dataclass(slots=True)
class _Element:
    element_id: str
    path: str
    name: str
    choice: bool
    slice_name: str | None
    min: int
    max: int | None
    base_min: int
    base_max: int | None
    types: tuple[str, ...]
    fixed: tuple[str, Any] | None
    pattern: tuple[str, Any] | None
    discriminators: tuple[tuple[str, str], ...]
    constraints: tuple[tuple[Constraint, Function], ...]
    children: list[_Element] = field(default_factory=list)
    slices: list[_Element] = field(default_factory=list)

    def child(self, name: str) -> _Element | None:
        return next((item for item in self.children if item.name == name), None)


@dataclass(frozen=True, slots=True)
class Profile:
    url: str
    type: str
    root: _Element


class ProfileError(ValueError):
    """The StructureDefinition cannot be used as a profile here (no snapshot, another type...)."""


def compile_profile(url: str, resource_type: str, elements: list[dict[str, Any]]) -> Profile:
    """The element tree of a profile's snapshot; raises :class:`ProfileError` when unusable."""
    by_id: dict[str, _Element] = {}
    root: _Element | None = None
    known = _base_keys()
    for entry in elements:
        element_id = entry["id"]
        path = str(entry.get("path", element_id))
        last = element_id.rsplit(".", 1)[-1]
        name = path.rsplit(".", 1)[-1]
        node = _Element(
            element_id=element_id,
            path=path.removesuffix("[x]"),
            name=name.removesuffix("[x]"),
            choice=name.endswith("[x]"),
            slice_name=entry.get("sliceName"),
            min=int(entry.get("min", 0)),
            max=_cardinality(entry.get("max", "*")),
            base_min=int(entry["base"].get("min", 0)) if entry.get("base") else 0,
            base_max=_cardinality(entry["base"].get("max", "*")) if entry.get("base") else None,
            types=tuple(entry.get("type", ())),
            fixed=_first(entry, "fixed"),
            pattern=_first(entry, "pattern"),
            discriminators=tuple((str(kind), str(where)) for kind, where in entry.get("slicing", [])),
            constraints=_new_constraints(entry.get("constraint", []), known),
        )
        by_id[element_id] = node
        if "." not in element_id:
            root = node
            continue
        parent_id = element_id.rsplit(".", 1)[0]
        if ":" in last and node.slice_name:
            sliced = by_id.get(f"{parent_id}.{last.split(':', 1)[0]}")
            if sliced is not None:
                sliced.slices.append(node)
            continue
        parent = by_id.get(parent_id)
        if parent is not None:
            parent.children.append(node)
    if root is None or root.name != resource_type:
        raise ProfileError(f"the profile {url} has no snapshot of {resource_type}")
    return Profile(url, resource_type, root)


def _first(entry: Mapping[str, Any], prefix: str) -> tuple[str, Any] | None:
    for key, value in entry.items():
        if key.startswith(prefix) and len(key) > len(prefix):
            return key, value
    return None


@cache
def _base_keys() -> frozenset[str]:
    """The keys of the base definitions' constraints: a profile repeats them in its snapshot."""
    keys = {item.key for items in type_constraints().values() for item in items}
    keys |= {item.key for items in element_constraints().values() for item in items}
    return frozenset(keys)


def _new_constraints(
    entries: list[list[str]], known: frozenset[str]
) -> tuple[tuple[Constraint, Function], ...]:
    compiled: list[tuple[Constraint, Function]] = []
    for key, severity, human, expression in entries:
        if key in known:
            continue
        try:
            run = compile_expression(expression)
        except UnsupportedFhirPath:
            continue
        level: Literal["error", "warning"] = "error" if severity == "error" else "warning"
        compiled.append((Constraint(key, level, human, expression), run))
    return tuple(compiled)


@cache
def known_profile(url: str) -> Profile | None:
    """A core profile by its canonical URL (``|version`` ignored), compiled once; else None."""
    entry = core_profile(url.split("|", 1)[0])
    if entry is None:
        return None
    return compile_profile(url, entry["type"], entry["elements"])


def check_profile(resource: dict[str, Any], profile: Profile, issues: list[Issue], path: str = "") -> None:
    """Append an issue for every rule of ``profile`` that ``resource`` breaks."""
    where = path or profile.type
    node = Node(resource, profile.type)
    _Check(issues, profile.url, Env(node, node, node, None)).element(resource, profile.root, where, node)


class _Check:
    def __init__(self, issues: list[Issue], url: str, env: Env) -> None:
        self.issues = issues
        self.url = url
        self.env = env

    def error(self, message: str, where: str, severity: str = "error") -> None:
        self.issues.append(
            Issue(
                "error" if severity == "error" else "warning",
                "structure",
                f"{message} (profile {self.url})",
                where,
            )
        )

    def element(self, value: dict[str, Any], definition: _Element, where: str, node: Node) -> None:
        self.constraints(definition, node, where)
        for child in definition.children:
            self.child(value, child, where)

    def constraints(self, definition: _Element, node: Node, where: str) -> None:
        for constraint, run in definition.constraints:
            try:
                outcome = run([node], Env(self.env.resource, self.env.root_resource, node, None))
            except NO_ANSWER:
                continue
            if not is_satisfied(outcome):
                self.error(
                    f"Constraint failed: {constraint.key}: '{constraint.human}'", where, constraint.severity
                )

    def child(self, value: dict[str, Any], child: _Element, where: str) -> None:
        items = list(self.items(value, child, where))
        self.cardinality(child, len(items), f"{where}.{child.name}", None)
        for item, item_where, item_type in items:
            self.rules(child, item, item_where, item_type)
        for slice_ in child.slices:
            matched = [entry for entry in items if _matches(entry[0], slice_, child.discriminators)]
            if _undecidable(slice_, child.discriminators):
                continue
            self.cardinality(slice_, len(matched), f"{where}.{child.name}", slice_.slice_name)
            for item, item_where, item_type in matched:
                self.rules(slice_, item, item_where, item_type)

    def items(self, value: dict[str, Any], child: _Element, where: str) -> Iterator[tuple[Any, str, str]]:
        if child.choice:
            for key, found in value.items():
                if (
                    isinstance(key, str)
                    and key.startswith(child.name)
                    and key[len(child.name) : len(child.name) + 1].isupper()
                ):
                    type_name = next(
                        (code for code in child.types if choice_key(child.name, code) == key), None
                    )
                    if type_name is None:
                        self.error(
                            f"{key}: the profile allows {child.name}[x] only as "
                            f"{', '.join(child.types) or 'nothing'}",
                            f"{where}.{key}",
                        )
                        continue
                    yield from _each(found, f"{where}.{key}", type_name)
            return
        if child.name in value:
            type_name = child.types[0] if len(child.types) == 1 else ""
            if type_name in ("BackboneElement", "Element", "") and child.path in element_tables():
                type_name = child.path  # a backbone element is typed by its path (Observation.component)
            yield from _each(value[child.name], f"{where}.{child.name}", type_name)

    def cardinality(self, definition: _Element, count: int, where: str, slice_name: str | None) -> None:
        label = (
            f"slice {slice_name!r} of {where.rsplit('.', 1)[-1]}" if slice_name else where.rsplit(".", 1)[-1]
        )
        stricter_min = definition.min > (0 if slice_name else definition.base_min)
        if stricter_min and count < definition.min:
            self.error(f"{label}: the profile needs at least {definition.min}, found {count}", where)
        limit = definition.max
        base_limit = None if slice_name else definition.base_max
        stricter_max = limit is not None and (base_limit is None or limit < base_limit)
        if stricter_max and limit is not None and count > limit:
            self.error(f"{label}: the profile allows at most {limit}, found {count}", where)

    def rules(self, definition: _Element, item: Any, where: str, type_name: str) -> None:
        if definition.fixed is not None and item != definition.fixed[1]:
            self.error(
                f"the value must be exactly {_show(definition.fixed[1])} ({definition.fixed[0]})", where
            )
        if definition.pattern is not None and not _contains(item, definition.pattern[1]):
            self.error(
                f"the value must match {_show(definition.pattern[1])} ({definition.pattern[0]})", where
            )
        if isinstance(item, dict):
            if definition.children or definition.constraints:
                self.element(item, definition, where, Node(item, type_name))
        elif definition.constraints:  # on a primitive (vs-1 on effectiveDateTime)
            self.constraints(definition, Node(item, type_name), where)


def _each(found: Any, where: str, type_name: str) -> Iterator[tuple[Any, str, str]]:
    if isinstance(found, list):
        for position, item in enumerate(found):
            if item is not None:
                yield item, f"{where}[{position}]", type_name
    elif found is not None:
        yield found, where, type_name


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _contains(value: Any, pattern: Any) -> bool:
    """FHIR's pattern[x]: every element the pattern has, the value has (arrays: each pattern
    item matches some item of the value)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            _contains(value.get(key), item) for key, item in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(
            any(_contains(found, item) for found in value) for item in pattern
        )
    return bool(value == pattern)


def _discriminator_values(slice_: _Element, discriminator_path: str) -> list[tuple[bool, Any]] | None:
    """The fixed (True) or pattern (False) values the slice gives at the discriminator's path,
    looking into the slices of the elements on the way (``component:SystolicBP.code.coding`` is
    itself sliced, and the fixed LOINC code sits on its slice ``SBPCode``)."""
    targets: list[_Element] = [slice_]
    if discriminator_path != "$this":
        for step in discriminator_path.split("."):
            found = [child for target in targets if (child := target.child(step.removesuffix("[x]")))]
            targets = [*found, *(item for child in found for item in child.slices)]
    values: list[tuple[bool, Any]] = []
    for target in targets:
        if target.fixed is not None:
            values.append((True, target.fixed[1]))
        elif target.pattern is not None:
            values.append((False, target.pattern[1]))
    return values or None


def _undecidable(slice_: _Element, discriminators: tuple[tuple[str, str], ...]) -> bool:
    return not discriminators or any(
        kind not in ("value", "pattern") or _discriminator_values(slice_, path) is None
        for kind, path in discriminators
    )


def _matches(item: Any, slice_: _Element, discriminators: tuple[tuple[str, str], ...]) -> bool:
    if _undecidable(slice_, discriminators):
        return False
    for _, path in discriminators:
        expected = _discriminator_values(slice_, path)
        assert expected is not None
        found = [item] if path == "$this" else list(_at(item, path.split(".")))
        if not any(
            (candidate == value) if exact else _contains(candidate, value)
            for exact, value in expected
            for candidate in found
        ):
            return False
    return True


def _at(value: Any, steps: list[str]) -> Iterator[Any]:
    if not steps:
        if isinstance(value, list):
            yield from value
        else:
            yield value
        return
    if isinstance(value, list):
        for item in value:
            yield from _at(item, steps)
    elif isinstance(value, dict):
        step = steps[0].removesuffix("[x]")
        if step in value:
            yield from _at(value[step], steps[1:])
