"""Pages in a real headless Chromium (Debian's chromium driven by Playwright): the QR team
sheet a koordinator prints, whose codes are scanned from the screenshot with zbar.
Screenshots go to the test's directory, and to VERIVALI_SCREENSHOT_DIR when set
(docs/screenshots/ is made that way)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import IN_CI, PASSWORD, Seed
from test_assignments import give, make_list, set_up_field
from werkzeug.serving import make_server

from server.assignments.provisioning import unpack
from server.models import User

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ZBARIMG = shutil.which("zbarimg")
pytestmark = pytest.mark.browser
if CHROMIUM is None and not IN_CI:
    pytest.skip("Debian's chromium is not installed (CI installs it)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")

NAMES = {"pencacah1": "Siti Rahmawati", "pencacah2": "Agus Prasetyo", "pencacah3": "Dewi Lestari"}


@pytest.fixture
def field(svc, seed: Seed, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Registry, teams and enumerators (with display names) as in test_assignments."""
    ready = set_up_field(svc, seed, tmp_path)
    with ready.db.transaction() as session:
        for user in session.query(User).filter(User.username.in_(list(NAMES))):
            user.display_name = NAMES[user.username]
    return ready


@contextmanager
def serving(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a loopback port, served by a thread; its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def live(field, app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The test app on a loopback port, served by a thread."""
    with serving(app) as url:
        yield url


def shoot(page, tmp_path: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("VERIVALI_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def check_codes_scan(shot: Path, seed: Seed) -> None:
    """Both codes in the screenshot scan (zbar, as a phone camera would) to Collect settings."""
    if ZBARIMG is None and not IN_CI:
        return  # zbar-tools is a CI dependency; without it locally the payload test suffices
    done = subprocess.run(
        [ZBARIMG or "zbarimg", "--quiet", "--raw", str(shot)],
        capture_output=True,
        text=True,
        check=False,
    )
    payloads = done.stdout.split()
    assert len(payloads) == 2, done.stderr
    for payload in payloads:
        settings = unpack(payload)
        assert f"/projects/{seed.project_id}" in settings["general"]["server_url"]
        assert "/v1/key/" in settings["general"]["server_url"]
        assert "password" not in settings["general"]
        assert settings["project"]["name"] == "Kota Malang"


def sign_in_page(page, target: str, username: str) -> None:  # type: ignore[no-untyped-def]
    """Open a page, sign in on the login page it leads to, and come back to it."""
    page.goto(target)
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_load_state()


def signed_in_page(browser, target: str, username: str):  # type: ignore[no-untyped-def]
    """A 1280x800 Indonesian page signed in and on `target`, and the script errors it sees."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, device_scale_factor=1, locale="id-ID"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in_page(page, target, username)
    page.wait_for_url(target)
    return page, errors


def test_team_sheet_in_chromium(live: str, field, seed: Seed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The koordinator signs in, sees one QR card per member, and it prints."""
    make_list(field, seed, kecamatan=("357304",))
    give(field, seed, "pencacah1", 6)
    give(field, seed, "pencacah2", 5)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(
                viewport={"width": 1000, "height": 700}, device_scale_factor=2, locale="id-ID"
            )
            page = context.new_page()
            sheet = f"{live}/projects/{seed.project_id}/teams/sheet"
            sign_in_page(page, sheet, "koordinator1")
            assert page.url == sheet
            cards = page.locator("article.card")
            assert cards.count() == 2
            assert page.locator("article.card svg").count() == 2
            assert cards.nth(0).inner_text().count("rumah tangga sasaran") == 1
            assert "Siti Rahmawati" in page.inner_text("body")
            assert PASSWORD not in page.content()
            shot = shoot(page, tmp_path, "team_sheet.png")
            page.emulate_media(media="print")
            assert page.locator("button").is_hidden()
            shoot(page, tmp_path, "team_sheet_print.png")
            check_codes_scan(shot, seed)
            denied = browser.new_context().new_page()
            sign_in_page(denied, sheet, "pencacah1")
            refused = denied.goto(sheet)
            assert refused is not None and refused.status == 404
        finally:
            browser.close()
