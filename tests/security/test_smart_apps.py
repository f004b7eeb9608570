"""SMART App Launch 2 with SMART's own JavaScript client (``fhirclient`` from npm, unmodified) in
Debian's Chromium: a citizen's standalone launch, a doctor's standalone launch with the patient
picker, and an EHR launch from the passport page's "open in app". The app is served from another
origin, so CORS is exercised as a browser enforces it."""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from ehp.bench.servers import BenchServer, free_port
from tests.access.conftest import World, _put, give_world_roles, world_resources
from tests.passport.test_browser import ARTIFACTS, CHROMIUM, require_chromium
from tests.security.test_app_launch import ehp
from tests.servers import database_url

CLIENTS = Path(__file__).parents[1] / "clients"
PASSWORD = "correct horse battery"
APP_SCOPE = "launch launch/patient openid fhirUser offline_access patient/*.rs"


@pytest.fixture(scope="module")
def app_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test app (tests/clients/app and fhirclient's browser build) on its own origin."""
    folder = tmp_path_factory.mktemp("app")
    for page in (CLIENTS / "app").iterdir():
        shutil.copy(page, folder / page.name)
    built = CLIENTS / "node_modules" / "fhirclient" / "build" / "fhir-client.js"
    assert built.exists(), "npm ci in tests/clients first (./run tests does it)"
    shutil.copy(built, folder / "fhir-client.js")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, app_origin: str) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("smart-apps")
    with (
        database_url("sqlite", folder) as url,
        BenchServer(url, folder / "server.log", auth="required") as server,
    ):
        built = World(server, give_world_roles(url))
        with built.client("admin", "system/*.cruds") as admin:
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [_put(r) for r in world_resources()],
            }
            assert admin.post("", json=bundle).status_code == 200
        ehp("client", "register-app", "--database", url, "--client-id", "browser-app",
            "--redirect-uri", f"{app_origin}/index.html", "--launch-uri", f"{app_origin}/launch.html",
            "--scope", APP_SCOPE)  # fmt: skip
        for username, subject in (("pat-p", "Patient/pat-P"), ("doc-a", "Practitioner/doc-A")):
            ehp("user", "add", "--database", url, "--username", username, "--subject", subject,
                "--password", PASSWORD)  # fmt: skip
        yield built


def _run_app(
    start_url: str, username: str, pick: str | None = None, shots: str | None = None, locale: str = "en-US"
) -> dict[str, Any]:
    """Open the app in Chromium, log in at EHP's page (choosing ``pick`` in the picker if asked),
    and return what the app found. With ``shots``, the login and picker pages are photographed on
    a phone-sized window into ``test-artifacts/{shots}-*.png``."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            size = {"width": 390, "height": 844} if shots else {"width": 1280, "height": 800}
            page = browser.new_context(locale=locale, viewport=size).new_page()
            page.goto(start_url)
            page.wait_for_selector("input[name=username]", timeout=30_000)
            if shots:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"{shots}-login.png"), full_page=True)
                assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling"
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            if pick is not None:
                page.wait_for_selector(
                    f"form:has(input[name=patient][value='{pick}']) button", timeout=30_000
                )
                assert "pat-Q" not in page.content(), "the picker offers only patients with a legal basis"
                if shots:
                    page.screenshot(path=str(ARTIFACTS / f"{shots}-picker.png"), full_page=True)
                    assert page.evaluate("document.documentElement.scrollWidth") <= 390
                page.click(f"form:has(input[name=patient][value='{pick}']) button")
            page.wait_for_function("document.getElementById('result')?.textContent", timeout=60_000)
            result: dict[str, Any] = json.loads(page.text_content("#result") or "{}")
            return result
        finally:
            browser.close()


def test_a_citizen_launches_the_app_standalone(world: World, app_origin: str) -> None:
    found = _run_app(f"{app_origin}/launch.html?iss={world.server.base}", "pat-p")
    assert "error" not in found, found
    assert found["patientId"] == "pat-P" and found["patient"] == "pat-P"
    assert "obs-P" in found["observations"]
    assert found["fhirUser"] == "Patient/pat-P"
    assert found["idTokenSub"] == "Patient/pat-P"
    assert found["refreshed"] is True and found["afterRefresh"] == "pat-P"
    assert found["otherPatient"] == 404


def test_a_doctor_picks_the_patient_at_a_standalone_launch(world: World, app_origin: str) -> None:
    found = _run_app(
        f"{app_origin}/launch.html?iss={world.server.base}",
        "doc-a",
        pick="pat-P",
        shots="smart-kk",
        locale="kk-KZ",
    )
    assert "error" not in found, found
    assert found["patientId"] == "pat-P"
    assert found["observations"] == ["obs-P"], "P's PSY record stays closed to the doctor"
    assert found["fhirUser"] == "Practitioner/doc-A"
    assert found["refreshed"] is True
    assert found["otherPatient"] == 404, "the token opens the chosen patient only (doctor A may see K)"


def test_an_ehr_launch_from_the_passport_page(world: World, app_origin: str) -> None:
    doctor = {"Authorization": f"Bearer {world.token('Practitioner/doc-A', 'user/*.rs')}"}
    origin = world.server.base.removesuffix("/fhir")
    page = httpx.get(f"{origin}/passport/pat-P", headers=doctor)
    assert page.status_code == 200 and 'id="launch-browser-app"' in page.text
    started = httpx.post(f"{origin}/passport/pat-P/launch", data={"client_id": "browser-app"}, headers=doctor)
    assert started.status_code == 303, started.text[:300]
    assert started.headers["location"].startswith(f"{app_origin}/launch.html?iss=")
    found = _run_app(started.headers["location"], "doc-a")
    assert "error" not in found, found
    assert found["patientId"] == "pat-P" and found["observations"] == ["obs-P"]
    assert found["otherPatient"] == 404
    refused = httpx.post(f"{origin}/passport/pat-Q/launch", data={"client_id": "browser-app"}, headers=doctor)
    assert refused.status_code == 404, "no launch for a patient without a legal basis"


def test_cors_answers_registered_origins_only(world: World, app_origin: str) -> None:
    base = world.server.base
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = httpx.options(f"{base}/Patient", headers={"Origin": app_origin, **preflight})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == app_origin
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    other = httpx.options(f"{base}/Patient", headers={"Origin": "http://127.0.0.1:1", **preflight})
    assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
    discovery = httpx.get(f"{base}/.well-known/smart-configuration", headers={"Origin": "http://127.0.0.1:1"})
    assert discovery.headers["access-control-allow-origin"] == "*"
    assert discovery.json()["introspection_endpoint"].endswith("/auth/introspect")
