"""The UI's pages in a real browser (headless Debian chromium driven by selenium through
the system chromedriver), against a topology running on a LocalCluster: the topology
listed on ``/``, its page's figures growing live without a reload, and the actions'
buttons with the right and a wrong token."""

from __future__ import annotations

import pytest

pytest.importorskip("selenium.webdriver")
pytest.importorskip("squall.ui")

from selenium.webdriver.common.by import By

from squall import Bolt, TopologyBuilder
from squall.config import MAX_SPOUT_PENDING
from squall.ui import serve
from tests.ui.ui_topos import Numbers
from tests.ui.uikit import TOKEN, until

TOPOLOGY = "endless"


class Check(Bolt):
    """Acks every number; reports an error for each multiple of 500."""

    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def process(self, tup):
        if tup.values[0] % 500 == 0:
            self.collector.report_error(ValueError(f"bad number {tup.values[0]}"))
        self.collector.emit([tup.values[0]], anchors=[tup])
        self.collector.ack(tup)


class Sink(Bolt):
    def process(self, tup):
        self.collector.ack(tup)


def _topology():
    b = TopologyBuilder()
    b.set_spout("numbers", Numbers(0.001))
    b.set_bolt("check", Check(), parallelism=2).shuffle_grouping("numbers")
    b.set_bolt("sink", Sink()).shuffle_grouping("check")
    return b.build()


@pytest.fixture
def ui(cluster):
    cluster.submit_topology(TOPOLOGY, {MAX_SPOUT_PENDING: 64}, _topology())
    with serve(cluster, port=0, token=TOKEN) as server:
        yield server


def _cell(browser, table, row, field):
    """The text of a table cell, or None while the row is not drawn yet."""
    cells = browser.find_elements(By.CSS_SELECTOR, f'#{table} tr[data-id="{row}"] td[data-field="{field}"]')
    return cells[0].text if cells else None


def _number(browser, table, row, field):
    text = _cell(browser, table, row, field)
    return int(text) if text else None


def _open_topology(browser, ui):
    browser.get(f"{ui.url}/topology.html?id={TOPOLOGY}")
    until(browser, lambda d: _cell(d, "summary", "0", "status") == "ACTIVE", "the page shows ACTIVE")


def test_index_lists_the_topology_and_links_to_its_page(browser, ui):
    browser.get(ui.url + "/")
    until(browser, lambda d: _cell(d, "topologies", TOPOLOGY, "status") == "ACTIVE",
           "the topology is listed as ACTIVE")
    assert _cell(browser, "topologies", TOPOLOGY, "executorsTotal") == "4"
    assert _cell(browser, "cluster", "0", "supervisors") == "1"
    browser.find_element(By.CSS_SELECTOR, f'#topologies tr[data-id="{TOPOLOGY}"] a').click()
    until(browser, lambda d: d.current_url == f"{ui.url}/topology.html?id={TOPOLOGY}",
           "the link opens the topology's page")
    until(browser, lambda d: _cell(d, "summary", "0", "name") == TOPOLOGY, "the page names it")


def test_topology_page_figures_grow_without_a_reload(browser, ui, api):
    _open_topology(browser, ui)
    acked = until(browser, lambda d: _number(d, "spouts", "numbers", "acked"), "acked trees show")
    # Read from the API after the page: the page can only be behind it.
    assert acked <= api.get(f"/api/v1/topology/{TOPOLOGY}").json()["spouts"][0]["acked"]
    browser.execute_script("window.squallTestMarker = 'still the same page';")
    until(browser, lambda d: (_number(d, "spouts", "numbers", "acked") or 0) > acked,
           "the acked count grows")
    assert browser.execute_script("return window.squallTestMarker;") == "still the same page"

    windows = browser.find_elements(By.CSS_SELECTOR, "#topology-stats tbody td[data-field=windowPretty]")
    assert [w.text for w in windows] == ["10m 0s", "3h 0m 0s", "1d 0h 0m 0s", "All time"]
    assert [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "#bolts tbody tr")] \
        == ["check", "sink"]
    until(browser, lambda d: (_number(d, "bolts", "sink", "executed") or 0) > 0, "the sink executes")
    until(browser, lambda d: (_cell(d, "bolts", "check", "lastError") or "").startswith("ValueError: bad number"),
           "check's last error shows")
    # Choosing a window re-reads the tables in place, and keeps it in the address.
    browser.find_element(By.CSS_SELECTOR, '#topology-stats tr[data-id="600"] a').click()
    until(browser, lambda d: d.find_element(By.ID, "window-hint").text == "10m 0s", "the 10-minute window shows")
    assert browser.current_url.endswith(f"/topology.html?id={TOPOLOGY}&window=600")
    assert browser.execute_script("return window.squallTestMarker;") == "still the same page"
    # Every resource came from this server: nothing from a CDN.
    sources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);")
    assert sources and all(s.startswith(ui.url + "/") for s in sources), sources


def test_deactivate_with_the_right_token_makes_the_topology_inactive(browser, ui, api):
    _open_topology(browser, ui)
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "button[data-action=deactivate]").click()
    until(browser, lambda d: _cell(d, "summary", "0", "status") == "INACTIVE", "the page shows INACTIVE")
    assert api.get(f"/api/v1/topology/{TOPOLOGY}").json()["status"] == "INACTIVE"
    # The poll may show the new status before the button's own answer is read.
    until(browser, lambda d: d.find_element(By.ID, "action-message").text == "deactivate: success",
           "the page says the deactivation succeeded")
    # The token stays in this tab's sessionStorage, not in the address.
    assert browser.execute_script("return sessionStorage.getItem('squall.ui.token');") == TOKEN
    assert TOKEN not in browser.current_url

    browser.find_element(By.CSS_SELECTOR, "button[data-action=activate]").click()
    until(browser, lambda d: _cell(d, "summary", "0", "status") == "ACTIVE", "the page shows ACTIVE again")


def test_a_wrong_token_shows_the_apis_refusal(browser, ui, api):
    _open_topology(browser, ui)
    browser.find_element(By.ID, "token").send_keys("not-the-token")
    browser.find_element(By.CSS_SELECTOR, "button[data-action=deactivate]").click()
    message = until(browser, lambda d: d.find_element(By.ID, "action-message").text, "a message shows")
    refusal = api.post(f"/api/v1/topology/{TOPOLOGY}/deactivate",
                       headers={"Authorization": "Bearer not-the-token"}).json()["errorMessage"]
    assert message == f"deactivate refused: {refusal}"
    assert browser.find_element(By.ID, "action-message").get_attribute("class") == "error"
    assert api.get(f"/api/v1/topology/{TOPOLOGY}").json()["status"] == "ACTIVE"
    assert _cell(browser, "summary", "0", "status") == "ACTIVE"


def test_component_page_shows_executors_and_errors(browser, ui):
    _open_topology(browser, ui)
    until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#bolts tr[data-id="check"] a'), "check's link")
    browser.find_element(By.CSS_SELECTOR, '#bolts tr[data-id="check"] a').click()
    until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#executor-stats tbody tr")) == 2,
           "check's two executors show")
    assert _cell(browser, "summary", "0", "componentType") == "bolt"
    until(browser, lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, "#errors td[data-field=error]")],
           "check's errors show")
    errors = browser.find_elements(By.CSS_SELECTOR, "#errors td[data-field=error]")
    assert all(e.text.startswith("ValueError: bad number ") for e in errors)


def test_pages_are_served_with_a_policy_that_forbids_other_origins(api):
    for path in ("/", "/topology.html", "/component.html"):
        r = api.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        assert r.headers["content-security-policy"].startswith("default-src 'self'"), path
        assert 'src="/static/squall.js"' in r.text and "http" not in r.text, path
    assert "fetch(" in api.get("/static/squall.js").text
    assert api.get("/static/nope.js").status_code == 404
    assert not {"/", "/topology.html"} & set(api.get("/openapi.json").json()["paths"])


def test_kill_after_confirmation_ends_the_topology_and_the_page_says_so(browser, ui, api):
    _open_topology(browser, ui)
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    wait = browser.find_element(By.ID, "kill-wait")
    wait.clear()
    wait.send_keys("0")
    browser.find_element(By.CSS_SELECTOR, "button[data-action=kill]").click()
    confirmation = until(browser, lambda d: d.switch_to.alert, "the kill asks for confirmation")
    assert TOPOLOGY in confirmation.text
    confirmation.accept()
    until(browser, lambda d: d.find_element(By.ID, "action-message").text == "kill: success",
           "the page says the kill succeeded")
    until(browser, lambda d: f"no topology with id '{TOPOLOGY}'" in d.find_element(By.ID, "load-error").text,
           "the page shows the API's 404 once the topology has gone")
    assert api.get("/api/v1/topology/summary").json()["topologies"] == []


def test_dismissing_the_kill_confirmation_keeps_the_topology(browser, ui, api):
    _open_topology(browser, ui)
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "button[data-action=kill]").click()
    until(browser, lambda d: d.switch_to.alert, "the kill asks for confirmation").dismiss()
    # Shown instead of the answer a kill request would have got.
    until(browser, lambda d: d.find_element(By.ID, "action-message").text == "kill cancelled",
           "the page says the kill was cancelled")
    assert _cell(browser, "summary", "0", "status") == "ACTIVE"
    assert [t["status"] for t in api.get("/api/v1/topology/summary").json()["topologies"]] == ["ACTIVE"]
