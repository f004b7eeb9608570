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
    NO_ANSWER,
    Env,
    Function,
    Node,
    compile_expression,
    focus_elements,
    is_satisfied,
    presence_only,
)
from ehp.fhir.issues import Issue

__all__ = ["NATIVE", "check_invariants", "compiled_invariants"]

NATIVE = frozenset({"ele-1", "ext-1", "dom-2", "dom-3", "dom-4", "dom-5", "ref-1", "txt-1", "txt-2"})
"""Invariants checked by native code rather than by their FHIRPath expression (see above)."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    constraint: Constraint
    run: Function
    needs: frozenset[str] | None = None
    """The focus's child elements the expression depends on (None: it may depend on more)."""
    by_presence: bool = False
    """The outcome depends only on which of :attr:`needs` are present (see ``presence_only``)."""

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
        _Compiled(
            constraint,
            compile_expression(constraint.expression),
            focus_elements(constraint.expression),
            presence_only(constraint.expression),
        )
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
    """The types under which some invariant may apply (a fixed point over the element tables).

    Extensions are left out of the fixed point (their values may be of almost any type, which
    made every type relevant and the walk enter every Coding); the walk instead goes into any
    object that holds extensions (see :func:`_plan`).
    """
    by_type, by_element = compiled_invariants()
    tables = element_tables()
    relevant = set(by_type) | {path.rsplit(".", 1)[0] for path in by_element}
    relevant.update(("Resource", "Reference"))  # Reference: ref-1, natively
    changed = True
    while changed:
        changed = False
        for context, table in tables.items():
            if context in relevant or context == "Extension":
                continue
            for name, element in table.items():
                if name in _EXTENSIONS:
                    continue
                child_types = [element.context] if element.context else list(element.types)
                if any(child in relevant for child in child_types if child):
                    relevant.add(context)
                    changed = True
                    break
    relevant.add("Extension")
    return frozenset(relevant)


_EXTENSIONS = frozenset({"extension", "modifierExtension"})


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
        """Run the invariants on one node. One whose elements the node lacks is not evaluated:
        it gives what it gives on an empty node of the type, computed once (``tim-1``..``tim-10``
        on a Timing without those elements; 60% of the evaluations of the clinical examples)."""
        value = node.value
        present = _present(node.type, value) if type(value) is dict else None
        env = Env(env.resource, env.root_resource, node, env.bundle)
        for invariant in invariants:
            needs = invariant.needs
            if present is not None and needs is not None and needs.isdisjoint(present):
                satisfied = _on_empty(invariant, node.type)
                if satisfied is None:
                    continue
            elif present is not None and needs is not None and invariant.by_presence:
                satisfied = _by_presence(invariant, node, env, needs & present)
                if satisfied is None:
                    continue
            else:
                try:
                    satisfied = is_satisfied(invariant.run([node], env))
                except NO_ANSWER:
                    continue  # FHIRPath gives no answer (several items where one was expected)
            if not satisfied:
                self.issues.append(invariant.issue(path))

    def local_reference(self, node: Node, path: str, env: Env) -> None:
        """ref-1, natively (it runs on every Reference): a ``#id`` names a contained resource of
        the root resource, and ``#`` alone is allowed when there are contained resources."""
        reference = node.value.get("reference") if type(node.value) is dict else None
        if type(reference) is not str or not reference.startswith("#"):
            return
        root = env.root_resource.value
        contained = root.get("contained") if type(root) is dict else None
        items = contained if type(contained) is list else []
        if reference == "#":
            if items:
                return
        elif any(type(item) is dict and item.get("id") == reference[1:] for item in items):
            return
        self.issues.append(_native("Reference", "ref-1").issue(path))

    def element(self, node: Node, path: str, env: Env, depth: int) -> None:
        invariants = self.by_type.get(node.type)
        if invariants:
            self.run(invariants, node, path, env)
        if node.type == "Reference":
            self.local_reference(node, path, env)
        value = node.value
        if type(value) is not dict or depth >= MAX_DEPTH:
            return
        plan = _plan(node.type)
        if not plan:
            return
        for key, child in value.items():
            step = plan.get(key) if type(key) is str else None
            if step is None or child is None:
                continue
            element_type, extra, is_resource, descend = step
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
                if extra:
                    self.run(extra, item_node, where, env)
                if type(item) is dict and (descend or "extension" in item or "modifierExtension" in item):
                    self.element(item_node, where, env, depth + 1)


_Step = tuple[str, tuple[_Compiled, ...], bool, bool]
"""For a JSON property: its element type, the invariants the element adds, whether it holds
resources, whether the walk goes into it (else only into items holding extensions)."""


@cache
def _plan(type_name: str) -> Mapping[str, _Step]:
    """The JSON properties of a type that the walk must visit, and how (once per type): the others
    (a Coding's, a HumanName's) can hold no invariant. A dict lookup per property instead of
    resolving choice variants and formatting element paths was 40% of the walk."""
    _, by_element = compiled_invariants()
    relevant = _relevant()
    plan: dict[str, _Step] = {}
    for name, element in element_tables().get(type_name, {}).items():
        extra = by_element.get(f"{type_name}.{name}", ())
        for key, element_type in element.json_keys():
            is_resource = element_type in ("Resource", "DomainResource")
            descend = element_type in relevant
            complex_type = element_type in element_tables()  # may hold extensions
            if extra or is_resource or descend or complex_type:
                plan[key] = (element_type, extra, is_resource, descend)
    return plan


@cache
def _native(type_name: str, key: str) -> _Compiled:
    """The constraint of a native check, for its wording."""
    constraint = next(item for item in type_constraints()[type_name] if item.key == key)
    return _Compiled(constraint, lambda nodes, env: [])


def _dom_3() -> _Compiled:
    return _native("DomainResource", "dom-3")


@cache
def _element_names(type_name: str) -> Mapping[str, str]:
    """JSON property (choice variants, ``_`` siblings) → element name, for a type."""
    names: dict[str, str] = {}
    for name, element in element_tables().get(type_name, {}).items():
        for key, _ in element.json_keys():
            names[key] = names["_" + key] = name
    return names


def _present(type_name: str, value: dict[Any, Any]) -> set[str]:
    """The elements of a node that give FHIRPath at least one item (``null`` and ``[]`` give none,
    so they count as absent, as the evaluation would see them)."""
    names = _element_names(type_name)
    return {
        names[key]
        for key, item in value.items()
        if type(key) is str
        and key in names
        and item is not None
        and not (type(item) is list and not any(x is not None for x in item))
    }


_EMPTY_OUTCOMES: dict[tuple[str, str], bool | None] = {}
_PRESENCE_OUTCOMES: dict[tuple[int, str, frozenset[str]], bool | None] = {}


def _by_presence(invariant: _Compiled, node: Node, env: Env, present: frozenset[str]) -> bool | None:
    """A presence-only invariant's outcome for this set of present elements: evaluated on the first
    node that has it, then remembered (``obs-6`` and ``qty-3`` on every Observation: a dict look-up)."""
    key = (id(invariant), node.type, present)
    if key not in _PRESENCE_OUTCOMES:
        try:
            _PRESENCE_OUTCOMES[key] = is_satisfied(invariant.run([node], env))
        except NO_ANSWER:
            _PRESENCE_OUTCOMES[key] = None
    return _PRESENCE_OUTCOMES[key]


def _on_empty(invariant: _Compiled, type_name: str) -> bool | None:
    """Whether the invariant holds on an empty node of the type (None: no answer), once."""
    key = (invariant.constraint.key + "\0" + invariant.constraint.expression, type_name)
    if key not in _EMPTY_OUTCOMES:
        node = Node({}, type_name)
        try:
            _EMPTY_OUTCOMES[key] = is_satisfied(invariant.run([node], Env(node, node, node, None)))
        except NO_ANSWER:
            _EMPTY_OUTCOMES[key] = None
    return _EMPTY_OUTCOMES[key]


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


def invariant_count() -> int:
    """How many core invariants run as FHIRPath (the rest of the 237 are in :data:`NATIVE`)."""
    by_type, by_element = compiled_invariants()
    keys = {item.constraint.key for items in (*by_type.values(), *by_element.values()) for item in items}
    return len(keys)
