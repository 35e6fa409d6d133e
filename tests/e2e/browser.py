"""Real-browser checks of a served JupyterLab, driven through Playwright.

Playwright's Python wheel bundles its own driver, but no browser: the browser is
the system Chromium (Debian's ``chromium`` package), never one fetched by
``playwright install``.  Set ``NBSHIP_CHROMIUM`` to point at another binary.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

__all__ = [
    "CHROMIUM_ARGS",
    "LabPageError",
    "find_chromium",
    "visible_file_names",
]

# Without the background-networking flags, Chromium's own traffic on these
# machines ends in connections refused en masse; the rest keep it quiet and
# GPU-free.  The profile dir is a fresh temporary one per launch (see below).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

# One listing row of JupyterLab 4's file browser, and the name inside it.
ITEM_SELECTOR = ".jp-FileBrowser .jp-DirListing-content .jp-DirListing-item"
NAME_SELECTOR = ".jp-DirListing-itemText"
# Jupyter Server's login page (what a missing or wrong token leads to).
LOGIN_SELECTOR = "input[name='password']"

_CANDIDATES: tuple[str, ...] = ("/usr/bin/chromium", "chromium", "chromium-browser")


class LabPageError(RuntimeError):
    """JupyterLab's file browser did not render in the browser."""

    def __init__(self, reason: str, *, url: str, title: str) -> None:
        self.reason = reason
        self.url = url
        self.title = title
        super().__init__(f"{reason} (page title: {title!r}, page URL: {url})")


def find_chromium() -> str:
    """Return the Chromium binary to drive: ``$NBSHIP_CHROMIUM`` or the system one."""
    override = os.environ.get("NBSHIP_CHROMIUM")
    if override:
        if not os.access(override, os.X_OK):
            raise FileNotFoundError(f"NBSHIP_CHROMIUM={override!r} is not an executable file")
        return override
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError(
        "no Chromium found (tried /usr/bin/chromium, chromium, chromium-browser); "
        "install Debian's 'chromium' package or set NBSHIP_CHROMIUM"
    )


def _redact(url: str) -> str:
    """Drop the query string (it carries the token) from a URL meant for messages."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "<query hidden>", parts.fragment))


def _page_title(page: Page) -> str:
    try:
        return page.title()
    except PlaywrightError:
        return "<unavailable>"


def _remaining_ms(deadline: float) -> float:
    # Playwright treats 0 as "no timeout": keep every wait strictly bounded.
    return max(1.0, (deadline - time.monotonic()) * 1000.0)


def _save_screenshot(page: Page, screenshot: Path | None, *, best_effort: bool) -> None:
    if screenshot is None:
        return
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(screenshot), full_page=False)
    except PlaywrightError:
        if not best_effort:
            raise


def _fail(page: Page, screenshot: Path | None, reason: str) -> LabPageError:
    _save_screenshot(page, screenshot, best_effort=True)
    return LabPageError(reason, url=_redact(page.url), title=_page_title(page))


def _read_listing(page: Page, lab_url: str, deadline: float, screenshot: Path | None) -> list[str]:
    try:
        response = page.goto(lab_url, wait_until="domcontentloaded", timeout=_remaining_ms(deadline))
    except PlaywrightError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        first_line = first_line.replace(lab_url, _redact(lab_url))
        raise _fail(page, screenshot, f"could not load {_redact(lab_url)}: {first_line}") from exc
    if response is not None and response.status >= 400:
        raise _fail(page, screenshot, f"{_redact(lab_url)} answered HTTP {response.status}")

    # Wait for whichever comes first: a listing row, or the login form that a
    # bad token leads to (so a wrong token fails at once, not after the timeout).
    try:
        page.wait_for_selector(f"{ITEM_SELECTOR}, {LOGIN_SELECTOR}", state="visible", timeout=_remaining_ms(deadline))
    except PlaywrightError as exc:
        has_browser = page.locator(".jp-FileBrowser").count() > 0
        what = "its listing stayed empty" if has_browser else "no file browser appeared"
        raise _fail(
            page,
            screenshot,
            f"JupyterLab's file browser did not render ({what}) within the timeout",
        ) from exc

    if page.locator(LOGIN_SELECTOR).count() > 0 and page.locator(ITEM_SELECTOR).count() == 0:
        raise _fail(page, screenshot, "Jupyter showed its login page: the token was missing or rejected")

    names = [text.strip() for text in page.locator(f"{ITEM_SELECTOR} {NAME_SELECTOR}").all_inner_texts()]
    _save_screenshot(page, screenshot, best_effort=False)
    return [name for name in names if name]


def visible_file_names(
    lab_url: str,
    *,
    timeout_s: float = 60.0,
    screenshot: Path | None = None,
    chromium: str | None = None,
) -> list[str]:
    """Open ``lab_url`` (with its ``?token=...``) in headless Chromium and return
    the names that JupyterLab's file browser lists, in display order.

    Waits at most ``timeout_s`` seconds in all for the listing to render; saves a
    PNG to ``screenshot`` when given (also on failure, as far as possible).
    Raises :class:`LabPageError`, naming the page's title and URL, when the
    listing never renders or Jupyter asks for a login instead.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    executable = chromium if chromium is not None else find_chromium()
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory(prefix="nbship-chromium-") as profile, sync_playwright() as pw:
        # A persistent context is how Playwright takes an explicit --user-data-dir;
        # the directory is new for every call and removed afterwards.
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": 1280, "height": 800},
            timeout=_remaining_ms(deadline),
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            return _read_listing(page, lab_url, deadline, screenshot)
        finally:
            context.close()
