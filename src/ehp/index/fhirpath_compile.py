"""Compile search parameter FHIRPath expressions into Python closures, once, at start-up.

A compiled expression maps a resource (parsed JSON) to a list of typed nodes ``(value, type)``:
``value`` is the JSON value (dict, str, bool, int, float) and ``type`` its FHIR type name
(``CodeableConcept``, ``dateTime``, ``Observation.component`` for a backbone element, and
``Resource`` for a resource, whose actual type is its ``resourceType``). Knowing the type is what
lets the indexer tell an Identifier from a ContactPoint, and ``valueQuantity`` from ``valueString``.

The supported subset: paths, integer indexers, ``|``, ``=``/``!=``, ``and``/``or``, ``is``/``as``,
``where()``, ``exists()``, ``empty()``, ``not()``, ``first()``, ``last()``, ``ofType()``/``as()``/
``is()``, ``extension(url)``, ``resolve()`` (see :func:`ehp.index.refs.resolve_reference`),
``repeat()`` and ``%resource``. Two deliberate leniencies for indexing: ``as`` on a collection of
several items filters it like ``ofType`` (FHIRPath N1 makes it an error, but R4 expressions such as
``Observation.component.value as Quantity`` rely on it), and ``|`` does not remove duplicates (the
index rows are de-duplicated anyway). Anything else raises :class:`CompileError`; the caller then
falls back to fhirpathpy with :func:`ehp.index.fhirpath_fallback.fallback_extractor`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ehp.fhir.fhirpath_parse import (
    Binary,
    Call,
    Expr,
    Ident,
    Index,
    Literal,
    Member,
    TypeOp,
    Var,
    parse,
)
from ehp.index.refs import resolve_reference
from ehp.index.typemodel import SYSTEM_TYPES, TypeModel

Node = tuple[Any, str]
Extractor = Callable[[dict[str, Any]], list[Node]]
_Step = Callable[[list[Node], dict[str, Any]], list[Node]]
# A compiled sub-expression: its steps, each flagged when it maps an empty input to an empty output.
_Steps = list[tuple[_Step, bool]]
_Compiled = tuple[_Steps, frozenset[str]]

RESOURCE = "Resource"
_RESOURCE_LIKE = frozenset({"Resource", "DomainResource"})
_FALSE: list[Node] = [(False, "boolean")]
_TRUE: list[Node] = [(True, "boolean")]


class CompileError(ValueError):
    """The expression uses FHIRPath this compiler does not translate."""


def _chain(steps: _Steps) -> _Step:
    """Run the steps in order, stopping early once the rest would only pass an empty result on."""
    if len(steps) == 1:
        return steps[0][0]
    if len(steps) == 2:
        (first, _), (second, keeps) = steps

        def run_two(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
            nodes = first(nodes, root)
            return nodes if keeps and not nodes else second(nodes, root)

        return run_two
    pairs = tuple((step, all(keeps for _, keeps in steps[i + 1 :])) for i, (step, _) in enumerate(steps))

    def run(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
        for function, stop in pairs:
            nodes = function(nodes, root)
            if stop and not nodes:
                return nodes
        return nodes

    return run


def _singleton_boolean(nodes: list[Node]) -> bool | None:
    """FHIRPath singleton evaluation: empty is unknown, one boolean is itself, one other item is true."""
    if not nodes:
        return None
    value = nodes[0][0]
    return value if isinstance(value, bool) else True


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return bool(left == right)


def _walk_step(path: tuple[str, ...], last: tuple[tuple[str, str], ...]) -> _Step:
    """Follow the plain elements of ``path``, then collect the ``(key, type)`` elements of ``last``.

    ``last`` has one entry for a plain element and one per type for a choice element.
    """
    if not path and len(last) == 1:
        return _member_step(*last[0])

    def step(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
        values: list[Any] = [value for value, _ in nodes]
        for key in path:
            found: list[Any] = []
            for value in values:
                if type(value) is dict:
                    child = value.get(key)
                    if child is not None:
                        if type(child) is list:
                            found.extend(child)
                        else:
                            found.append(child)
            if not found:
                return []
            values = found
        out: list[Node] = []
        for value in values:
            if type(value) is dict:
                for key, type_name in last:
                    child = value.get(key)
                    if child is not None:
                        if type(child) is list:
                            out.extend([(item, type_name) for item in child if item is not None])
                        else:
                            out.append((child, type_name))
        return out

    return step


def _member_step(key: str, type_name: str) -> _Step:
    def step(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
        out: list[Node] = []
        for value, _ in nodes:
            if type(value) is dict:
                child = value.get(key)
                if child is not None:
                    if type(child) is list:
                        out.extend([(item, type_name) for item in child if item is not None])
                    else:
                        out.append((child, type_name))
        return out

    return step


def _dispatch_step(by_type: dict[str, _Step]) -> _Step:
    """A member step whose element differs with the input's type (after a union or a choice)."""

    def step(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
        out: list[Node] = []
        for node in nodes:
            found = by_type.get(node[1])
            if found is not None:
                out.extend(found([node], root))
        return out

    return step


class _Compiler:
    def __init__(self, model: TypeModel, base: str) -> None:
        self.model = model
        self.base = base
        # The walk steps made so far: a member or a cast right after one is fused into it.
        self.walks: dict[_Step, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {}

    def walk(self, steps: _Steps, path: tuple[str, ...], last: tuple[tuple[str, str], ...]) -> _Steps:
        step = _walk_step(path, last)
        self.walks[step] = (path, last)
        return [*steps, (step, True)]

    def compile(self, expr: Expr, in_types: frozenset[str]) -> _Compiled:
        if isinstance(expr, Ident):
            if expr.name[0].isupper() and self.model.is_type_name(expr.name):
                return self.type_filter([], in_types, expr.name)
            return self.member([], in_types, expr.name)
        if isinstance(expr, Member):
            steps, types = self.compile(expr.target, in_types)
            return self.member(steps, types, expr.name)
        if isinstance(expr, Call):
            return self.call(expr, in_types)
        if isinstance(expr, TypeOp):
            steps, types = self.compile(expr.target, in_types)
            if expr.op == "as":
                return self.type_filter(steps, types, expr.type_name)
            return self.is_test(steps, types, expr.type_name)
        if isinstance(expr, Binary):
            return self.binary(expr, in_types)
        if isinstance(expr, Index):
            return self.index(expr, in_types)
        if isinstance(expr, Literal):
            constant: list[Node] = [(expr.value, expr.type)]
            return [(lambda nodes, root: constant, False)], frozenset({expr.type})
        return self.variable(expr, in_types)

    def variable(self, expr: Var, in_types: frozenset[str]) -> _Compiled:
        if expr.name == "$this":
            return [], in_types
        if expr.name not in ("resource", "rootResource", "context"):
            raise CompileError(f"unsupported variable %{expr.name}")
        root_type = self.base

        def root_step(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
            return [(root, root_type)]

        return [(root_step, False)], frozenset({root_type})

    def sub(self, expr: Expr, in_types: frozenset[str]) -> tuple[_Step, frozenset[str]]:
        steps, types = self.compile(expr, in_types)
        return (_chain(steps) if steps else (lambda nodes, root: nodes)), types

    # --- navigation and types ------------------------------------------------------------------

    def member(self, steps: _Steps, in_types: frozenset[str], name: str) -> _Compiled:
        by_type: dict[str, _Step] = {}
        signatures: set[tuple[tuple[str, str], ...]] = set()
        result_types: set[str] = set()
        for in_type in in_types:
            element = self.model.element(RESOURCE if in_type in _RESOURCE_LIKE else in_type, name)
            if element is None:
                continue
            types = tuple(RESOURCE if t in _RESOURCE_LIKE else t for t in element.types)
            if element.is_choice:
                keys = tuple((name + t[0].upper() + t[1:], t) for t in types)
            elif len(types) == 1:
                keys = ((name, types[0]),)
            else:
                raise CompileError(f"{element.owner}.{name} has several types")
            signatures.add(keys)
            by_type[in_type] = _walk_step((), keys)
            result_types.update(types)
        if not by_type:
            raise CompileError(f"no element {name} on {', '.join(sorted(in_types))}")
        if len(signatures) > 1 or len(by_type) != len(in_types):
            return [*steps, (_dispatch_step(by_type), True)], frozenset(result_types)
        keys = signatures.pop()
        previous = self.walks.get(steps[-1][0]) if steps else None
        if previous is not None and len(previous[1]) == 1:
            return self.walk(steps[:-1], (*previous[0], previous[1][0][0]), keys), frozenset(result_types)
        return self.walk(steps, (), keys), frozenset(result_types)

    def matcher(
        self, in_types: frozenset[str], type_name: str
    ) -> tuple[Callable[[Node], bool], frozenset[str]]:
        """A test of a node being of ``type_name``, and the types of the nodes that pass it."""
        if type_name.startswith("FHIR."):
            type_name = type_name[5:]
        bare = type_name.removeprefix("System.")
        if not self.model.is_type_name(type_name) and bare not in SYSTEM_TYPES:
            raise CompileError(f"unknown type {type_name}")
        model = self.model
        accepted = frozenset(t for t in in_types if t not in _RESOURCE_LIKE and model.is_a(t, type_name))
        result_types = set(accepted)
        if in_types & _RESOURCE_LIKE and (type_name in model.resource_types or type_name in _RESOURCE_LIKE):
            result_types.add(RESOURCE)

        def match(node: Node) -> bool:
            value, node_type = node
            if node_type in accepted:
                return True
            if node_type in _RESOURCE_LIKE and type(value) is dict:
                actual = value.get("resourceType")
                return isinstance(actual, str) and model.is_a(actual, type_name)
            return False

        return match, frozenset(result_types)

    def type_filter(self, steps: _Steps, in_types: frozenset[str], type_name: str) -> _Compiled:
        match, result_types = self.matcher(in_types, type_name)
        if type_name == RESOURCE and in_types <= _RESOURCE_LIKE:
            return steps, in_types
        if result_types == in_types and not in_types & _RESOURCE_LIKE:
            return steps, in_types
        previous = self.walks.get(steps[-1][0]) if steps else None
        if previous is not None and not in_types & _RESOURCE_LIKE:
            # A cast right after a choice element only keeps the keys of the matching types.
            kept = tuple((key, t) for key, t in previous[1] if t in result_types)
            return self.walk(steps[:-1], previous[0], kept), result_types

        def step(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
            return [node for node in nodes if match(node)]

        return [*steps, (step, True)], result_types

    def is_test(self, steps: _Steps, in_types: frozenset[str], type_name: str) -> _Compiled:
        match, _ = self.matcher(in_types, type_name)

        def step(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
            if len(nodes) != 1:
                return []
            return _TRUE if match(nodes[0]) else _FALSE

        return [*steps, (step, True)], frozenset({"boolean"})

    # --- functions -------------------------------------------------------------------------------

    def call(self, expr: Call, in_types: frozenset[str]) -> _Compiled:
        steps, types = self.compile(expr.target, in_types) if expr.target is not None else ([], in_types)
        name, args = expr.name, expr.args
        if name in ("as", "ofType", "is") and len(args) == 1:
            type_arg = args[0]
            if isinstance(type_arg, Member) and isinstance(type_arg.target, Ident):
                type_name = f"{type_arg.target.name}.{type_arg.name}"
            elif isinstance(type_arg, Ident):
                type_name = type_arg.name
            else:
                raise CompileError(f"{name}() needs a type name")
            if name == "is":
                return self.is_test(steps, types, type_name)
            return self.type_filter(steps, types, type_name)
        if name == "where" and len(args) == 1:
            resolved_type = _resolve_is(args[0])
            if resolved_type is not None and resolved_type in self.model.resource_types:
                return [*steps, (self.where_resolves_to(resolved_type), True)], types
            criteria, _ = self.sub(args[0], types)

            def where(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
                return [node for node in nodes if _is_true(criteria([node], root))]

            return [*steps, (where, True)], types
        if name == "extension" and len(args) == 1:
            url_arg = args[0]
            if not isinstance(url_arg, Literal) or url_arg.type != "string":
                raise CompileError("extension() needs a literal url")
            url = url_arg.value
            steps, types = self.member(steps, types, "extension")

            def extension(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
                return [node for node in nodes if type(node[0]) is dict and node[0].get("url") == url]

            return [*steps, (extension, True)], types
        if name == "repeat" and len(args) == 1:
            return self.repeat(steps, types, args[0])
        if args:
            raise CompileError(f"unsupported function {name}() with arguments")
        simple = _SIMPLE_FUNCTIONS.get(name)
        if simple is not None:
            function, keeps_empty, result_type = simple
            return [*steps, (function, keeps_empty)], (frozenset({result_type}) if result_type else types)
        if name == "resolve":
            resource_types = self.model.resource_types

            def resolve(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
                out: list[Node] = []
                for value, _ in nodes:
                    target = resolve_reference(value, root, resource_types)
                    if target is not None:
                        out.append((target, RESOURCE))
                return out

            return [*steps, (resolve, True)], frozenset({RESOURCE})
        raise CompileError(f"unsupported function {name}()")

    def where_resolves_to(self, type_name: str) -> _Step:
        """``where(resolve() is Type)``, the commonest criteria, in one step."""
        model = self.model
        resource_types = model.resource_types
        accepted = frozenset(t for t in resource_types if model.is_a(t, type_name))

        def where(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
            out: list[Node] = []
            for node in nodes:
                target = resolve_reference(node[0], root, resource_types)
                if target is not None and target.get("resourceType") in accepted:
                    out.append(node)
            return out

        return where

    def repeat(self, steps: _Steps, in_types: frozenset[str], expr: Expr) -> _Compiled:
        types = in_types
        while True:
            projection, found = self.sub(expr, types)
            if found <= types:
                break
            types = types | found

        def repeat(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
            out: list[Node] = []
            seen: set[int] = set()
            pending = nodes
            while pending:
                fresh = [node for node in projection(pending, root) if id(node[0]) not in seen]
                seen.update(id(node[0]) for node in fresh)
                out.extend(fresh)
                pending = fresh
            return out

        return [*steps, (repeat, True)], types

    def index(self, expr: Index, in_types: frozenset[str]) -> _Compiled:
        if not isinstance(expr.index, Literal) or expr.index.type != "integer":
            raise CompileError("only literal integer indexers are supported")
        position = expr.index.value
        steps, types = self.compile(expr.target, in_types)

        def index(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
            return nodes[position : position + 1]

        return [*steps, (index, True)], types

    # --- operators -------------------------------------------------------------------------------

    def binary(self, expr: Binary, in_types: frozenset[str]) -> _Compiled:
        left, left_types = self.sub(expr.left, in_types)
        right, right_types = self.sub(expr.right, in_types)
        op = expr.op
        if op == "|":

            def union(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
                return left(nodes, root) + right(nodes, root)

            return [(union, True)], left_types | right_types
        if op in ("=", "!="):
            negate = op == "!="

            def equality(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
                a, b = left(nodes, root), right(nodes, root)
                if not a or not b:
                    return []
                same = len(a) == len(b) and all(_equal(x[0], y[0]) for x, y in zip(a, b, strict=True))
                return _TRUE if same != negate else _FALSE

            return [(equality, False)], frozenset({"boolean"})
        if op in ("and", "or"):
            decisive = op == "or"  # the operand value that decides the result on its own

            def logic(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
                a = _singleton_boolean(left(nodes, root))
                if a is decisive:
                    return _TRUE if decisive else _FALSE
                b = _singleton_boolean(right(nodes, root))
                if b is decisive:
                    return _TRUE if decisive else _FALSE
                if a is None or b is None:
                    return []
                return _FALSE if decisive else _TRUE

            return [(logic, False)], frozenset({"boolean"})
        raise CompileError(f"unsupported operator {op}")


def _resolve_is(criteria: Expr) -> str | None:
    """``T`` when ``criteria`` is ``resolve() is T``."""
    if isinstance(criteria, TypeOp) and criteria.op == "is" and criteria.target == Call(None, "resolve", ()):
        return criteria.type_name
    return None


def _is_true(nodes: list[Node]) -> bool:
    return len(nodes) == 1 and nodes[0][0] is True


def _exists(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
    return _TRUE if nodes else _FALSE


def _empty(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
    return _FALSE if nodes else _TRUE


def _not(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
    value = _singleton_boolean(nodes)
    return [] if value is None else (_FALSE if value else _TRUE)


def _first(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
    return nodes[:1]


def _last(nodes: list[Node], root: dict[str, Any]) -> list[Node]:
    return nodes[-1:]


# name -> (step, maps empty to empty, result type or None for "same as input")
_SIMPLE_FUNCTIONS: dict[str, tuple[_Step, bool, str | None]] = {
    "exists": (_exists, False, "boolean"),
    "empty": (_empty, False, "boolean"),
    "not": (_not, True, "boolean"),
    "first": (_first, True, None),
    "last": (_last, True, None),
}


def compile_expression(expression: str, base: str, model: TypeModel) -> Extractor:
    """Compile ``expression`` for resources of type ``base`` (``Resource`` for any type).

    Raises :class:`CompileError` (or the parser's ``FhirPathSyntaxError``) when unsupported.
    """
    steps, _ = _Compiler(model, base).compile(parse(expression), frozenset({base}))
    run = _chain(steps) if steps else (lambda nodes, root: nodes)

    def extract(resource: dict[str, Any]) -> list[Node]:
        return run([(resource, base)], resource)

    return extract
