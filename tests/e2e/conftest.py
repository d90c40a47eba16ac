"""Browser fixtures: Debian's chromium driven by Playwright's sync API against ``live_server``.

Playwright is never allowed to download a browser; the ``chromium`` gate in tests/conftest.py
skips (or, with CI=true, fails) these tests when /usr/bin/chromium is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Fail fast: every page here renders in well under a second on a laptop.
TIMEOUT_MS = 5_000


@pytest.fixture(autouse=True)
def _allow_orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's sync API keeps an asyncio loop running in this thread, so Django's
    # async-safety guard would refuse the ORM calls the test makes (factories, DB checks).
    # monkeypatch restores the environment after each test: only these tests relax the guard.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser(chromium: str, _allow_orm_beside_playwright: None) -> Iterator[object]:
    # Imported here so that collecting the rest of the suite never needs Playwright.
    from playwright.sync_api import sync_playwright

    # Function scope on purpose: a running Playwright loop left over after these tests would
    # make every later ORM call in the session raise SynchronousOnlyOperation.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's loop runs, Django keys connections by async context, so ORM
            # calls made by the test opened a connection of their own: close it here, in that
            # context, or it outlives the test and blocks dropping the test database.
            from django.db import connections

            connections.close_all()


@contextmanager
def browser_page(browser, live_server) -> Iterator[object]:
    """A desktop-sized page in a context of its own (cookies, storage); uncaught JavaScript
    errors fail the test. One per person in a test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    if js_errors:
        pytest.fail(f"JavaScript errors on the page: {js_errors}", pytrace=False)


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    """A fresh desktop-sized page."""
    with browser_page(browser, live_server) as page:
        yield page


@pytest.fixture
def screenshot(page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``screenshot("03-finding-added")`` saves a full-page PNG named after the test and step."""
    SCREENSHOTS.mkdir(exist_ok=True)
    prefix = request.node.name

    def take(step: str) -> Path:
        path = SCREENSHOTS / f"{prefix}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def log_in(page) -> Callable[[str, str], None]:
    """Log in through the real form, as a person would."""

    def submit(username: str, password: str) -> None:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)

    return submit
