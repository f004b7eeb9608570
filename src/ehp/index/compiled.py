"""Every official search parameter expression, compiled once (on first use) and counted.

An expression the native compiler (:mod:`ehp.index.fhirpath_compile`) cannot translate is
evaluated by fhirpathpy instead; :func:`compile_stats` says how many parameters were compiled,
fell back, or are unsupported, and lists the fallbacks. Custom parameters (see
:mod:`ehp.index.custom`) are compiled by :func:`compile_for_base` when their type's extractors are
first needed after a change of the overlay.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

from ehp.fhir.fhirpath_parse import FhirPathSyntaxError
from ehp.index.fhirpath_compile import CompileError, Extractor, compile_expression
from ehp.index.fhirpath_fallback import fallback_extractor
from ehp.index.parameters import (
    SearchParameter,
    all_parameters,
    indexed_parameters_for,
    overlay_generation,
    type_model,
)

# Not extracted: the query side combines a composite's components; `near` needs a geo index.
SKIPPED_TYPES = frozenset({"composite", "special"})


@dataclass(frozen=True, slots=True)
class CompiledParameter:
    """A parameter's extractor for one base type; ``native`` is False for a fhirpathpy fallback."""

    parameter: SearchParameter
    extract: Extractor
    native: bool


@dataclass(frozen=True, slots=True)
class CompileStats:
    """Counts per parameter (a multi-base parameter counts once, as its worst base)."""

    total: int
    compiled: int
    fallback: int
    unsupported: int
    skipped: int
    fallback_expressions: tuple[str, ...]
    unsupported_parameters: tuple[str, ...]
    skipped_parameters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Compilation:
    by_base: dict[tuple[str, str], CompiledParameter]
    stats: CompileStats


@cache
def _compile_all() -> _Compilation:
    model = type_model()
    by_base: dict[tuple[str, str], CompiledParameter] = {}
    counts = {"compiled": 0, "fallback": 0, "unsupported": 0}
    fallbacks: list[str] = []
    unsupported: list[str] = []
    skipped: list[str] = []
    for parameter in all_parameters():
        if parameter.type in SKIPPED_TYPES:
            skipped.append(f"{parameter.url} ({parameter.type})")
            continue
        if not parameter.expressions:
            unsupported.append(f"{parameter.url} (no expression)")
            counts["unsupported"] += 1
            continue
        fell_back = failed = False
        for base, expression in parameter.expressions.items():
            try:
                extract, native = compile_expression(expression, base, model), True
            except (CompileError, FhirPathSyntaxError) as error:
                try:
                    extract, native = fallback_extractor(expression, model), False
                except ValueError as fallback_error:
                    unsupported.append(f"{parameter.url} [{base}] {expression}: {fallback_error}")
                    failed = True
                    continue
                fallbacks.append(f"{parameter.url} [{base}] {expression}: {error}")
                fell_back = True
            by_base[(parameter.url, base)] = CompiledParameter(parameter, extract, native)
        counts["unsupported" if failed else "fallback" if fell_back else "compiled"] += 1
    stats = CompileStats(
        total=len(all_parameters()),
        compiled=counts["compiled"],
        fallback=counts["fallback"],
        unsupported=counts["unsupported"],
        skipped=len(skipped),
        fallback_expressions=tuple(fallbacks),
        unsupported_parameters=tuple(unsupported),
        skipped_parameters=tuple(skipped),
    )
    return _Compilation(by_base, stats)


def compile_stats() -> CompileStats:
    """How the official parameters compiled: natively, with a fhirpathpy fallback, or not at all."""
    return _compile_all().stats


def compile_for_base(parameter: SearchParameter, base: str) -> CompiledParameter:
    """Compile a (custom) parameter's expression for one base: natively, else with fhirpathpy.

    Raises ``ValueError`` when neither can.
    """
    expression = parameter.expressions[base]
    model = type_model()
    try:
        return CompiledParameter(parameter, compile_expression(expression, base, model), True)
    except (CompileError, FhirPathSyntaxError):
        return CompiledParameter(parameter, fallback_extractor(expression, model), False)


def compiled_for(resource_type: str) -> tuple[CompiledParameter, ...]:
    """The compiled parameters a write of this type extracts (skipped and unsupported ones left
    out), by code: the official ones and the custom ones being indexed.

    Raises ``KeyError`` for an unknown resource type.
    """
    return _compiled_for(resource_type, overlay_generation())


@lru_cache(maxsize=512)  # keyed by generation: entries of older generations age out
def _compiled_for(resource_type: str, generation: int) -> tuple[CompiledParameter, ...]:
    by_base = _compile_all().by_base
    found: list[CompiledParameter] = []
    for parameter in indexed_parameters_for(resource_type).values():
        for base in (resource_type, "Resource", "DomainResource"):
            entry = by_base.get((parameter.url, base))
            if entry is not None:
                found.append(entry)
                break
        else:  # a custom parameter, checked (it compiles) before it reached the overlay
            if resource_type in parameter.expressions and parameter.type not in SKIPPED_TYPES:
                found.append(compile_for_base(parameter, resource_type))
    return tuple(found)
