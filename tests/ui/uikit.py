"""Constants and waits the UI tests share (their fixtures are in ``conftest.py``)."""

from __future__ import annotations

import shutil
import time

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HANG_GUARD_S = 60.0     # only fails a test that would otherwise hang


def eventually(check, what, guard_s=HANG_GUARD_S):
    """``check()``'s first truthy value, polled every 20 ms; fails after ``guard_s`` seconds
    instead of hanging."""
    deadline = time.monotonic() + guard_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)
    return result


def until(browser, check, what, guard_s=HANG_GUARD_S):
    """``check(browser)``'s first truthy value; fails after ``guard_s`` seconds instead of hanging."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, guard_s, poll_frequency=0.05).until(
        lambda d: check(d), message=f"never happened: {what}")
