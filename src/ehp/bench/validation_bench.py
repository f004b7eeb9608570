"""``ehp bench validation``: what validation costs per resource, and its share of ingest CPU.

In-process and single-threaded, so the figures are CPU per resource without HTTP or SQL. Two
workloads: the store benchmark's resources (a Patient and nine HbA1c Observations per ten, what
``ehp bench store`` ingests) and the official R4 examples of the clinical resource types. For each,
per resource: JSON parsing, the structural walk alone (every rule but the FHIRPath invariants:
what validation was before they came), the whole validation, and index extraction for every search
parameter. The share is validation over parse + validation + extraction, the CPU an ingest spends
before SQL. Medians of ``rounds`` rounds, each over the whole workload. ``--against DIR`` also
compares ``validate_resource`` with another checkout's (``git worktree add /tmp/old 12a5e50``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from ehp.bench.options import JsonOption, QuickOption
from ehp.bench.store_bench import _observation, _patient
from ehp.fhir import validation
from ehp.fhir.package import examples_package_dir
from ehp.index.extract import extract_index

CLINICAL_TYPES = frozenset(
    {
        "AllergyIntolerance",
        "CarePlan",
        "Condition",
        "Consent",
        "DiagnosticReport",
        "DocumentReference",
        "Encounter",
        "Immunization",
        "MedicationRequest",
        "Observation",
        "Organization",
        "Patient",
        "Practitioner",
        "Procedure",
    }
)


@dataclass(frozen=True, slots=True)
class ValidationCost:
    workload: str
    resources: int
    parse_us: float
    structure_us: float
    validation_us: float
    extraction_us: float

    @property
    def invariants_ratio(self) -> float:
        """Whole validation over the structural walk alone."""
        return self.validation_us / self.structure_us if self.structure_us else 0.0

    @property
    def ingest_share(self) -> float:
        total = self.parse_us + self.validation_us + self.extraction_us
        return self.validation_us / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"invariants_ratio": self.invariants_ratio, "ingest_share": self.ingest_share}


def store_workload(count: int) -> list[bytes]:
    """The store benchmark's resources, serialised (references as ingested: ``Patient/id``)."""
    out: list[bytes] = []
    for number in range(count):
        if number % 10 == 0:
            out.append(orjson.dumps(_patient(number)))
        else:
            out.append(orjson.dumps(_observation(f"Patient/p{number // 10}", number)))
    return out


def clinical_examples(folder: Path | None = None) -> list[bytes]:
    """The official examples of :data:`CLINICAL_TYPES` (232 files in 4.0.1)."""
    found: list[bytes] = []
    for path in sorted((folder or examples_package_dir()).glob("*.json")):
        content = path.read_bytes()
        try:
            resource = orjson.loads(content)
        except orjson.JSONDecodeError:
            continue
        if isinstance(resource, dict) and resource.get("resourceType") in CLINICAL_TYPES:
            found.append(content)
    return found


@contextmanager
def _structure_only() -> Iterator[None]:
    """The validator with its FHIRPath invariants switched off (for the comparison only)."""
    namespace = vars(validation)  # the module's globals: what validate_resource calls
    original = namespace["check_invariants"]
    namespace["check_invariants"] = lambda resource, path, issues: None
    try:
        yield
    finally:
        namespace["check_invariants"] = original


def _median_us(work: Callable[[], None], items: int, rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        start = time.process_time()
        work()
        timings.append(time.process_time() - start)
    return statistics.median(timings) / items * 1e6


def measure(workload: str, contents: list[bytes], rounds: int) -> ValidationCost:
    resources = [orjson.loads(content) for content in contents]
    validation.warm_up()
    for resource in resources[:5]:
        validation.validate_resource(resource)
        extract_index(resource)

    def parse() -> None:
        for content in contents:
            orjson.loads(content)

    def validate() -> None:
        for resource in resources:
            validation.validate_resource(resource)

    def extract() -> None:
        for resource in resources:
            extract_index(resource)

    count = len(resources)
    with _structure_only():
        structure = _median_us(validate, count, rounds)
    return ValidationCost(
        workload,
        count,
        _median_us(parse, count, rounds),
        structure,
        _median_us(validate, count, rounds),
        _median_us(extract, count, rounds),
    )


def format_results(results: list[ValidationCost]) -> str:
    lines = [
        "| workload | resources | parse µs | structure only µs | validation µs | invariants ratio "
        "| extraction µs | validation share |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        lines.append(
            f"| {result.workload} | {result.resources} | {result.parse_us:.0f} | {result.structure_us:.0f} "
            f"| {result.validation_us:.0f} | {result.invariants_ratio:.2f}x | {result.extraction_us:.0f} "
            f"| {result.ingest_share:.0%} |"
        )
    return "\n".join(lines)


_CHILD = """
import json, statistics, sys, time
from ehp.fhir.validation import validate_resource
workloads = json.load(open(sys.argv[1]))
out = {}
for name, texts in workloads.items():
    resources = [json.loads(text) for text in texts]
    for resource in resources[:5]:
        validate_resource(resource)
    timings = []
    for _ in range(int(sys.argv[2])):
        start = time.process_time()
        for resource in resources:
            validate_resource(resource)
        timings.append((time.process_time() - start) / len(resources) * 1e6)
    out[name] = statistics.median(timings)
print(json.dumps(out))
"""


def compare_trees(other: Path, workloads: dict[str, list[bytes]], rounds: int, runs: int = 3) -> str:
    """``validate_resource`` CPU per resource of this tree and of another checkout's ``src``, on
    the same workloads, in separate processes alternating ``runs`` times (medians)."""
    trees = {"this tree": Path(__file__).resolve().parents[2], str(other): other / "src"}
    with tempfile.TemporaryDirectory(prefix="ehp-bench-") as folder:
        data = Path(folder) / "workloads.json"
        data.write_bytes(
            orjson.dumps({name: [item.decode() for item in items] for name, items in workloads.items()})
        )
        found: dict[str, list[dict[str, float]]] = {label: [] for label in trees}
        for _ in range(runs):
            for label, source in trees.items():
                environment = dict(os.environ, PYTHONPATH=str(source))
                done = subprocess.run(
                    [sys.executable, "-c", _CHILD, str(data), str(rounds)],
                    env=environment,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                found[label].append(orjson.loads(done.stdout))
    lines = [f"| workload | {other} µs | this tree µs | ratio |", "| --- | ---: | ---: | ---: |"]
    for name in workloads:
        before = statistics.median(run[name] for run in found[str(other)])
        now = statistics.median(run[name] for run in found["this tree"])
        lines.append(f"| {name} | {before:.1f} | {now:.1f} | {now / before:.2f}x |")
    return "\n".join(lines)


def bench_validation(
    rounds: Annotated[int, typer.Option(help="Rounds over each workload (medians reported).")] = 7,
    quick: QuickOption = False,
    json_file: JsonOption = None,
    against: Annotated[
        Path | None,
        typer.Option(help="Another EHP checkout (e.g. a git worktree of an older commit) to compare with."),
    ] = None,
) -> None:
    """Validation's CPU per resource and its share of ingest CPU (in-process)."""
    rounds = 2 if quick else rounds
    workloads = {
        "store benchmark resources": store_workload(200 if quick else 2_000),
        "official clinical examples": clinical_examples(),
    }
    results = [measure(name, contents, rounds) for name, contents in workloads.items()]
    typer.echo(format_results(results))
    if against is not None:
        typer.echo("")
        typer.echo(compare_trees(against, workloads, max(rounds // 2, 1), runs=1 if quick else 3))
    if json_file is not None:
        payload = {"rounds": rounds, "results": [result.as_dict() for result in results]}
        json_file.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
