"""Helpers for the browser tests: launching Debian's chromium and keeping screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A first launch on a fresh machine has been seen to hang; 30 s and one more try, then fail.
LAUNCH_TIMEOUT_MS = 30_000
LAUNCH_ATTEMPTS = 2
# Pages answer in well under a second; waiting longer only slows down a failing run.
ACTION_TIMEOUT_MS = 10_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def chromium_required() -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Debian's chromium is missing at {CHROMIUM}: run `make services` "
            "(scripts/ensure-chromium.sh installs it with apt)",
            pytrace=False,
        )


@contextmanager
def chromium_context(
    playwright: Playwright, profile_root: Path, *, javascript: bool, locale: str = "ru-RU"
) -> Iterator[BrowserContext]:
    """A headless chromium with a fresh user-data directory; JavaScript on or off for the whole context."""
    chromium_required()
    failures: list[str] = []
    context: BrowserContext | None = None
    for attempt in range(1, LAUNCH_ATTEMPTS + 1):
        try:
            context = playwright.chromium.launch_persistent_context(
                str(profile_root / f"profile-{attempt}"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                timeout=LAUNCH_TIMEOUT_MS,
                java_script_enabled=javascript,
                locale=locale,
                viewport={"width": 1280, "height": 900},
            )
            break
        except PlaywrightError as error:
            failures.append(f"attempt {attempt}: {error.message.splitlines()[0]}")
    if context is None:
        pytest.fail("chromium did not start: " + "; ".join(failures), pytrace=False)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


class Screenshots:
    """Full-page screenshots under test-artifacts/screenshots/<series>/, numbered in the order taken."""

    def __init__(self, series: str) -> None:
        self.folder = SCREENSHOTS / series
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.taken: list[Path] = []

    def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000, path  # an image of a page, not an empty file
        self.taken.append(path)
        return path
