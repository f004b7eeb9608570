"""The FHIRPath invariants of the R4 definitions, checked on every element they apply to.

Each invariant (``per-1``, ``obs-6``, ``bdl-3``, ``que-1``, ``ref-1``...) is compiled once by
:mod:`ehp.fhir.fhirpath_eval`; :func:`check_invariants` walks a resource by its definitions and
runs, on every element, the invariants of the element's type and those the element adds
(``Organization.address`` may not be ``home``). An error-level invariant that evaluates to
``false`` or to nothing is an error, a warning-level one a warning (see
:func:`~ehp.fhir.fhirpath_eval.is_satisfied`). A few are checked
natively elsewhere because they hold on nearly every element and a native check is ten times
cheaper and says more: ``ele-1``, ``ext-1``, ``dom-2``, ``dom-4``, ``dom-5`` in
:mod:`ehp.fhir.validation`, ``txt-1``/``txt-2`` (``htmlChecks()``) in :mod:`ehp.fhir.narrative`.

The walk skips subtrees whose types can hold no invariant (a Coding, a CodeableConcept), computed
once from the element tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ehp.fhir.definitions import (
    Constraint,
    element_constraints,
    element_tables,
    type_constraints,
)
from ehp.fhir.fhirpath_eval import (
    Env,
    FhirPathEvaluationError,
    Function,
    Node,
    compile_expression,
    is_satisfied,
)
from ehp.fhir.issues import Issue

__all__ = ["NATIVE", "check_invariants", "compiled_invariants"]

NATIVE = frozenset({"ele-1", "ext-1", "dom-2", "dom-3", "dom-4", "dom-5", "txt-1", "txt-2"})
"""Invariants checked by native code rather than by their FHIRPath expression (see above)."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    constraint: Constraint
    run: Function

    def issue(self, expression: str) -> Issue:
        constraint = self.constraint
        return Issue(
            constraint.severity,
            "invariant",
            f"Constraint failed: {constraint.key}: '{constraint.human}'",
            expression,
        )


def _compile_all(constraints: tuple[Constraint, ...]) -> tuple[_Compiled, ...]:
    return tuple(
        _Compiled(constraint, compile_expression(constraint.expression))
        for constraint in constraints
        if constraint.key not in NATIVE
    )


@cache
def compiled_invariants() -> tuple[Mapping[str, tuple[_Compiled, ...]], Mapping[str, tuple[_Compiled, ...]]]:
    """(by type, by element path): every core invariant compiled (about 30 ms, once)."""
    by_type = {
        context: found for context, items in type_constraints().items() if (found := _compile_all(items))
    }
    by_element = {
        path: found for path, items in element_constraints().items() if (found := _compile_all(items))
    }
    return by_type, by_element


@cache
def _relevant() -> frozenset[str]:
    """The types under which some invariant may apply (a fixed point over the element tables)."""
    by_type, by_element = compiled_invariants()
    tables = element_tables()
    relevant = set(by_type) | {path.rsplit(".", 1)[0] for path in by_element}
    relevant.add("Resource")
    changed = True
    while changed:
        changed = False
        for context, table in tables.items():
            if context in relevant:
                continue
            for element in table.values():
                child_types = [element.context] if element.context else list(element.types)
                if any(child in relevant for child in child_types if child):
                    relevant.add(context)
                    changed = True
                    break
    return frozenset(relevant)


MAX_DEPTH = 100
"""Nested objects walked; the structural check refuses deeper content, so nothing valid is lost."""


def check_invariants(resource: dict[str, Any], path: str, issues: list[Issue]) -> None:
    """Append an issue for every invariant the resource breaks.

    Safe on any parsed JSON (the structural errors are reported elsewhere): properties that are
    not elements are skipped, and so is content nested deeper than :data:`MAX_DEPTH`.
    """
    node = Node(resource, str(resource.get("resourceType")))
    bundle = resource if resource.get("resourceType") == "Bundle" else None
    _Walk(issues, bundle).resource(node, path or node.type, None, 0)


class _Walk:
    __slots__ = ("bundle", "by_element", "by_type", "issues", "relevant")

    def __init__(self, issues: list[Issue], bundle: dict[str, Any] | None) -> None:
        self.issues = issues
        self.bundle = bundle
        self.by_type, self.by_element = compiled_invariants()
        self.relevant = _relevant()

    def resource(self, node: Node, path: str, container: Node | None, depth: int) -> None:
        env = Env(node, container if container is not None else node, node, self.bundle)
        contained = node.value.get("contained") if type(node.value) is dict else None
        if type(contained) is list and contained:
            self.contained_are_referenced(node.value, contained, path)
        self.element(node, path, env, depth)

    def contained_are_referenced(self, resource: dict[Any, Any], contained: list[Any], path: str) -> None:
        """dom-3, natively: its FHIRPath walks ``descendants()`` four times per contained resource
        (70% of the invariant time of the clinical official examples). Any string ``#id`` in the
        resource counts as a reference here, which is the expression's reading of ``reference``,
        ``canonical``, ``uri`` and ``url`` values without their types."""
        strings = _strings(resource, 0)
        if "#" in strings:
            return  # something refers to the container itself: every contained resource may hang off it
        for item in contained:
            item_id = item.get("id") if type(item) is dict else None
            if type(item_id) is str and f"#{item_id}" not in strings:
                self.issues.append(_dom_3().issue(path))
                return

    def run(self, invariants: tuple[_Compiled, ...], node: Node, path: str, env: Env) -> None:
        env = Env(env.resource, env.root_resource, node, env.bundle)
        for invariant in invariants:
            try:
                outcome = invariant.run([node], env)
            except (FhirPathEvaluationError, RecursionError, TypeError, ValueError, AttributeError, KeyError):
                continue  # FHIRPath gives no answer (several items where one was expected)
            if not is_satisfied(outcome):
                self.issues.append(invariant.issue(path))

    def element(self, node: Node, path: str, env: Env, depth: int) -> None:
        invariants = self.by_type.get(node.type)
        if invariants:
            self.run(invariants, node, path, env)
        value = node.value
        if type(value) is not dict or depth >= MAX_DEPTH:
            return
        table = element_tables().get(node.type)
        if table is None:
            return
        for key, child in value.items():
            if type(key) is not str or key.startswith("_") or key == "resourceType":
                continue
            name, element_type = _element_of(node.type, key)
            if name is None:
                continue
            extra = self.by_element.get(f"{node.type}.{name}")
            is_resource = element_type in ("Resource", "DomainResource")
            if extra is None and element_type not in self.relevant and not is_resource:
                continue
            items = child if type(child) is list else [child]
            many = type(child) is list
            for position, item in enumerate(items):
                if item is None:
                    continue
                where = f"{path}.{key}[{position}]" if many else f"{path}.{key}"
                if is_resource:
                    if type(item) is dict and isinstance(item.get("resourceType"), str):
                        contained = key == "contained"
                        self.resource(
                            Node(item, item["resourceType"]),
                            where,
                            env.root_resource if contained else None,
                            depth + 1,
                        )
                    continue
                item_node = Node(item, element_type)
                if extra is not None:
                    self.run(extra, item_node, where, env)
                if type(item) is dict and element_type in self.relevant:
                    self.element(item_node, where, env, depth + 1)


@cache
def _dom_3() -> _Compiled:
    constraint = next(item for item in type_constraints()["DomainResource"] if item.key == "dom-3")
    return _Compiled(constraint, lambda nodes, env: [])


def _strings(value: Any, depth: int) -> set[str]:
    """Every string starting with ``#`` under ``value`` (the candidates for local references)."""
    found: set[str] = set()
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            continue
        if type(item) is dict:
            stack.extend((child, level + 1) for child in item.values() if type(child) in (dict, list, str))
        elif type(item) is list:
            stack.extend((child, level + 1) for child in item if type(child) in (dict, list, str))
        elif type(item) is str and item.startswith("#"):
            found.add(item)
    return found


@cache
def _element_of(type_name: str, key: str) -> tuple[str | None, str]:
    """The element name and type of JSON property ``key`` of a type (choice variants resolved)."""
    table = element_tables().get(type_name, {})
    element = table.get(key)
    if element is not None and not element.choice:
        return key, element.context or (element.types[0] if element.types else "Element")
    for name, candidate in table.items():
        if candidate.choice and key.startswith(name):
            suffix = key[len(name) :]
            for choice in candidate.types:
                if choice[0].upper() + choice[1:] == suffix:
                    return name, choice
    return None, ""


def invariant_count() -> int:
    """How many core invariants run as FHIRPath (the rest of the 237 are in :data:`NATIVE`)."""
    by_type, by_element = compiled_invariants()
    keys = {item.constraint.key for items in (*by_type.values(), *by_element.values()) for item in items}
    return len(keys)
