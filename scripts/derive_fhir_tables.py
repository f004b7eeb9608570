"""Derive the compact FHIR R4 validation tables from the official package.

Reads ``hl7.fhir.r4.examples@4.0.1`` (see :func:`ehp.fhir.package.examples_package_dir`) and writes
eight gzip'ed JSON files under ``src/ehp/fhir/definitions/``:

``structure.json.gz``
    ``resource_types`` (concrete resource types), ``primitive_types`` (JSON kind, regex, whether
    ``_name`` extension siblings are allowed) and ``types``: for every resource type, complex
    datatype and BackboneElement path, its child elements (min, max, type codes, choice flag,
    children context, contentReference, required binding, Reference targets).
``terminology.json.gz``
    ``value_sets``: for each value set used by a required binding that can be expanded from the
    package alone, its codes grouped by code system; ``skipped``: the others, with the reason.
``constraints.json.gz``
    ``types``: the invariants of each type (the constraints on its root element, inherited ones
    included) and of each BackboneElement path; ``elements``: the invariants an element adds beyond
    its type's (``RiskAssessment.prediction.probability``); each as ``[key, severity, human,
    expression]``. ``parents``: each type's base type (``Age`` → ``Quantity``, ``code`` →
    ``string``), for FHIRPath ``is``.
``codesystems.json.gz``
    Every code system the package holds in full (``content: complete``, 1,054 of them, 20,007
    codes): its codes and their displays, for checking any Coding of those systems.
``extensions.json.gz``
    The 393 core extensions: value types allowed, contexts, root ``max``, nested extensions.
``profiles.json.gz``
    The 43 core profiles of resources (``vitalsigns``, ``bp``...): their snapshot elements, trimmed
    to what profile validation checks.
``searchparameters.json.gz``
    Every official SearchParameter's url with its type and bases (conformance resource rules).
``summary.json.gz``
    For every resource type and BackboneElement path of a resource, the child elements marked
    ``isSummary`` (``[x]`` stripped): what ``_summary=true`` returns.

The output is deterministic (sorted keys, gzip mtime 0): rerunning gives identical bytes.
Usage: ``.venv/bin/python scripts/derive_fhir_tables.py`` (with ``ehp`` installed, or ``PYTHONPATH=src``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ehp.fhir.package import PACKAGE_VERSION, examples_package_dir
from ehp.fhir.profiles import snapshot_elements

OUTPUT_DIR = Path(__file__).resolve().parents[1] / "src" / "ehp" / "fhir" / "definitions"
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
FHIR_TYPE_EXT = SD_PREFIX + "structuredefinition-fhir-type"
REGEX_EXT = SD_PREFIX + "regex"
# FHIRPath system type of a root primitive's value → how the primitive is written in JSON.
JSON_KINDS = {
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "number",
}

Json = dict[str, Any]


def load_definitions(package: Path, prefix: str) -> list[Json]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(package.glob(f"{prefix}-*.json"))]


def base_structures(package: Path) -> dict[str, Json]:
    """The core type definitions (no profiles, no logical models), by type name."""
    return {
        sd["type"]: sd
        for sd in load_definitions(package, "StructureDefinition")
        if sd["kind"] != "logical" and sd.get("derivation") != "constraint"
    }


def extension_value(extensions: Iterable[Json], url: str) -> Any:
    for extension in extensions:
        if extension["url"] == url:
            return next(value for key, value in extension.items() if key.startswith("value"))
    return None


def type_code(type_: Json) -> str:
    """The FHIR type code; FHIRPath system types (``Element.id``, ``Extension.url``) give their FHIR type."""
    code: str = type_["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        fhir_type: str = extension_value(type_.get("extension", []), FHIR_TYPE_EXT)
        return fhir_type
    return code


def element_entry(element: Json, is_resource_root_id: bool, has_children: bool) -> Json:
    entry: Json = {"min": element["min"], "max": element["max"]}
    types = element.get("type", [])
    if is_resource_root_id:
        # Resource.id is declared as a FHIRPath String, but the spec requires the `id` type.
        entry["types"] = ["id"]
    else:
        entry["types"] = [type_code(type_) for type_ in types]
        if any(type_["code"].startswith("http://hl7.org/fhirpath/System.") for type_ in types):
            entry["no_extensions"] = True  # an XML attribute (Element.id, Extension.url): no `_name`
    if element["path"].endswith("[x]"):
        entry["choice"] = True
    if "contentReference" in element:
        entry["contentReference"] = element["contentReference"]
        entry["context"] = element["contentReference"].lstrip("#")
    elif has_children:
        entry["context"] = element["path"]
    binding = element.get("binding", {})
    if binding.get("strength") == "required":
        entry["binding"] = binding["valueSet"].split("|")[0]
    targets = sorted(
        {
            profile.removeprefix(SD_PREFIX)
            for type_ in types
            if type_["code"] == "Reference"
            for profile in type_.get("targetProfile", [])
        }
    )
    if targets and "Resource" not in targets:
        entry["targets"] = targets
    return entry


def element_tables(structures: dict[str, Json]) -> dict[str, dict[str, Json]]:
    """Context (type name or BackboneElement path) → child name (``[x]`` stripped) → element entry."""
    tables: dict[str, dict[str, Json]] = {}
    for name, sd in structures.items():
        if sd["kind"] == "primitive-type":
            continue
        elements = sd["snapshot"]["element"]
        paths = {element["path"] for element in elements}
        parents = {path.rsplit(".", 1)[0] for path in paths if "." in path}
        tables[name] = {}
        for element in elements[1:]:
            path: str = element["path"]
            parent, child = path.rsplit(".", 1)
            root_id = sd["kind"] == "resource" and path == f"{name}.id"
            tables.setdefault(parent, {})[child.removesuffix("[x]")] = element_entry(
                element, root_id, path in parents
            )
    return tables


def summary_elements(structures: dict[str, Json]) -> dict[str, list[str]]:
    """Resource type or BackboneElement path → its children marked ``isSummary``, sorted."""
    table: dict[str, list[str]] = {}
    for sd in structures.values():
        if sd["kind"] != "resource":
            continue
        for element in sd["snapshot"]["element"][1:]:
            if element.get("isSummary"):
                parent, child = element["path"].rsplit(".", 1)
                table.setdefault(parent, []).append(child.removesuffix("[x]"))
    return {context: sorted(children) for context, children in table.items()}


def primitive_types(structures: dict[str, Json]) -> dict[str, Json]:
    result: dict[str, Json] = {}
    for name, sd in structures.items():
        if sd["kind"] != "primitive-type":
            continue
        by_path = {element["path"]: element for element in sd["snapshot"]["element"]}
        value_type = by_path[f"{name}.value"]["type"][0]
        root = sd
        while root["baseDefinition"] != SD_PREFIX + "Element":
            root = structures[root["baseDefinition"].removeprefix(SD_PREFIX)]
        root_code = next(e for e in root["snapshot"]["element"] if e["path"].endswith(".value"))["type"][0]
        entry: Json = {
            "json": JSON_KINDS.get(root_code["code"], "string"),
            "extensions": by_path[f"{name}.extension"]["max"] != "0",
        }
        regex = extension_value(value_type.get("extension", []), REGEX_EXT)
        if regex is not None:
            entry["regex"] = regex
        result[name] = entry
    return result


class Unexpandable(Exception):
    """A value set that cannot be expanded from the package alone; the message says why."""


class Expander:
    """Expands value sets from the CodeSystems and ValueSets of the package."""

    def __init__(self, value_sets: list[Json], code_systems: list[Json]) -> None:
        self.value_sets = {vs["url"]: vs for vs in value_sets}
        self.code_systems = {cs["url"]: cs for cs in code_systems}

    def expand(self, url: str, seen: tuple[str, ...] = ()) -> dict[str, set[str]]:
        if url in seen:
            raise Unexpandable(f"circular include of {url}")
        value_set = self.value_sets.get(url)
        if value_set is None:
            raise Unexpandable(f"value set {url} is not in the package")
        compose = value_set.get("compose")
        if compose is None:
            raise Unexpandable(f"value set {url} has no compose")
        result: dict[str, set[str]] = {}
        for include in compose["include"]:
            for system, codes in self.criterion(include, (*seen, url)).items():
                result.setdefault(system, set()).update(codes)
        for exclude in compose.get("exclude", []):
            for system, codes in self.criterion(exclude, (*seen, url)).items():
                result.get(system, set()).difference_update(codes)
        return {system: codes for system, codes in result.items() if codes}

    def criterion(self, include: Json, seen: tuple[str, ...]) -> dict[str, set[str]]:
        """One include/exclude: its system part intersected with each of its value sets."""
        if "filter" in include:
            raise Unexpandable(f"filter on {include.get('system')} cannot be evaluated")
        parts: list[dict[str, set[str]]] = []
        if "system" in include:
            system = include["system"]
            if "concept" in include:
                parts.append({system: {concept["code"] for concept in include["concept"]}})
            else:
                parts.append({system: self.all_codes(system)})
        parts.extend(self.expand(url.split("|")[0], seen) for url in include.get("valueSet", []))
        result = parts[0]
        for part in parts[1:]:
            result = {system: codes & part[system] for system, codes in result.items() if system in part}
        return result

    def all_codes(self, system: str) -> set[str]:
        code_system = self.code_systems.get(system)
        if code_system is None:
            raise Unexpandable(f"code system {system} is external (not in the package)")
        if code_system.get("content") != "complete":
            raise Unexpandable(f"code system {system} has content '{code_system.get('content')}'")
        codes: set[str] = set()
        pending = list(code_system.get("concept", []))
        while pending:
            concept = pending.pop()
            codes.add(concept["code"])
            pending.extend(concept.get("concept", []))
        return codes


def terminology(package: Path, tables: dict[str, dict[str, Json]]) -> Json:
    expander = Expander(load_definitions(package, "ValueSet"), load_definitions(package, "CodeSystem"))
    urls = {entry["binding"] for table in tables.values() for entry in table.values() if "binding" in entry}
    expanded: Json = {}
    skipped: Json = {}
    for url in sorted(urls):
        try:
            expanded[url] = {system: sorted(codes) for system, codes in expander.expand(url).items()}
        except Unexpandable as reason:
            skipped[url] = str(reason)
    return {"value_sets": expanded, "skipped": skipped}


def complete_code_systems(package: Path) -> Json:
    """Every code system the package holds in full: its codes and their displays ("" for none),
    so that a Coding of one of them can be checked wherever it appears, bound or not."""
    result: Json = {}
    for code_system in sorted(load_definitions(package, "CodeSystem"), key=lambda item: str(item["url"])):
        url = code_system["url"]
        if code_system.get("content") != "complete":
            continue
        displays: dict[str, str] = {}
        pending = list(code_system.get("concept", []))
        while pending:
            concept = pending.pop()
            displays[concept["code"]] = concept.get("display", "")
            pending.extend(concept.get("concept", []))
        result[url] = dict(sorted(displays.items()))
    return result


BEST_PRACTICE_EXT = SD_PREFIX + "elementdefinition-bestpractice"


def constraint_entries(element: Json, skip: set[str]) -> list[list[str]]:
    """The constraints of an element; a best-practice one (``dom-6``) is ``information`` (HL7's
    validator reports those as hints by default)."""
    return [
        [
            constraint["key"],
            "information"
            if extension_value(constraint.get("extension", []), BEST_PRACTICE_EXT)
            else constraint["severity"],
            constraint["human"],
            constraint["expression"],
        ]
        for constraint in element.get("constraint", [])
        if constraint["key"] not in skip and "expression" in constraint
    ]


def constraints(structures: dict[str, Json]) -> Json:
    """The FHIRPath invariants, where they apply, and the type hierarchy (see the module docstring)."""
    types: dict[str, list[list[str]]] = {}
    elements: dict[str, list[list[str]]] = {}
    parents: dict[str, str] = {}
    for name, sd in sorted(structures.items()):
        base = sd.get("baseDefinition")
        if base:
            parents[name] = base.removeprefix(SD_PREFIX)
        root, *children = sd["snapshot"]["element"]
        if root_constraints := constraint_entries(root, set()):
            types[name] = root_constraints
        paths = {element["path"] for element in children}
        inherited = {"ele-1"}  # Element's own invariant, repeated on every element
        for element in children:
            path: str = element["path"]
            has_children = any(other.startswith(path + ".") for other in paths)
            entries = constraint_entries(element, inherited)
            if not entries:
                continue
            if has_children:
                types[path] = entries  # a BackboneElement: its own type, named by its path
            else:
                own_type = {type_["code"] for type_ in element.get("type", [])}
                type_keys = {entry[0] for code in own_type for entry in types_of(structures, code)}
                entries = [entry for entry in entries if entry[0] not in type_keys]
                if entries:
                    elements[path.removesuffix("[x]")] = entries
    return {"types": types, "elements": elements, "parents": parents}


def types_of(structures: dict[str, Json], code: str) -> list[list[str]]:
    sd = structures.get(code)
    return constraint_entries(sd["snapshot"]["element"][0], set()) if sd else []


def extension_definitions(package: Path) -> Json:
    """The core extensions (StructureDefinitions of type Extension): for each URL the value types
    allowed (none: a complex extension), the contexts, the root ``max``, and for complex ones the
    value types of each nested extension by its ``url``."""
    result: Json = {}
    for sd in load_definitions(package, "StructureDefinition"):
        if sd.get("type") != "Extension" or sd.get("derivation") != "constraint":
            continue
        elements = {element["id"]: element for element in sd["snapshot"]["element"]}
        root = elements["Extension"]
        children: Json = {}
        for element_id, element in elements.items():
            if element_id.count(":") != 1 or not element_id.startswith("Extension.extension:"):
                continue
            if not element_id.endswith(".url"):
                continue
            slice_id = element_id.removesuffix(".url")
            value = elements.get(f"{slice_id}.value[x]", {})
            if "fixedUri" in element:
                children[element["fixedUri"]] = _value_types(value)
        result[sd["url"]] = {
            "values": _value_types(elements.get("Extension.value[x]", {})),
            "contexts": sorted(context["expression"] for context in sd.get("context", [])),
            "max": root.get("max", "*"),
            "children": children,
        }
    return dict(sorted(result.items()))


def _value_types(element: Json) -> list[str]:
    if not element or element.get("max") == "0":
        return []
    return sorted({type_["code"] for type_ in element.get("type", [])})


def core_profiles(package: Path) -> Json:
    """The core profiles of resources (vital signs, lipid profile, shareable ValueSet...): their
    snapshot elements with what :mod:`ehp.fhir.profiles` checks."""
    return {
        sd["url"]: {"type": sd["type"], "name": sd["name"], "elements": snapshot_elements(sd)}
        for sd in sorted(load_definitions(package, "StructureDefinition"), key=lambda item: str(item["url"]))
        if sd.get("derivation") == "constraint"
        and sd.get("kind") == "resource"
        and sd.get("type") != "Extension"
    }


def search_parameter_kinds(package: Path) -> Json:
    """Every official SearchParameter's url → [type, bases]: for the rules of SearchParameters
    derived from them and of CapabilityStatements that name them."""
    bundle = json.loads((package / "Bundle-searchParams.json").read_bytes())
    return {
        entry["resource"]["url"]: [entry["resource"]["type"], sorted(entry["resource"].get("base", []))]
        for entry in sorted(bundle["entry"], key=lambda item: str(item["resource"]["url"]))
    }


def encode(content: Json) -> bytes:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def build_tables(package: Path) -> dict[str, bytes]:
    """The table files (name → gzip'ed bytes) derived from the unpacked package."""
    structures = base_structures(package)
    tables = element_tables(structures)
    resource_types = sorted(
        name for name, sd in structures.items() if sd["kind"] == "resource" and not sd["abstract"]
    )
    structure = {
        "fhir_version": PACKAGE_VERSION,
        "resource_types": resource_types,
        "primitive_types": primitive_types(structures),
        "types": tables,
    }
    return {
        "structure.json.gz": encode(structure),
        "terminology.json.gz": encode(terminology(package, tables)),
        "summary.json.gz": encode(summary_elements(structures)),
        "constraints.json.gz": encode(constraints(structures)),
        "codesystems.json.gz": encode(complete_code_systems(package)),
        "extensions.json.gz": encode(extension_definitions(package)),
        "profiles.json.gz": encode(core_profiles(package)),
        "searchparameters.json.gz": encode(search_parameter_kinds(package)),
    }


def main() -> None:
    files = build_tables(examples_package_dir())
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (OUTPUT_DIR / name).write_bytes(data)
    structure = json.loads(gzip.decompress(files["structure.json.gz"]))
    terms = json.loads(gzip.decompress(files["terminology.json.gz"]))
    print(
        f"{len(structure['resource_types'])} resource types, {len(structure['types'])} element tables, "
        f"{len(terms['value_sets'])} value sets expanded, {len(terms['skipped'])} skipped, "
        f"{sum(len(data) for data in files.values()):,} bytes"
    )
    for url, reason in terms["skipped"].items():
        print(f"  skipped {url}: {reason}")


if __name__ == "__main__":
    main()
