"""The demo page in a real browser: headless Chromium (Debian's, driven by Playwright) against the real
server and model process on the tiny trained version. Pick a user, see their history and
recommendations, build a session, record an event and see the lists change, see the version's report.

Chromium comes from Debian's package: found on the PATH, or installed with apt-get where the test runs
as root (CI); elsewhere the test skips and says why. The screenshot is written to the test's tmp dir,
and to $RECSYS_SCREENSHOT when set (the README's docs/page.png comes from this test)."""

import os
import shutil
import subprocess

import httpx
import pytest

from tests.serving import running_server

TOKEN = "browser-test-events-token-01234"
# Without the background-networking flags Chromium keeps calling Google's hosts, which this closed
# network refuses; --no-sandbox because CI runs as root.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]


def system_chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            done = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=environment)
            if done.returncode != 0:
                pytest.skip(f"Chromium could not be installed ({' '.join(command)}: {done.stderr[-500:]})")
        if found := shutil.which("chromium"):
            return found
    pytest.skip("no Chromium here, and it can only be installed as root with apt-get (CI does)")


@pytest.fixture(scope="module")
def browser():
    executable = system_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def _ids(page, list_id: str) -> list[str]:
    return page.eval_on_selector_all(f"#{list_id} li", "lines => lines.map(line => line.dataset.itemId)")


def test_the_page_shows_a_user_a_session_an_event_and_the_report(browser, trained_version, tmp_path):
    with running_server(trained_version.parent, demo_page="true", events_token=TOKEN,
                        events_url=f"sqlite:///{tmp_path}/events.db") as server:
        popular = httpx.get(f"{server.url}/items", params={"limit": 3}).json()["items"]
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        failed = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.goto(f"{server.url}/")
        page.wait_for_function("document.getElementById('version').textContent === 'tiny-1'")

        # A user: the first example, their history and recommendations.
        page.locator("#example-links button").first.click()
        page.wait_for_function("document.querySelectorAll('#recommendations li').length === 10")
        user = page.input_value("#user-input")
        assert user and page.locator("#history li").count() >= 1
        assert page.locator("#history li .title").first.inner_text().strip()  # titles, not ids alone
        assert "strategy: personalized" in page.inner_text("#strategy")
        before = _ids(page, "recommendations")

        # The session playground: search a title, click two items, the next items follow each click.
        page.fill("#search-input", popular[0]["title"])
        page.wait_for_function("document.querySelectorAll('#search-results li').length >= 1")
        page.locator("#search-results li button").first.click()
        page.wait_for_function("document.querySelectorAll('#session-next li').length === 10")
        first_next = _ids(page, "session-next")
        page.locator("#session-next li button").first.click()
        page.wait_for_function("document.querySelectorAll('#session-items span').length === 2")
        page.wait_for_function(f"JSON.stringify([...document.querySelectorAll('#session-next li')]"
                               f".map(li => li.dataset.itemId)) !== '{_json(first_next)}'")

        # An event: with the token, buy the top recommendation; it leaves the list and heads the history.
        page.click("#events-box summary")
        page.fill("#token-input", TOKEN)
        page.wait_for_selector("#recommendations li button[data-event=purchase]")
        page.locator("#recommendations li button[data-event=purchase]").first.click()
        page.wait_for_function(f"document.querySelector('#recommendations li').dataset.itemId !== '{before[0]}'")
        assert before[0] not in _ids(page, "recommendations")
        assert _ids(page, "history")[0] == before[0]
        assert page.locator("#history li").first.locator(".badge").inner_text() == "event"
        assert "logged:" in page.inner_text("#user-message")

        # The report: a table per task with the served row marked, and both plots loaded.
        assert page.locator("#metrics table").count() == 3 and page.locator("#metrics tr.served").count() == 3
        page.wait_for_function("['plot-metrics', 'plot-curves'].every(id => document.getElementById(id).complete "
                               "&& document.getElementById(id).naturalWidth > 0)")
        assert not failed, failed

        page.fill("#search-input", "")
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        if os.environ.get("RECSYS_SCREENSHOT"):
            shutil.copy(tmp_path / "page.png", os.environ["RECSYS_SCREENSHOT"])
        page.close()


def _json(ids: list[str]) -> str:
    import json

    return json.dumps(ids, separators=(",", ":")).replace("'", "\\'")
