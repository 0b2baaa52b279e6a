"""Browser fixtures: Debian's Chromium driven by Playwright, never a downloaded browser."""

import contextlib
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def _orm_beside_playwright():
    """Playwright's sync API keeps an event loop running in the test thread, which makes
    Django refuse ORM calls there (SynchronousOnlyOperation). The test thread only talks
    to the database between browser steps, never concurrently, so allow it; module scope
    keeps it on until the database flush after each test, and restores it afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_orm_beside_playwright):
    if not CHROMIUM.exists():
        reason = f"the system Chromium is missing at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    yield context.new_page()
    context.close()


@contextlib.contextmanager
def screenshot_on_failure(page: Page, path: Path):
    try:
        yield
    except BaseException as error:
        page.screenshot(path=str(path), full_page=True)
        error.add_note(f"screenshot of the page at failure: {path} ({page.url})")
        raise


def card_fill(page: Page, number: str = "4242 4242 4242 4242") -> None:
    """Pay with a test card, as a shopper types it into the test provider's fields."""
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry (MM/YY)").fill("12/39")
    page.get_by_label("Security code (CVC)").fill("123")
