"""``ehp sync verify``: a node's passports against the centre's, version by version."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, select

from ehp.store.schema import resources
from ehp.sync.client import CentralClient
from ehp.sync.passport import Digest, passport_digest


@dataclass(frozen=True, slots=True)
class Difference:
    patient_id: str
    location: str
    problem: str

    def __str__(self) -> str:
        return f"Patient/{self.patient_id}: {self.location}: {self.problem}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    patients: int
    node_versions: int
    central_versions: int
    differences: list[Difference]


def node_patients(engine: Engine) -> list[str]:
    query = select(resources.c.id).where(
        resources.c.resource_type == "Patient", resources.c.deleted.is_(False)
    )
    with engine.connect() as connection:
        return sorted(connection.execute(query).scalars())


def compare(patient_id: str, node: Iterable[Digest], central: Iterable[Digest]) -> list[Difference]:
    """Every version missing on one side or whose content differs (hash without ``meta.source``)."""
    here = {(t, i, v): h for t, i, v, h in node}
    there = {(t, i, v): h for t, i, v, h in central}
    differences = []
    for key in sorted(here.keys() | there.keys()):
        location = f"{key[0]}/{key[1]}/_history/{key[2]}"
        if key not in there:
            differences.append(Difference(patient_id, location, "on the node, missing at the centre"))
        elif key not in here:
            differences.append(Difference(patient_id, location, "at the centre, missing on the node"))
        elif here[key] != there[key]:
            differences.append(Difference(patient_id, location, "content differs"))
    return differences


def verify(engine: Engine, client: CentralClient, patients: list[str]) -> VerifyReport:
    differences: list[Difference] = []
    node_count = central_count = 0
    for patient_id in patients:
        with engine.connect() as connection:
            local = passport_digest(connection, patient_id)
        remote = client.digest(patient_id)
        node_count += len(local)
        central_count += len(remote)
        differences.extend(compare(patient_id, local, remote))
    return VerifyReport(len(patients), node_count, central_count, differences)
