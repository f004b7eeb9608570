"""``ehp demo``: a working server on an embedded SQLite store, filled on first start.

The first start generates a small synthetic region (:data:`DEMO_PEOPLE` people of
:data:`DEMO_REGION`: its polyclinics, hospitals and staff, and its people's lifelong records) into
``FOLDER/synth`` and loads it straight into the store, in process. Both steps resume if the first
start is interrupted; later starts find everything loaded and serve at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from ehp.context import SYSTEM_CONTEXT
from ehp.fhir.codes import ATTACHMENT
from ehp.registry.iin import IIN_SYSTEM
from ehp.reindex.overlay import open_store
from ehp.search.query import find_ids
from ehp.security.authenticator import IssuerSettings
from ehp.security.roles import ADMINISTRATOR, Role, set_roles
from ehp.security.users import add_user
from ehp.store.database import open_engine
from ehp.store.store import Store
from ehp.synth.generator import SynthConfig, read_manifest, synthesize
from ehp.synth.loader import load_database

DEMO_PEOPLE = 2000
DEMO_REGION = "astana"
DEMO_SEED = 1
DEMO_PASSWORD = "demo-passport"
"""The password of every demo login (a public demo of synthetic people: no secret is kept)."""


def prepare_demo(folder: Path, *, show_progress: bool = True) -> str:
    """Generate and load the demo region into ``folder`` unless done already; returns the database URL."""
    synth = folder / "synth"
    config = SynthConfig(people=DEMO_PEOPLE, seed=DEMO_SEED, regions=(DEMO_REGION,))
    try:
        manifest = read_manifest(synth)
        wanted = (config.people, config.seed, list(config.regions or ()))
        current = (manifest["people"], manifest["seed"], manifest["regions"]) == wanted
    except ValueError:
        current = False
    if not current:
        synthesize(config, synth, "bundles", show_progress=show_progress)
    store = folder.resolve() / "ehp.db"
    if not store.exists():  # a new store: what an earlier one had loaded is not in it
        for progress in synth.glob(".load-progress-*"):
            progress.unlink()
    database = f"sqlite:///{store}"
    load_database(synth, database, show_progress=show_progress)
    return database


def demo_logins(folder: Path, database: str) -> list[tuple[str, str]]:
    """Create the demo's logins for the login page (``/auth/authorize``); ``(username, subject)`` each.

    ``citizen`` is the patient the hints name, ``doctor`` a practitioner of the polyclinic that
    patient is attached to, ``admin`` the administrator (given the role ``administrator``). They take
    effect when the demo's store is served with authentication on (``ehp serve --database ...``);
    the demo itself runs without.
    """
    patient = _first_patient(folder / "synth")
    logins = [("admin", "admin")]
    if patient is not None:
        logins.append(("citizen", f"Patient/{patient['id']}"))
    engine = open_engine(database, pool_size=1)
    try:
        if patient is not None:
            store = open_store(engine)
            store.params.load()
            doctor = _attached_doctor(store, patient["id"])
            if doctor is not None:
                logins.append(("doctor", doctor))
        for username, subject in logins:
            add_user(engine, username, subject, DEMO_PASSWORD)
        set_roles(engine, IssuerSettings.from_environment().issuer, "admin", [Role(ADMINISTRATOR)])
    finally:
        engine.dispose()
    return logins


def _attached_doctor(store: Store, patient_id: str) -> str | None:
    """A practitioner working at the polyclinic the patient is attached to now."""
    reader = store.reader(SYSTEM_CONTEXT)
    attachment = [
        ("patient", f"Patient/{patient_id}"),
        ("status", "active"),
        ("type", f"{ATTACHMENT.system}|{ATTACHMENT.code}"),
    ]
    for episode_id in find_ids(reader, "EpisodeOfCare", attachment, 1):
        episode = reader.read("EpisodeOfCare", episode_id)
        if episode is None or episode.content is None:
            continue
        organization = orjson.loads(episode.content)["managingOrganization"]["reference"]
        for role_id in find_ids(reader, "PractitionerRole", [("organization", organization)], 1):
            role = reader.read("PractitionerRole", role_id)
            if role is not None and role.content is not None:
                reference: str = orjson.loads(role.content)["practitioner"]["reference"]
                return reference
    return None


def demo_hints(folder: Path, base: str, logins: list[tuple[str, str]] | None = None) -> list[str]:
    """What to try against the demo server, with a real patient of the generated region."""
    patient = _first_patient(folder / "synth")
    hints = [
        f"EHP demo: FHIR R4 at {base}  (no login: authentication is off in the demo)",
        f"A synthetic region of {DEMO_PEOPLE} people of {DEMO_REGION} with lifelong records. Try:",
        f"  curl '{base}/Patient?_count=5'",
        f"  curl '{base}/Condition?code=http://hl7.org/fhir/sid/icd-10|I10&_count=5'",
        f"  curl '{base}/Organization?_count=20'",
    ]
    if patient is not None:
        identifier = next(i["value"] for i in patient["identifier"] if i["system"] == IIN_SYSTEM)
        hints += [
            f"  curl '{base}/Patient?identifier={IIN_SYSTEM}|{identifier}'",
            f"  curl '{base}/Encounter?subject=Patient/{patient['id']}'",
            f"  curl '{base}/Immunization?patient=Patient/{patient['id']}'",
        ]
    hints.append(f"  curl {base}/metadata")
    site = base.removesuffix("/fhir")
    hints.append(f"The health passport page for clinicians: {site}/passport")
    if patient is not None:
        hints += [
            f"  {site}/passport/{patient['id']}?lang=en   (lang=kk, ru, en)",
            f"  curl '{base}/Patient/{patient['id']}/$summary'",
            f"  curl '{base}/Patient/{patient['id']}/$everything?_count=100'",
        ]
    if logins:
        hints.append(
            f"Demo logins (password '{DEMO_PASSWORD}') for the login page {site}/auth/authorize, which "
            "takes effect when this store is served with authentication on "
            f"(./run serve --database sqlite:///{(folder / 'ehp.db').resolve()}):"
        )
        hints += [f"  {username:8} {subject}" for username, subject in logins]
    return hints


def _first_patient(synth: Path) -> dict[str, Any] | None:
    """The first living adult Patient of the generated set (read from the start of its first file)."""
    for name in read_manifest(synth)["files"]:
        with (synth / name).open("rb") as handle:
            for line in handle:
                for entry in orjson.loads(line).get("entry", []):
                    resource = entry["resource"]
                    if (
                        resource["resourceType"] == "Patient"
                        and "deceasedDateTime" not in resource
                        and resource["birthDate"] < "1990"
                    ):
                        found: dict[str, Any] = resource
                        return found
    return None
