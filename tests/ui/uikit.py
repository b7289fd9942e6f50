"""Constants and waits the UI tests share (their fixtures are in ``conftest.py``)."""

from __future__ import annotations

import shutil
import time

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HANG_GUARD_S = 60.0     # only fails a test that would otherwise hang


def eventually(check, what, guard_s=HANG_GUARD_S, every_s=0.02):
    """``check()``'s first truthy value, polled every ``every_s`` seconds; fails after
    ``guard_s`` seconds instead of hanging."""
    deadline = time.monotonic() + guard_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(every_s)
    return result


def until(browser, check, what, guard_s=HANG_GUARD_S):
    """``check(browser)``'s first truthy value; fails after ``guard_s`` seconds instead of hanging."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, guard_s, poll_frequency=0.05).until(
        lambda d: check(d), message=f"never happened: {what}")


def freeze(client, handle, spout="numbers", sink="sink"):
    """Deactivate ``handle``'s topology over HTTP and wait until its figures stop moving:
    every tree done, the runtime's counters still, and the UI's answers showing them
    (the UI reads snapshots at most ``refresh_s`` old)."""
    name = handle.name
    assert client.post(f"/api/v1/topology/{name}/deactivate", headers=AUTH).status_code == 200
    eventually(lambda: client.get(f"/api/v1/topology/{name}").json()["status"] == "INACTIVE",
               "the topology shows as deactivated")
    eventually(lambda: handle.worker.in_flight() == 0, "the trees in flight complete")
    before = handle.stats()
    eventually(lambda: handle.stats()[sink].executed == before[sink].executed
               and handle.stats()[spout].acked == before[spout].acked, "the counters settle")

    def shown():
        page = client.get(f"/api/v1/topology/{name}").json()
        bolts = {b["boltId"]: b for b in page["bolts"]}
        return (page["spouts"][0]["acked"], bolts[sink]["executed"]) == (before[spout].acked, before[sink].executed)
    eventually(shown, "the UI's answers show the settled counters")
