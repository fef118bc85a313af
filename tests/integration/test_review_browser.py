"""The review pages in a real headless Chromium (Debian's chromium, driven by Playwright), on
the demo's data: sign in, filter the queue, open a flagged submission, return it for a
revisit (and see the household back on the enumerator's phone over OpenRosa), approve
another and export the approved results; the dashboard; a designer publishing a broken,
then a good XLSForm. Screenshots of the queue, the detail page, the dashboard and the
refused form go to the test's directory, and to VERIVALI_SCREENSHOT_DIR when set
(docs/screenshots/ is made that way)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from collect import CollectClient, WsgiTransport
from conftest import IN_CI, PASSWORD, ROOT
from sqlalchemy import select
from test_assignments import rows
from test_pages_browser import CHROMIUM, serving, shoot, signed_in_page

from server.accounts import queries as account_queries
from server.assignments.models import Target
from server.demo import load_demo
from server.models import Submission, User
from server.registry.regions import do_load_regions

pytestmark = pytest.mark.browser
if CHROMIUM is None and not IN_CI:
    pytest.skip("Debian's chromium is not installed (CI installs it)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def demo(svc) -> int:  # type: ignore[no-untyped-def]
    """The demo project with its checked submissions; every demo password is PASSWORD."""
    with svc.db.transaction() as session:
        do_load_regions(session, within="3573")
        summary = load_demo(svc, session, ROOT / "forms")
        for user in session.scalars(select(User)):
            user.password_hash = None
        session.flush()
        from server.accounts import service as accounts

        for user in session.scalars(select(User)):
            accounts.do_set_password(session, user, PASSWORD, svc.settings.realm)
    return summary.project_id


@pytest.fixture
def live(demo, app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a loopback port, served by a thread."""
    with serving(app) as url:
        yield url


def _phone_list(app, svc, project_id: int, username: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The households on an enumerator's phone, as Collect downloads them."""
    with svc.db.sessions() as session:
        user = account_queries.user_by_username(session, username)
        token = user.token if user else None
    phone = CollectClient(
        WsgiTransport(app), f"http://localhost/v1/key/{token}/projects/{project_id}"
    )
    form = next(f for f in phone.download_all() if f.form_id == "verval_ruta")
    return rows(form.media_bytes["sasaran.csv"])


def test_a_koordinator_reviews_in_chromium(live: str, demo: int, app, svc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Sign in, filter, open a flagged one, return it, approve a clean one, export approved."""
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page, errors = signed_in_page(
                browser, f"{live}/projects/{demo}/reviews", "koordinator1"
            )
            assert "Antrean pemeriksaan" in page.inner_text("h1")
            shoot(page, tmp_path, "review_queue.png")

            page.click("nav.tabs a[data-state=hasIssues]")
            page.wait_for_url("**state=hasIssues**")
            page.select_option("select[name=sort]", "severity")
            page.click("form.filters button")
            page.wait_for_url("**sort=severity**")
            flagged = page.locator("table.queue tbody tr")
            assert flagged.count() > 0
            assert all("Bermasalah" in flagged.nth(i).inner_text() for i in range(flagged.count()))
            # A flagged visit of a listed household (a duplicate's second visit is not one).
            with svc.db.sessions() as session:
                visited = set(session.scalars(select(Target.submission_id)))
            shown = [int(t.lstrip("#")) for t in flagged.locator("td a").all_inner_texts()]
            sid = next(s for s in shown if s in visited)
            page.click(f"table.queue a:text-is('#{sid}')")
            page.wait_for_url(f"**/submissions/{sid}")
            assert page.locator("article.flag").count() > 0
            assert page.locator("section.answers h2").count() == 1
            assert not re.search(r"(?<![0-9])[0-9]{16}(?![0-9])", page.content())
            # The map is drawn from our own Leaflet, without tiles: point, centroid, distance.
            page.wait_for_selector(".map.map-live .leaflet-interactive")
            assert page.locator(".map .map-distance").count() == 1
            shoot(page, tmp_path, "review_detail.png")

            with svc.db.sessions() as session:
                target = session.scalar(select(Submission.submitter_id).where(Submission.id == sid))
                username = session.scalar(select(User.username).where(User.id == target))
            page.click("text=Kembalikan untuk kunjungan ulang")
            page.fill("form[action$='/revisit'] textarea", "Foto rumah buram, mohon ulangi")
            page.click("form[action$='/revisit'] button")
            page.wait_for_selector("p.notice")
            assert "kunjungan ulang" in page.inner_text("p.notice")
            listed = _phone_list(app, svc, demo, username or "")
            assert any("Foto rumah buram, mohon ulangi" in str(row) for row in listed)

            page.goto(f"{live}/projects/{demo}/reviews?state=received")
            clean = page.locator("table.queue tbody tr a").first
            clean_id = int(clean.inner_text().lstrip("#"))
            clean.click()
            page.wait_for_url(f"**/submissions/{clean_id}")
            page.click("section.actions button.primary")
            page.wait_for_selector("p.notice")
            assert "Disetujui" in page.inner_text("p.facts")

            page.goto(f"{live}/projects/{demo}/reviews")
            with page.expect_download() as download:
                page.click("button[data-export='approved.csv']")
            saved = tmp_path / "approved.csv"
            download.value.save_as(saved)
            exported = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
            assert clean_id in {int(row["submission_id"]) for row in exported}
            assert all(
                row["nik_field"] or row["nik_registry"] or not row["name"] for row in exported
            )
            assert not errors, errors
        finally:
            browser.close()


def test_a_koordinator_reads_the_dashboard_in_chromium(
    live: str, demo: int, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The dashboard draws its bars and day chart, and a rule's bar opens the filtered queue."""
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page, errors = signed_in_page(
                browser, f"{live}/projects/{demo}/dashboard", "koordinator1"
            )
            assert "Dasbor" in page.inner_text("h1")
            assert page.locator("table.bars .stack .seg").count() > 0
            assert page.locator("svg.chart rect.col").count() == 30
            assert page.locator("table.cards tbody tr").count() == 2
            shoot(page, tmp_path, "dashboard.png")

            bar = page.locator("a.hbar").first
            rule = bar.get_attribute("data-rule")
            bar.click()
            page.wait_for_url(f"**/reviews?rule={rule}")
            assert page.locator("table.queue tbody tr a").count() > 0
            assert not errors, errors
        finally:
            browser.close()


BROKEN_FORM = (
    "| survey |\n| | type | name | label |\n| | text | nama | Nama |\n| | tex | umur | Umur |\n"
    "| settings |\n| | form_id |\n| | uji_rusak |\n"
)
GOOD_FORM = (
    "| survey |\n| | type | name | label |\n| | text | nama | Nama |\n| | integer | umur | Umur |\n"
    "| settings |\n| | form_id | version |\n| | uji_baik | 2026112401 |\n"
)


def test_a_designer_publishes_in_chromium(live: str, demo: int, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A broken XLSForm shows pyxform's sheet and row; a good one is published and listed."""
    broken, good = tmp_path / "uji_rusak.md", tmp_path / "uji_baik.md"
    broken.write_text(BROKEN_FORM, encoding="utf-8")
    good.write_text(GOOD_FORM, encoding="utf-8")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            forms = f"{live}/projects/{demo}/forms"
            page, errors = signed_in_page(browser, forms, "desainer")
            assert page.locator("tr[data-form=verval_ruta]").count() == 1
            page.set_input_files("input[name=xlsform]", str(broken))
            page.click("button.primary")
            page.wait_for_load_state()
            text = page.inner_text("main")
            assert "Tidak ada yang diterbitkan" in text and "tex" in text
            shoot(page, tmp_path, "form_refused.png")
            page.set_input_files("input[name=xlsform]", str(good))
            page.click("button.primary")
            page.wait_for_url("**/forms/uji_baik")
            assert "2026112401" in page.inner_text("main")
            shoot(page, tmp_path, "form_published.png")
            assert not errors, errors
        finally:
            browser.close()
