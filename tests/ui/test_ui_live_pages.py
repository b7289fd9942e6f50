"""The UI's graph, rules panel, sampled events and dashboard pages in a real browser
(headless Debian chromium through the system chromedriver), against a CEP topology
running on a LocalCluster: rates on the graph's edges move without a reload, a rule
file that does not compile shows its line and column while the old rule runs on, and
the application dashboard charts its counter."""

from __future__ import annotations

import re
import time

import pytest

pytest.importorskip("selenium.webdriver")
pytest.importorskip("squall.ui")

from selenium.webdriver.common.by import By

from squall import Bolt, Spout, TopologyBuilder
from squall.config import MAX_SPOUT_PENDING
from squall.ui import serve
from tests.ui.uikit import TOKEN, until

TOPOLOGY = "cars"
RULE = "@Name('fast') select car, avg(speed) as avg_speed from Car#length_batch(20) group by car"


class Cars(Spout):
    """Five cars' speeds, reliably, about one a millisecond."""

    def declare_output_fields(self, declarer):
        declarer.declare(["car", "speed"])

    def open(self, config, context, collector):
        self.collector = collector
        self.n = 0

    def next_tuple(self):
        self.collector.emit([f"car{self.n % 5}", 60 + (self.n * 7) % 50], message_id=self.n)
        self.n += 1
        time.sleep(0.001)   # keeps the test's CPU use low; the counts still grow every poll


class Sink(Bolt):
    def process(self, tup):
        self.collector.ack(tup)


@pytest.fixture
def ui(cluster, tmp_path):
    from squall.cep.bolt import CepBolt

    b = TopologyBuilder()
    b.set_spout("cars", Cars())
    b.set_bolt("rule", CepBolt(RULE, "Car", rules_dir=tmp_path / "rules")).shuffle_grouping("cars")
    b.set_bolt("sink", Sink()).shuffle_grouping("rule")
    handle = cluster.submit_topology(TOPOLOGY, {MAX_SPOUT_PENDING: 64}, b.build())
    boards = {"cars": lambda: {"title": "Cars", "counters": {"records": handle.stats()["cars"].acked},
                               "figures": {"statements": 1}, "lists": {"cars seen": ["car0", "car1"]}}}
    with serve(cluster, port=0, token=TOKEN, dashboards=boards) as server:
        yield server


def _label(browser, edge):
    found = browser.find_elements(By.CSS_SELECTOR, f'#graph text.edge-label[data-edge="{edge}"]')
    return found[0] if found else None


_RATE = re.compile(r"^(\S+) · ([\d,]+(?:\.\d)?)/s$")


def _rate(browser, edge):
    label = _label(browser, edge)
    m = _RATE.match(label.text) if label is not None else None
    return float(m.group(2).replace(",", "")) if m else None


def test_graph_draws_the_components_and_streams_with_rates_that_move_without_a_reload(browser, ui, api):
    browser.get(f"{ui.url}/topology.html?id={TOPOLOGY}")
    until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#graph svg g.node")) == 3, "three nodes")
    nodes = [n.get_attribute("data-id") for n in browser.find_elements(By.CSS_SELECTOR, "#graph g.node")]
    assert sorted(nodes) == ["cars", "rule", "sink"]
    edges = {e.get_attribute("data-edge") for e in browser.find_elements(By.CSS_SELECTOR, "#graph g.edge")}
    assert edges == {"cars|default|rule", "rule|default|sink"}
    assert browser.find_element(By.CSS_SELECTOR, '#graph g.node[data-id="cars"]').get_attribute("class") == "node spout"
    browser.execute_script("window.squallTestMarker = 'same page';")
    # The first poll has nothing to compare with; then each poll shows a rate.
    rate = until(browser, lambda d: _rate(d, "cars|default|rule"), "a positive rate on the spout's edge")
    assert _RATE.match(_label(browser, "cars|default|rule").text).group(1) == "default"
    assert rate > 0
    first = int(_label(browser, "cars|default|rule").get_attribute("data-emitted"))
    until(browser, lambda d: int(_label(d, "cars|default|rule").get_attribute("data-emitted")) > first,
           "the edge's count moves")
    shown = int(_label(browser, "cars|default|rule").get_attribute("data-emitted"))
    # Read from the API after the page: the page can only be behind it.
    assert shown <= api.get(f"/api/v1/topology/{TOPOLOGY}/visualization").json()["cars"][":emitted"]["default"]
    assert browser.execute_script("return window.squallTestMarker;") == "same page"
    # A node links to its component's page.
    link = browser.find_element(By.CSS_SELECTOR, '#graph a:has(g.node[data-id="rule"])')
    assert link.get_dom_attribute("href") == f"/component.html?topology={TOPOLOGY}&id=rule"


def _apply(browser, text):
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.execute_script("document.getElementById('rules-text').value = arguments[0];", text)
    browser.find_element(By.ID, "rules-apply").click()


def _rule_text(browser):
    cells = browser.find_elements(By.CSS_SELECTOR, '#rules td[data-field="text"]')
    return cells[0].text if cells else None


def test_rules_panel_shows_the_compile_error_with_line_and_column_and_keeps_the_old_rule(browser, ui, api):
    browser.get(f"{ui.url}/topology.html?id={TOPOLOGY}")
    until(browser, lambda d: _rule_text(d) == RULE, "the running rule shows")
    events_in = int(browser.find_element(By.CSS_SELECTOR, '#rules td[data-field="eventsIn"]').text)
    _apply(browser, "@Name('fast') select car, avg(speed) as avg_speed\nfrom Car#length_batch(20) group car")
    message = until(browser, lambda d: "not applied" in d.find_element(By.ID, "rules-message").text
                     and d.find_element(By.ID, "rules-message"), "the refusal shows")
    assert "line 2, column 33" in message.text and "fast" in message.text
    assert message.get_attribute("class") == "error"
    # The old rule goes on: same text, and its counters keep moving on the page.
    assert [s["text"] for s in api.get(f"/api/v1/topology/{TOPOLOGY}/rules").json()["statements"]] == [RULE]
    until(browser, lambda d: int(d.find_element(By.CSS_SELECTOR, '#rules td[data-field="eventsIn"]').text)
           > events_in, "the old rule's events in grow")
    assert _rule_text(browser) == RULE


def test_rules_panel_applies_a_rule_file_that_compiles(browser, ui, api):
    browser.get(f"{ui.url}/topology.html?id={TOPOLOGY}")
    until(browser, lambda d: _rule_text(d) == RULE, "the running rule shows")
    changed = RULE.replace("length_batch(20)", "length_batch(5)")
    _apply(browser, changed)
    message = until(browser, lambda d: "applied by" in d.find_element(By.ID, "rules-message").text
                     and d.find_element(By.ID, "rules-message"), "the result shows")
    assert "rule[0] fast: changed" in message.text and message.get_attribute("class") == "ok"
    until(browser, lambda d: _rule_text(d) == changed, "the table shows the new rule")
    assert [s["text"] for s in api.get(f"/api/v1/topology/{TOPOLOGY}/rules").json()["statements"]] == [changed]


def test_debug_button_samples_tuples_onto_the_events_page(browser, ui, api):
    browser.get(f"{ui.url}/topology.html?id={TOPOLOGY}")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    pct = browser.find_element(By.ID, "debug-pct")
    pct.clear()
    pct.send_keys("20")
    browser.find_element(By.CSS_SELECTOR, 'button[data-action="debug/enable"]').click()
    until(browser, lambda d: d.find_element(By.ID, "action-message").text == "debug/enable: success",
           "the page says sampling started")
    assert api.get(f"/api/v1/topology/{TOPOLOGY}").json()["samplingPct"] == 20
    browser.find_element(By.ID, "events-link").click()
    until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#events tbody tr")) >= 3, "sampled rows")
    assert "at 20 %" in browser.find_element(By.ID, "sampling").text
    # Read in one script: the table is redrawn as sampled tuples arrive.
    components = set(browser.execute_script(
        "return [...document.querySelectorAll('#events tbody td:nth-child(2)')].map((td) => td.textContent);"))
    assert components <= {"cars", "rule"} and components


def test_dashboard_page_charts_the_registered_counter(browser, ui):
    browser.get(f"{ui.url}/")
    until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#dashboards tr[data-id="cars"] a'), "the link")
    browser.find_element(By.CSS_SELECTOR, '#dashboards tr[data-id="cars"] a').click()
    until(browser, lambda d: d.find_element(By.ID, "dashboard-title").text == "Cars", "the title")
    # Two samples a second apart make the first point of the chart.
    chart = until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'svg[data-series="records"]'), "the chart")[0]
    until(browser, lambda d: len(chart.find_element(By.TAG_NAME, "polyline").get_attribute("points").split()) >= 2,
           "two points on the curve")
    assert float(chart.get_attribute("data-last")) > 0
    caption = browser.find_element(By.CSS_SELECTOR, ".chart figcaption").text
    assert re.match(r"^records: [\d,.]+/s$", caption), caption
    assert browser.find_element(By.CSS_SELECTOR, '#figures tr[data-id="statements"] td[data-field="value"]').text == "1"
    assert browser.find_element(By.CSS_SELECTOR, 'p.list[data-list="cars seen"]').text == "car0, car1"
