"""Evaluation of the FHIRPath expressions the compiler does not translate, by fhirpathpy."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from ehp.fhir.fhirpath_parse import split_union
from ehp.fhir.jsonio import FhirDecimal
from ehp.index.fhirpath_compile import RESOURCE, Extractor, Node
from ehp.index.refs import resolve_reference
from ehp.index.typemodel import TypeModel

_fallback_lock = threading.Lock()
_fallback_root: ContextVar[dict[str, Any]] = ContextVar("_fallback_root")
_ABSTRACT_ROOT = re.compile(r"^(\(*)(?:Resource|DomainResource)\.")
_log = logging.getLogger(__name__)


def _python_type(value: Any) -> str:
    """The type of a value fhirpathpy computed rather than found (``exists()``...)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "decimal"
    return "string" if isinstance(value, str) else "Element"


def fallback_extractor(expression: str, model: TypeModel) -> Extractor:
    """Evaluate ``expression`` with fhirpathpy and its R4 model (needed for choice elements).

    Works around three fhirpathpy gaps: ``resolve()`` is not implemented (it is given
    :func:`resolve_reference`); ``|`` loses the types of its operands' nodes (the top-level operands
    are evaluated one by one); a leading ``Resource.`` does not match a concrete resource (it is
    dropped: the path is then relative to the resource). Evaluations are serialised because
    fhirpathpy keeps global state; one that fails is logged and gives no values. Raises
    ``ValueError`` when fhirpathpy cannot parse the expression.
    """
    import fhirpathpy
    from fhirpathpy.engine.nodes import ResourceNode
    from fhirpathpy.models import models

    resource_types = model.resource_types
    create_node: Callable[[Any], Any] = ResourceNode.create_node

    def resolve(inputs: Sequence[Any]) -> list[Any]:
        root = _fallback_root.get()
        found = (resolve_reference(value, root, resource_types) for value in inputs)
        return [create_node(target) for target in found if target is not None]

    options = {"returnRawData": True, "userInvocationTable": {"resolve": {"fn": resolve, "arity": {0: []}}}}
    try:
        operands = [
            fhirpathpy.compile(_ABSTRACT_ROOT.sub(r"\1", part), models["r4"], options)
            for part in split_union(expression)
        ]
    except Exception as error:  # fhirpathpy raises bare Exceptions on syntax errors
        raise ValueError(f"fhirpathpy cannot parse {expression!r}: {error}") from error

    def extract(resource: dict[str, Any]) -> list[Node]:
        with _fallback_lock:
            token = _fallback_root.set(resource)
            try:
                raw = [item for operand in operands for item in operand(resource, {})]
            except Exception:  # an indexing failure must not fail the write
                _log.warning("fhirpathpy failed on %r", expression, exc_info=True)
                return []
            finally:
                _fallback_root.reset(token)
        nodes: list[Node] = []
        for item in raw:
            value, path = (item.data, item.path) if isinstance(item, ResourceNode) else (item, None)
            if isinstance(value, Decimal):
                value = FhirDecimal(str(value))
            if isinstance(value, dict) and "resourceType" in value:
                path = RESOURCE
            nodes.append((value, path if isinstance(path, str) else _python_type(value)))
        return nodes

    return extract


def probe_fallback(expression: str, base: str) -> None:
    """Evaluate ``expression`` once with fhirpathpy on an empty resource of type ``base``.

    fhirpathpy accepts any text when compiling and reports most mistakes (an unknown function, a
    wrong arity, a dangling operator) only when evaluating; raises ``ValueError`` for them.
    """
    import fhirpathpy
    from fhirpathpy.models import models

    with _fallback_lock:
        try:
            for part in split_union(expression):
                fhirpathpy.evaluate({"resourceType": base}, _ABSTRACT_ROOT.sub(r"\1", part), {}, models["r4"])
        except Exception as error:  # fhirpathpy raises bare Exceptions (and KeyError, IndexError...)
            raise ValueError(f"fhirpathpy cannot evaluate {expression!r}: {error}") from error
