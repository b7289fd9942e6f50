"""What the UI tests share: the browser (headless Debian chromium through the system
chromedriver, skipped with the reason when either is missing), a LocalCluster, the UI
served for it with the tests' token (``uikit.TOKEN``) and an HTTP client on it. The
constants and waits they share are in ``uikit.py``.

A test module overrides ``ui`` when its server needs more (dashboards, a topology
submitted first); ``client`` and ``api`` then serve that one.
"""

from __future__ import annotations

import pytest

from tests.ui.uikit import CHROMEDRIVER, CHROMIUM, TOKEN


@pytest.fixture(scope="module")
def browser():
    """Headless chromium, one per test module."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def cluster():
    from squall.runtime import LocalCluster

    with LocalCluster() as c:
        yield c


@pytest.fixture
def ui(cluster):
    """The UI of ``cluster`` on a free loopback port, actions with :data:`TOKEN`."""
    from squall.ui import serve

    with serve(cluster, port=0, token=TOKEN) as server:
        yield server


@pytest.fixture
def client(ui):
    """An HTTP client on ``ui``'s address."""
    httpx = pytest.importorskip("httpx")
    with httpx.Client(base_url=ui.url) as c:
        yield c


@pytest.fixture
def api(client):
    """``client`` under the name the browser tests use for it."""
    return client
