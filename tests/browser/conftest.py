"""Browser fixtures: Debian's Chromium driven by Playwright, never a downloaded browser."""

import contextlib
import os
import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The journeys' screenshots, one folder per test (kept out of git by .gitignore).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The viewports a journey is walked at: a phone and a laptop.
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}

# Visible text past the right edge of the window (a table's clipped last column).
CLIPPED = """[...document.querySelectorAll("main td, main th, main p, main a, main button")]
  .filter(e => e.offsetParent !== null && e.getBoundingClientRect().width > 1)
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .map(e => e.textContent.trim().slice(0, 30))"""


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


class Journey:
    """One person's way through the store in one browser page. Every `step` is
    screenshotted under test-artifacts/ and must hold what a finished page holds: no
    sideways scrolling or text cut off at the edge, no serious or critical axe-core
    violation, no console error and no failed request since the last step."""

    _axe = Axe()

    def __init__(self, page: Page, name: str, viewport: dict, *, axe_exclude: str = ""):
        self.page, self.count = page, 0
        # A part of the page that is not the store's (a payment provider's card field).
        self.axe_context = {"exclude": [[axe_exclude]]} if axe_exclude else None
        self.folder = ARTIFACTS / re.sub(r"[^\w.-]+", "-", name).strip("-")
        self.folder.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size(viewport)
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _console(self, message) -> None:
        # Chromium also logs each 4xx/5xx answer as an error: _response judges those.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console error: {message.text}")

    def _request_failed(self, request) -> None:
        # A request the browser dropped because the page moved on (the favicon of a page
        # left by a form's redirect) is the browser's choice, not the store failing.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response) -> None:
        # A form answered with its errors (400) is the page working; anything else that
        # fails, or a file the page needs that is missing, is not.
        document = response.request.resource_type == "document"
        if response.status >= 500 or (response.status >= 400 and not document):
            self.problems.append(f"{response.status} for {response.url}")

    def expected_failure(self) -> None:
        """The last request failed on purpose (a card declined by the provider)."""
        self.problems.clear()

    def step(self, name: str) -> None:
        self.count += 1
        width = self.page.viewport_size["width"]
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)
        assert self.page.evaluate("document.documentElement.scrollWidth") <= width, (
            f"{name} scrolls sideways at {width} px"
        )
        clipped = self.page.evaluate(CLIPPED)
        assert clipped == [], f"{name} at {width} px cuts off {clipped}"
        violations = [
            f"{v['id']} ({v['impact']}): {v['help']}"
            for v in self._axe.run(self.page, context=self.axe_context).response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert violations == [], f"{name}: axe finds {violations}"
        problems, self.problems = self.problems, []
        assert problems == [], f"{name}: {problems}"
