"""Headless Chromium for the tests marked ``browser``: Debian's ``chromium`` driven through
Debian's ``chromedriver`` (both installed by scripts/ensure-chromium.sh), never a
downloaded browser.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # the tests may run as root (CI)
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    # no connections of its own: the machine may have no network at all
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
MAX_SHOT_HEIGHT = 4000


def _missing() -> None:
    message = f"{CHROMIUM} or {CHROMEDRIVER} missing: run scripts/ensure-chromium.sh (as root) to install them"
    if os.environ.get("CI", "").lower() in ("1", "true"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile, closed (and its profile deleted) after."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        _missing()
    # The explicit Service path already keeps Selenium Manager from running; should it run
    # anyway, offline mode stops it downloading a driver or browser (or sending its stats).
    os.environ["SE_OFFLINE"] = "true"
    profile = tempfile.mkdtemp(prefix="rhom-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    except BaseException:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    try:
        driver.implicitly_wait(5)  # find_element waits for a page that is still loading
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: webdriver.Chrome, name: str) -> Path | None:
    """Save the page as ``<name>.png`` in ``$RHOM_SCREENSHOTS`` when it is set (the whole
    page, up to 4,000 px high); return the file, or ``None`` when not asked for."""
    folder = os.environ.get("RHOM_SCREENSHOTS")
    if not folder:
        return None
    target = Path(folder) / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page = int(driver.execute_script("return document.documentElement.scrollHeight"))
    # Headless Chromium's window is taller than the page's viewport (by 143 px in Chromium 156):
    # grow the window by that much more, or the shot misses the bottom of the page.
    frame = int(driver.execute_script("return window.outerHeight - window.innerHeight"))
    size = driver.get_window_size()
    driver.set_window_size(size["width"], min(page, MAX_SHOT_HEIGHT) + frame)
    try:
        driver.save_screenshot(str(target))
    finally:
        driver.set_window_size(size["width"], size["height"])
    return target
