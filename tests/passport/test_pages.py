"""The passport pages over plain HTTP on both databases: status, languages, nothing loaded from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from ehp.bench.servers import BenchServer
from ehp.demo import DEMO_REGION, demo_hints
from ehp.synth.generator import SynthConfig, synthesize
from tests.passport.conftest import Loaded
from tests.security.test_tokens import cli_token


def site(loaded: Loaded) -> httpx.Client:
    return httpx.Client(base_url=loaded.server.base.removesuffix("/fhir"), timeout=60)


def test_the_page_is_served_whole_by_the_platform(loaded: Loaded) -> None:
    patient = loaded.people.patients["chronic"]
    with site(loaded) as client:
        response = client.get(f"/passport/{patient['id']}")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        page = response.text
        assert patient["name"][0]["text"] in page and '<html lang="ru">' in page  # Russian by default
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), (
            "the page must not load anything from elsewhere"
        )
        for asset in re.findall(r"""(?:src|href)="(/passport-static/[^"]+)""", page):
            served = client.get(asset)
            assert served.status_code == 200 and len(served.content) > 500, asset
        assert client.get(f"/passport/{patient['id']}?lang=xx").text.count('<html lang="ru">') == 1


def test_unknown_and_deleted_patients_are_404(loaded: Loaded) -> None:
    with site(loaded) as client:
        assert client.get("/passport/no-such-person").status_code == 404
        assert client.get("/passport/no-such-person?lang=kk").text.count("Ешкім табылмады") == 1


def test_the_index_finds_people_by_name(loaded: Loaded) -> None:
    patient = loaded.people.patients["chronic"]
    family = patient["name"][1]["family"]  # the Latin spelling finds the Cyrillic record too
    with site(loaded) as client:
        page = client.get("/passport", params={"q": family, "lang": "en"}).text
    assert f"/passport/{patient['id']}" in page
    assert patient["name"][1]["text"] in page


def test_with_authentication_on_the_pages_need_the_bearer_token(tmp_path: Path) -> None:
    with BenchServer(f"sqlite:///{tmp_path / 'ehp.db'}", tmp_path / "server.log", auth="required") as server:
        root = server.base.removesuffix("/fhir")
        sent = httpx.get(f"{root}/passport?lang=en", timeout=30)
        assert sent.status_code == 303 and sent.headers["location"].startswith("/auth/signin?")
        forged = {"Authorization": "Bearer not-a-token"}
        refused = httpx.get(f"{root}/passport/someone?lang=en", headers=forged, timeout=30)
        assert refused.status_code == 401 and "Sign-in required" in refused.text
        bearer = cli_token(server, "Practitioner/doc-1", "user/*.rs")
        allowed = httpx.get(f"{root}/passport", headers={"Authorization": f"Bearer {bearer}"}, timeout=30)
        assert allowed.status_code == 200 and 'id="patients"' not in allowed.text  # an empty store


def test_the_demo_prints_the_passport_address(tmp_path: Path) -> None:
    synthesize(
        SynthConfig(people=30, regions=(DEMO_REGION,)), tmp_path / "synth", "bundles", show_progress=False
    )
    hints = demo_hints(tmp_path, "http://127.0.0.1:8080/fhir")
    assert "The health passport page for clinicians: http://127.0.0.1:8080/passport" in hints
    page = next(hint for hint in hints if "/passport/" in hint).split()[0]
    patient_id = page.rsplit("/", 1)[1].split("?")[0]
    assert any(hint.endswith(f"/Patient/{patient_id}/$summary'") for hint in hints)
