"""Derive ``src/ehp/index/definitions/compartments.json.gz`` from the official R4 package.

Run ``.venv/bin/python scripts/derive_compartments.py``. Reads the five official
CompartmentDefinitions (Patient, Encounter, RelatedPerson, Practitioner, Device; not the example)
and writes, per compartment type, its canonical url and, per resource type that can be in it, the
search parameters that link a resource to the compartment owner (``{def}`` means the owner itself).
The output is deterministic (sorted keys, gzip without a timestamp) and committed: the server
never reads the package at run time.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from ehp.fhir.package import examples_package_dir

OUTPUT = Path(__file__).resolve().parents[1] / "src/ehp/index/definitions/compartments.json.gz"
OFFICIAL = ("device", "encounter", "patient", "practitioner", "relatedPerson")


def build_table(package: Path) -> bytes:
    table: dict[str, Any] = {}
    for name in OFFICIAL:
        definition = json.loads((package / f"CompartmentDefinition-{name}.json").read_bytes())
        table[definition["code"]] = {
            "url": definition["url"],
            "resources": {
                entry["code"]: entry["param"] for entry in definition["resource"] if entry.get("param")
            },
        }
    text = json.dumps(table, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main() -> None:
    data = build_table(examples_package_dir())
    OUTPUT.write_bytes(data)
    table = json.loads(gzip.decompress(data))
    counts = ", ".join(f"{code}: {len(entry['resources'])} types" for code, entry in table.items())
    print(f"{OUTPUT.name}: {counts} ({len(data):,} bytes)")


if __name__ == "__main__":
    main()
