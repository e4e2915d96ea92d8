"""Browser tests: Debian's Chromium (/usr/bin/chromium) driven by Playwright against
pytest-django's live server. No browser is downloaded.

Playwright's sync API keeps an event loop in the test thread, so Django's guard against
ORM calls from async code is lifted for these tests only (the ORM calls are synchronous).
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-pass-2026"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


# One Playwright and one Chromium for the whole run, however many modules use the
# ``browser`` fixture (a second sync Playwright in the same thread refuses to start).
_RUNNING: dict = {}


def _chromium():
    if "browser" not in _RUNNING:
        if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
            pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM}")
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        _RUNNING["playwright"] = playwright
        _RUNNING["browser"] = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
    return _RUNNING["browser"]


def pytest_sessionfinish(session, exitstatus):
    if "browser" in _RUNNING:
        _RUNNING.pop("browser").close()
        _RUNNING.pop("playwright").stop()


@pytest.fixture(scope="session")
def browser():
    return _chromium()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, locale="en-US", base_url=live_server.url
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("button[type=submit].btn-primary")
    page.wait_for_url("**/")
