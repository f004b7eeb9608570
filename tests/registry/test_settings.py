"""Registry configuration: defaults, overrides from EHP_REGISTRY_SETTINGS, and a server that uses them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import orjson
import pytest

from ehp.bench.servers import BenchServer
from ehp.registry.settings import AttachmentRules, MatchSettings, SettingsError, load_settings
from tests.registry.helpers import FHIR_JSON, create, fresh_iin, issue, patient
from tests.registry.test_attachment import attach, citizen, organization
from tests.registry.test_iin_rule import run_cli


def test_defaults_and_overrides() -> None:
    settings = load_settings("urn:iin", {})
    assert settings.iin_system == "urn:iin"
    assert settings.match == MatchSettings() and settings.attachment == AttachmentRules()
    changed = load_settings(
        "urn:iin",
        {"match": {"probable": 13, "prefix_length": 4}, "attachment": {"campaign": ["01-01", "01-31"]}},
    )
    assert changed.match.probable == 13.0 and changed.match.prefix_length == 4
    assert changed.attachment.campaign == ("01-01", "01-31")
    assert changed.attachment.in_campaign(date(2024, 1, 20)) and not changed.attachment.in_campaign(
        date(2024, 2, 1)
    )
    assert load_settings("urn:iin", {"attachment": {"campaign": None}}).attachment.in_campaign(
        date(2024, 7, 1)
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"matching": {}},
        {"match": {"no_such": 1}},
        {"match": {"probable": "high"}},
        {"attachment": {"campaign": ["13-01", "12-31"]}},
        {"attachment": {"free_changes_per_year": 1.5}},
        {"match": []},
    ],
)
def test_bad_overrides_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(SettingsError):
        load_settings("urn:iin", overrides)


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server with its own IIN system and attachment rules (two changes a year, no campaign)."""
    folder = tmp_path_factory.mktemp("configured")
    settings = folder / "registry.json"
    settings.write_bytes(orjson.dumps({"attachment": {"free_changes_per_year": 2, "campaign": None}}))
    patch = pytest.MonkeyPatch()
    patch.setenv("EHP_REGISTRY_SETTINGS", str(settings))
    patch.setenv("EHP_IIN_SYSTEM", "urn:oid:1.2.398.3.1")
    try:
        with (
            BenchServer(f"sqlite:///{folder / 'ehp.db'}", folder / "server.log") as server,
            httpx.Client(base_url=server.base + "/", timeout=60) as client,
        ):
            yield client
    finally:
        patch.undo()


def test_a_server_follows_its_configuration(configured: httpx.Client) -> None:
    person = citizen(configured)
    clinics = [organization(configured) for _ in range(4)]
    assert attach(configured, person, clinics[0], "2023-01-05").status_code == 200
    assert attach(configured, person, clinics[1], "2023-02-05").status_code == 200, "no campaign window"
    assert attach(configured, person, clinics[2], "2023-03-05").status_code == 200, "the second free change"
    refused = attach(configured, person, clinics[3], "2023-04-05")
    assert refused.status_code == 422 and "2 allowed a year" in issue(refused)["diagnostics"]

    iin = fresh_iin(date(1980, 1, 1), "male")
    other_system = patient(born=date(1980, 1, 1)) | {
        "identifier": [{"system": "urn:oid:1.2.398.3.1", "value": "123"}]
    }
    refused = configured.post("Patient", json=other_system, headers=FHIR_JSON)
    assert refused.status_code == 422, "the configured system is the IIN"
    assert create(configured, patient(iin=iin, born=date(1999, 9, 9)))["birthDate"] == "1999-09-09", (
        "the default system is just another identifier here"
    )


def test_settings_file_must_exist(tmp_path: Path) -> None:
    started = run_cli(
        "serve", "--database", f"sqlite:///{tmp_path}/x.db", "--auth", "none", "--port", "1",
        env={"EHP_REGISTRY_SETTINGS": str(tmp_path / "missing.json")},
    )  # fmt: skip
    assert started.returncode != 0 and "EHP_REGISTRY_SETTINGS" in started.stderr
