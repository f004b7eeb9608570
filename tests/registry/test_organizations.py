"""``ehp registry load-orgs``: organisations, locations and staff from CSV, idempotently."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import func, select

from ehp.bench.servers import BenchServer
from ehp.registry.geography import REGIONS
from ehp.registry.iin import IIN_SYSTEM
from ehp.registry.organizations import location_id, organization_id
from ehp.store.database import open_engine
from ehp.store.schema import resources
from tests.registry.helpers import fresh_iin
from tests.registry.test_attachment import attach, citizen
from tests.registry.test_iin_rule import run_cli


def write_csvs(folder: Path, prefix: str, iin: str) -> tuple[Path, Path]:
    orgs = folder / "orgs.csv"
    orgs.write_text(
        "code,kind,name,parent,district,city,address,postal_code,phone\n"
        f"{prefix},region,Управление здравоохранения,,,Астана,,,\n"
        f"{prefix}-1,district,Алматинский район,{prefix},,,,,\n"
        f'{prefix}/pc-1,polyclinic,Поликлиника №1,{prefix},{prefix}-1,Астана,"ул. Абая, 10",010000,+7 717\n'
        f"{prefix}/tb,dispensary,Противотуберкулёзный диспансер,{prefix},,Астана,,,\n",
        encoding="utf-8",
    )
    staff = folder / "staff.csv"
    staff.write_text(
        "iin,family,given,patronymic,organization,specialty,role,phone\n"
        f"{iin},Ахметова,Айгерім,Маратқызы,{prefix}/pc-1,gp,doctor,\n"
        f"{iin},Ахметова,Айгерім,Маратқызы,{prefix}/tb,pathology,,\n",
        encoding="utf-8",
    )
    return orgs, staff


def test_load_over_http_builds_the_hierarchy_and_is_idempotent(
    fhir: httpx.Client, server: BenchServer, tmp_path: Path
) -> None:
    prefix = f"test-{uuid4().hex[:8]}"
    iin = fresh_iin(date(1986, 3, 30), "female")
    orgs, staff = write_csvs(tmp_path, prefix, iin)
    for _ in range(2):
        loaded = run_cli(
            "registry", "load-orgs", str(orgs), "--practitioners", str(staff), "--url", server.base, "--quiet"
        )
        assert loaded.returncode == 0, loaded.stderr
        assert "loaded 12 resources" in loaded.stdout
    clinic = fhir.get(f"Organization/{organization_id(f'{prefix}/pc-1')}").json()
    assert clinic["meta"]["versionId"] == "2", "the second run rewrote the same records"
    assert clinic["partOf"] == {"reference": f"Organization/{organization_id(prefix)}"}
    assert {c["code"] for t in clinic["type"] for c in t["coding"]} == {"prov", "polyclinic"}
    building = fhir.get(f"Location/{location_id(f'{prefix}/pc-1')}").json()
    assert building["partOf"] == {"reference": f"Location/{location_id(f'{prefix}-1')}"}
    district = fhir.get(f"Location/{location_id(f'{prefix}-1')}").json()
    assert district["partOf"] == {"reference": f"Location/{location_id(prefix)}"}
    doctors = fhir.get("Practitioner", params={"identifier": f"{IIN_SYSTEM}|{iin}"}).json()["entry"]
    assert len(doctors) == 1 and doctors[0]["resource"]["birthDate"] == "1986-03-30"
    roles = fhir.get(
        "PractitionerRole", params={"practitioner": f"Practitioner/{doctors[0]['resource']['id']}"}
    )
    assert len(roles.json()["entry"]) == 2
    assert (
        fhir.get("CodeSystem/ehp-facility-type").json()["url"]
        == "http://ehp.kz/fhir/CodeSystem/facility-type"
    )
    person = citizen(fhir)
    assert attach(fhir, person, organization_id(f"{prefix}/pc-1"), "2022-01-01").status_code == 200
    assert attach(fhir, person, organization_id(f"{prefix}/tb"), "2022-10-01").status_code == 422


def test_load_into_a_database_with_the_countrys_regions(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'registry.db'}"
    loaded = run_cli("registry", "load-orgs", "--regions", "--database", database, "--quiet")
    assert loaded.returncode == 0, loaded.stderr
    engine = open_engine(database)
    try:
        with engine.connect() as connection:
            counts = dict(
                connection.execute(
                    select(resources.c.resource_type, func.count()).group_by(resources.c.resource_type)
                ).all()
            )
    finally:
        engine.dispose()
    districts = sum(len(region.districts) for region in REGIONS)
    assert counts == {"CodeSystem": 2, "Organization": len(REGIONS), "Location": len(REGIONS) + districts}


@pytest.mark.parametrize(
    ("orgs", "staff", "message"),
    [
        ("code,kind,name\nx,castle,Замок\n", None, "orgs.csv:2: unknown kind 'castle'"),
        ("code,kind\nx,region\n", None, "the header needs code, kind, name"),
        ("code,kind,name\nx,polyclinic,Поликлиника\n", None, "orgs.csv:2: 'parent' is required"),
        ("code,kind,name\nx,region,A\nx,region,B\n", None, "the code 'x' is already used"),
        (None, "iin,family,given,organization,specialty\n860330400159,A,B,x,gp\n", "not a valid IIN"),
        (None, "iin,family,given,organization,specialty\n860330400158,A,B,x,magic\n", "unknown specialty"),
    ],
)
def test_bad_csv_is_refused_with_the_line(
    tmp_path: Path, orgs: str | None, staff: str | None, message: str
) -> None:
    arguments = ["registry", "load-orgs"]
    if orgs is not None:
        (tmp_path / "orgs.csv").write_text(orgs, encoding="utf-8")
        arguments.append(str(tmp_path / "orgs.csv"))
    if staff is not None:
        (tmp_path / "staff.csv").write_text(staff, encoding="utf-8")
        arguments += ["--practitioners", str(tmp_path / "staff.csv")]
    database = tmp_path / "x.db"
    refused = run_cli(*arguments, "--database", f"sqlite:///{database}", "--quiet")
    assert refused.returncode == 1 and message in refused.stderr, refused.stderr
    assert not database.exists() or database.stat().st_size < 200_000, "nothing loaded"


def test_load_needs_one_target_and_something_to_load(tmp_path: Path) -> None:
    assert "either --url or --database" in run_cli("registry", "load-orgs", "--regions").stderr
    assert run_cli("registry", "load-orgs", "--database", f"sqlite:///{tmp_path}/x.db").returncode != 0
