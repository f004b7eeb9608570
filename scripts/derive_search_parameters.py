"""Derive ``src/ehp/index/definitions/search_parameters.json.gz`` from the official R4 package.

Run ``.venv/bin/python scripts/derive_search_parameters.py`` (with ``src`` importable). The output
is deterministic (sorted keys and lists, gzip without a timestamp), so it is committed and only
changes when this script or the package changes. It holds:

* ``parameters``: every SearchParameter of ``Bundle-searchParams.json`` (sorted by url) with its
  url, code, base, type, expression, the expression split per base type (``expressions``), target
  types, comparators and, for composites, their components;
* ``types``: the R4 type system as the FHIRPath compiler needs it: ``elements`` (every element of
  every resource, datatype and backbone element, with its types), ``parents`` (the type hierarchy)
  and ``resourceTypes`` (the concrete resource types). The whole model, not just what the official
  expressions use, so that custom SearchParameters (on extensions, say) compile too.

Every official expression is compiled as a check; those that do not compile are listed on stderr.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

from ehp.fhir.fhirpath_parse import FhirPathSyntaxError, split_union
from ehp.fhir.package import examples_package_dir
from ehp.index.fhirpath_compile import CompileError, compile_expression
from ehp.index.typemodel import TypeModel

OUTPUT = Path(__file__).resolve().parents[1] / "src/ehp/index/definitions/search_parameters.json.gz"
_SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
_FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_SYSTEM_TO_FHIR = {"String": "string", "Boolean": "boolean", "Integer": "integer", "Decimal": "decimal"}


def _element_types(element: dict[str, Any]) -> list[str]:
    reference = element.get("contentReference")
    if reference:
        return [reference.lstrip("#")]
    types: list[str] = []
    for type_ref in element.get("type", []):
        code = type_ref["code"]
        if code.startswith(_SYSTEM_PREFIX):
            declared = [
                e["valueUrl"] for e in type_ref.get("extension", []) if e["url"] == _FHIR_TYPE_EXTENSION
            ]
            code = declared[0] if declared else _SYSTEM_TO_FHIR.get(code[len(_SYSTEM_PREFIX) :], "string")
        elif code in ("BackboneElement", "Element"):
            code = element["path"]
        if code not in types:
            types.append(code)
    return types


def load_type_model(package: Path) -> tuple[dict[str, dict[str, list[str]]], dict[str, str], list[str]]:
    """Elements, parents and concrete resource types from the package's StructureDefinitions."""
    elements: dict[str, dict[str, list[str]]] = {}
    parents: dict[str, str] = {}
    resource_types: list[str] = []
    for path in sorted(package.glob("StructureDefinition-*.json")):
        definition = json.loads(path.read_bytes())
        kind, derivation = definition["kind"], definition.get("derivation")
        name = definition["id"]
        if kind not in ("resource", "complex-type", "primitive-type"):
            continue
        if derivation == "constraint":
            # Only the core datatype profiles (SimpleQuantity, MoneyQuantity), not examples or extensions.
            core = definition["url"] == f"http://hl7.org/fhir/StructureDefinition/{name}"
            if kind == "complex-type" and core and name[0].isupper() and definition["type"] != "Extension":
                parents[name] = definition["type"]
            continue
        if "baseDefinition" in definition:
            parents[name] = definition["baseDefinition"].rsplit("/", 1)[-1]
        if kind == "resource" and not definition.get("abstract"):
            resource_types.append(name)
        for element in definition["snapshot"]["element"]:
            owner, _, key = element["path"].rpartition(".")
            if owner:
                elements.setdefault(owner, {})[key] = _element_types(element)
    return elements, parents, sorted(resource_types)


def split_per_base(expression: str, bases: list[str]) -> dict[str, str]:
    """``{base: expression}``; a multi-base expression's operands start with their base type."""
    if len(bases) == 1:
        return {bases[0]: expression}
    grouped: dict[str, list[str]] = {}
    for part in split_union(expression):
        leading = part.lstrip("(").split(".", 1)[0].split(" ", 1)[0].strip()
        if leading not in bases:
            raise SystemExit(f"cannot assign {part!r} of {expression!r} to one of {bases}")
        grouped.setdefault(leading, []).append(part)
    missing = set(bases) - set(grouped)
    if missing:
        raise SystemExit(f"no part of {expression!r} for {sorted(missing)}")
    return {base: " | ".join(parts) for base, parts in grouped.items()}


def derive(package: Path) -> dict[str, Any]:
    elements, parents, resource_types = load_type_model(package)
    model = TypeModel(elements, parents, resource_types)
    bundle = json.loads((package / "Bundle-searchParams.json").read_bytes())
    parameters: list[dict[str, Any]] = []
    seen_codes: dict[tuple[str, str], str] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        bases = list(resource["base"])
        parameter: dict[str, Any] = {
            "url": resource["url"],
            "code": resource["code"],
            "base": sorted(bases),
            "type": resource["type"],
        }
        for base in bases:
            clash = seen_codes.setdefault((base, resource["code"]), resource["url"])
            if clash != resource["url"]:
                raise SystemExit(f"{base}.{resource['code']} is defined by {clash} and {resource['url']}")
        if "expression" in resource:
            parameter["expression"] = resource["expression"]
            parameter["expressions"] = split_per_base(resource["expression"], bases)
            if resource["type"] not in ("composite", "special"):
                for base, expression in parameter["expressions"].items():
                    try:
                        compile_expression(expression, base, model)
                    except (CompileError, FhirPathSyntaxError) as error:
                        print(
                            f"not compiled: {resource['url']} [{base}] {expression}: {error}", file=sys.stderr
                        )
        if resource.get("target"):
            parameter["target"] = sorted(resource["target"])
        if resource.get("comparator"):
            parameter["comparator"] = list(resource["comparator"])
        if resource.get("modifier"):
            parameter["modifier"] = list(resource["modifier"])
        if resource.get("component"):
            parameter["component"] = [
                {"definition": c["definition"], "expression": c["expression"]} for c in resource["component"]
            ]
        parameters.append(parameter)
    parameters.sort(key=lambda p: p["url"])
    return {
        "fhirVersion": "4.0.1",
        "parameters": parameters,
        "types": {
            "elements": elements,
            "parents": parents,
            "resourceTypes": resource_types,
        },
    }


def main() -> None:
    table = derive(examples_package_dir())
    text = json.dumps(table, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(gzip.compress(text, compresslevel=9, mtime=0))
    print(f"wrote {OUTPUT} ({len(table['parameters'])} parameters, {OUTPUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
