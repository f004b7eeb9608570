"""``ehp synth``: generate a synthetic country into a folder, streaming, with constant memory.

Output formats:

* ``ndjson``: one file per resource type (``Patient.ndjson``...), one resource a line;
* ``bundles``: ``bundles-000001.ndjson``... with one transaction Bundle a line, about
  :data:`BUNDLE_SIZE` ``PUT`` entries each, a person's records together (a unit larger than a
  Bundle is split across consecutive Bundles).

``manifest.json`` is written first (``complete: false``) and again at the end with the counts, so
an interrupted run is recognisable and can be overwritten.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ehp.registry.geography import REGION_CODES
from ehp.synth.history import records
from ehp.synth.ids import stream
from ehp.synth.infrastructure import IinRegistry, build_country, infrastructure_resources
from ehp.synth.population import Population

Json = dict[str, Any]
FORMATS = ("ndjson", "bundles")
BUNDLE_SIZE = 100
BUNDLES_PER_FILE = 1000
MANIFEST = "manifest.json"
GENERATOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class SynthConfig:
    people: int
    seed: int = 1
    regions: tuple[str, ...] | None = None
    """Generate only these regions (codes of :data:`~ehp.registry.geography.REGION_CODES`)."""

    def __post_init__(self) -> None:
        if self.people < 1:
            raise ValueError("the number of people must be at least 1")
        unknown = [code for code in self.regions or () if code not in REGION_CODES]
        if unknown:
            raise ValueError(
                f"unknown region {', '.join(unknown)}; the regions are: {', '.join(REGION_CODES)}"
            )


def generate(config: SynthConfig) -> Iterator[tuple[int, list[Json]]]:
    """(people in the group, resources) groups: the infrastructure (0 people), then one unit at a time."""
    iins = IinRegistry()
    country = build_country(config.seed, config.people, config.regions, iins)
    infrastructure = list(infrastructure_resources(country))
    for start in range(0, len(infrastructure), BUNDLE_SIZE):
        yield 0, infrastructure[start : start + BUNDLE_SIZE]
    population = Population(config.seed, country, iins)
    made = number = 0
    while made < config.people:
        people = population.unit(number)[: config.people - made]
        rng = stream(config.seed, "records", number)
        yield len(people), [resource for person in people for resource in records(person, rng)]
        made += len(people)
        number += 1


@dataclass(slots=True)
class Summary:
    people: int = 0
    resources: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    """Output files and the lines (resources or Bundles) each holds."""


class _Writer(ABC):
    def __init__(self, folder: Path, summary: Summary) -> None:
        self.folder = folder
        self.summary = summary
        self.handles: dict[str, IO[bytes]] = {}

    def open(self, name: str) -> IO[bytes]:
        handle = self.handles.get(name)
        if handle is None:
            handle = self.handles[name] = (self.folder / name).open("wb", buffering=1 << 20)
            self.summary.files[name] = 0
        return handle

    def line(self, name: str, data: bytes) -> None:
        self.open(name).write(data + b"\n")
        self.summary.files[name] += 1

    @abstractmethod
    def write(self, group: list[Json]) -> None:
        """Write one group of resources (a unit's, or part of the network)."""

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


class NdjsonWriter(_Writer):
    def write(self, group: list[Json]) -> None:
        for resource in group:
            self.line(f"{resource['resourceType']}.ndjson", orjson.dumps(resource))


class BundleWriter(_Writer):
    def __init__(self, folder: Path, summary: Summary) -> None:
        super().__init__(folder, summary)
        self.pending: list[Json] = []
        self.bundles = 0

    def write(self, group: list[Json]) -> None:
        if self.pending and len(self.pending) + len(group) > BUNDLE_SIZE:
            self.flush()
        while len(group) > BUNDLE_SIZE:
            self.pending, group = group[:BUNDLE_SIZE], group[BUNDLE_SIZE:]
            self.flush()
        self.pending.extend(group)

    def flush(self) -> None:
        if not self.pending:
            return
        entries = [
            {
                "fullUrl": f"urn:uuid:{resource['id']}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
            }
            for resource in self.pending
        ]
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        self.line(self._file_name(self.bundles), orjson.dumps(bundle))
        self.bundles += 1
        self.pending = []
        if self.bundles % BUNDLES_PER_FILE == 0:
            # A full file is closed: every open file holds a write buffer.
            self.handles.pop(self._file_name(self.bundles - 1)).close()

    @staticmethod
    def _file_name(bundle: int) -> str:
        return f"bundles-{bundle // BUNDLES_PER_FILE + 1:06d}.ndjson"

    def close(self) -> None:
        self.flush()
        super().close()


def synthesize(
    config: SynthConfig, folder: Path, output: str = "ndjson", *, show_progress: bool = True
) -> Summary:
    """Generate ``config`` into ``folder`` (created; an earlier generated set there is replaced)."""
    if output not in FORMATS:
        raise ValueError(f"unknown format '{output}': use {' or '.join(FORMATS)}")
    _prepare(folder)
    summary = Summary()
    manifest: Json = {
        "generator": "ehp synth",
        "version": GENERATOR_VERSION,
        "seed": config.seed,
        "people": config.people,
        "regions": list(config.regions) if config.regions else None,
        "format": output,
        "complete": False,
    }
    _write_json(folder / MANIFEST, manifest)
    writer: _Writer = BundleWriter(folder, summary) if output == "bundles" else NdjsonWriter(folder, summary)
    started = time.perf_counter()
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("people"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not show_progress, transient=False) as progress:
        task = progress.add_task("Generating", total=config.people)
        try:
            for people, group in generate(config):
                writer.write(group)
                summary.people += people
                summary.resources += len(group)
                for resource in group:
                    kind = resource["resourceType"]
                    summary.counts[kind] = summary.counts.get(kind, 0) + 1
                if people:
                    progress.advance(task, people)
        finally:
            writer.close()
    summary.seconds = time.perf_counter() - started
    manifest |= {
        "complete": True,
        "resources": summary.resources,
        "counts": dict(sorted(summary.counts.items())),
        "files": summary.files,
    }
    _write_json(folder / MANIFEST, manifest)
    return summary


def read_manifest(folder: Path) -> Json:
    """The manifest of a generated set; ``ValueError`` when there is none or it is incomplete."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ValueError(f"{folder} holds no generated set (no {MANIFEST}); run `ehp synth` first")
    manifest: Json = orjson.loads(path.read_bytes())
    if not manifest.get("complete"):
        raise ValueError(f"the generated set in {folder} is incomplete (interrupted?); generate it again")
    return manifest


def _prepare(folder: Path) -> None:
    """Create the folder, or clear an earlier generated set from it; refuse a folder of other files."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [path.name for path in folder.iterdir()]
    if names and MANIFEST not in names:
        raise ValueError(f"{folder} is not empty and holds no generated set: choose another folder")
    for path in folder.iterdir():
        if path.name == MANIFEST or path.suffix == ".ndjson" or path.name.startswith(".load-progress"):
            path.unlink()


def _write_json(path: Path, value: Json) -> None:
    """Write atomically (a reader sees the old or the new file, never half of one)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2))
    os.replace(partial, path)
