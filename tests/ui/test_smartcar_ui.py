"""``squall smartcar run --ui``: the command contract, in a real subprocess over real HTTP.

While the replay runs, the topology summary lists it with Storm's fields; deactivated
(so the counts hold still), the REST answer, ``/metrics`` (parsed with
prometheus_client's parser) and the smart-car dashboard give the same figures; then
activated, the run ends by itself and its summary line reads the same number of records.

In a real browser (headless chromium), a rule file applied from the topology page's
live rules panel changes what the running pipeline detects: the dashboard's latest
detections and the day's speeding set, and the REST answers with them.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
parser = pytest.importorskip("prometheus_client.parser")

from tests.ui.uikit import until

DATA = Path(__file__).resolve().parents[2] / "examples" / "smartcar" / "data"
DEFAULT_RULE = DATA.parent / "speeding.epl"
TOKEN = "smartcar-ui-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
COUNTERS = ("emitted", "transferred", "acked", "failed")
"""Counters that hold still once the spout is deactivated; ``executed`` does not: the
speeding bolt executes tick tuples five times a second."""


def _start(tmp_path, port, pace, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "squall", "smartcar", "run", "--replay", str(DATA), "--pace", str(pace),
         "--ui", f"127.0.0.1:{port}", "--ui-token", TOKEN, "--data-dir", str(tmp_path / "data"),
         "--speeding-log", str(tmp_path / "speeding.jsonl"), *extra],
        # Files, not pipes: the run prints progress every second and must never block on it.
        stdout=(tmp_path / "out").open("w"), stderr=(tmp_path / "err").open("w"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(fetch, ok, give_up_s: float = 180.0):
    """Poll ``fetch`` until ``ok(value)``; fails (rather than hangs) after ``give_up_s``."""
    deadline = time.monotonic() + give_up_s
    while True:
        assert time.monotonic() < deadline, f"gave up waiting after {give_up_s:.0f} s"
        try:
            value = fetch()
        except httpx.TransportError:
            value = None
        if value is not None and ok(value):
            return value
        time.sleep(0.1)


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in parser.text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def run(tmp_path):
    port = _free_port()
    proc = _start(tmp_path, port, 200)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield proc, client, tmp_path
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_smartcar_run_ui_lists_the_run_and_metrics_equal_the_rest_figures(run):
    proc, client, tmp_path = run

    summary = _until(lambda: client.get("/api/v1/topology/summary").json(),
                     lambda s: s["topologies"] or proc.poll() is not None)
    assert proc.poll() is None, (tmp_path / "err").read_text()
    (topo,) = summary["topologies"]
    assert {"id", "name", "status", "uptime", "workersTotal", "executorsTotal", "tasksTotal"} <= topo.keys()
    assert (topo["id"], topo["name"], topo["status"]) == ("smartcar", "smartcar", "ACTIVE")
    assert topo["workersTotal"] == 1 and topo["executorsTotal"] >= 6 and topo["tasksTotal"] >= 6

    # Some records through, then hold the spout still and wait for the trees in flight.
    _until(lambda: client.get("/api/v1/topology/smartcar").json(),
           lambda t: t["spouts"][0]["acked"] > 0)
    assert client.post("/api/v1/topology/smartcar/deactivate", headers=AUTH).status_code == 200

    def counts(t):
        return [{k: row[k] for k in COUNTERS if k in row} for row in t["spouts"] + t["bolts"]]

    def quiet():
        assert proc.poll() is None, "the run ended while deactivated"
        a = client.get("/api/v1/topology/smartcar").json()
        time.sleep(0.5)
        b = client.get("/api/v1/topology/smartcar").json()
        return b if counts(a) == counts(b) else None

    rest = _until(quiet, lambda t: t["status"] == "INACTIVE")
    metrics = _samples(client.get("/metrics").text)
    board = client.get("/api/v1/dashboard/smartcar").json()

    spout = rest["spouts"][0]
    bolts = {b["boltId"]: b for b in rest["bolts"]}
    labels = lambda component: (("component", component), ("topology", "smartcar"))
    for component, row in [(spout["spoutId"], spout), *bolts.items()]:
        assert metrics[("squall_acked_total", labels(component))] == row["acked"], component
        assert metrics[("squall_failed_total", labels(component))] == row["failed"], component
        assert metrics[("squall_transferred_total", labels(component))] == row["transferred"], component
        emitted = sum(v for (name, lbl), v in metrics.items()
                      if name == "squall_emitted_total" and dict(lbl)["component"] == component)
        assert emitted == row["emitted"], component
    for component, row in bolts.items():
        # Read after the REST answer: ticks may have been executed in between.
        executed = metrics[("squall_executed_total", labels(component))]
        assert executed >= row["executed"] and (component == "speeding" or executed == row["executed"])
        # Execute time is timed on a sample of the executed tuples (squall.ui.metrics).
        assert metrics[("squall_execute_latency_seconds_count", labels(component))] <= executed
    # Process latency is timed on a sample of the acked tuples; the histogram counts those.
    table = labels("table")
    sampled = metrics[("squall_process_latency_seconds_count", table)]
    assert 0 < sampled <= bolts["table"]["acked"]
    assert metrics[("squall_process_latency_seconds_bucket", (*table[:1], ("le", "+Inf"), *table[1:]))] == sampled
    buckets = sorted((float(dict(lbl)["le"]), v) for (name, lbl), v in metrics.items()
                     if name == "squall_process_latency_seconds_bucket" and dict(lbl)["component"] == "table")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert metrics[("squall_topology_active", (("topology", "smartcar"),))] == 0
    completed = metrics[("squall_checkpoints_total", (("outcome", "completed"), ("topology", "smartcar")))]
    assert metrics[("squall_checkpoint_duration_seconds_count", (("topology", "smartcar"),))] == completed

    # The dashboard reads the same run: records read = trees completed, all stored.
    assert board["counters"]["records read"] == spout["acked"]
    assert board["counters"]["rows stored"] == bolts["table"]["acked"]
    assert board["counters"]["speeding detections"] == bolts["speeding"]["acked"]
    # The day's set, read from the store the run writes: a car per acked detection at most.
    cars = board["lists"]["speeding cars on 20240101"]
    assert board["figures"]["speeding cars on 20240101"] == len(cars)
    assert (len(cars) > 0) == (bolts["speeding"]["acked"] > 0) and len(cars) <= bolts["speeding"]["acked"]

    assert client.post("/api/v1/topology/smartcar/activate", headers=AUTH).status_code == 200
    proc.wait()
    out, err = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert proc.returncode == 0, err
    read = int(re.search(r"^read ([\d,]+) records", out, re.MULTILINE).group(1).replace(",", ""))
    assert read >= spout["acked"]
    assert "Squall UI at http://127.0.0.1:" in err


# -- a rule change applied from the page ------------------------------------------------------

DAY = "20240101"            # the command's default --start: the speeding set's day
_DETECTION = re.compile(r"^(\S+) ([\d.]+) km/h in the window from ")


@pytest.fixture
def slow_run(tmp_path):
    """The replay at 10 times real time (the shortest moving trip lasts about 90 s), its
    rule watched in a rules directory."""
    port = _free_port()
    proc = _start(tmp_path, port, 10, "--rules-dir", str(tmp_path / "rules"))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield proc, client, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _detections(browser):
    """The dashboard page's latest detections as (car, average km/h), newest first."""
    # Read in one script: the page redraws its lists on every poll.
    text = browser.execute_script(
        "const p = document.querySelector('p.list[data-list=\"latest detections\"]');"
        " return p ? p.textContent : '';")
    return [(m.group(1), float(m.group(2))) for m in map(_DETECTION.match, text.split(", ")) if m]


def test_a_rule_applied_from_the_page_changes_the_detections_of_the_running_pipeline(
        slow_run, browser, tmp_path):
    from selenium.webdriver.common.by import By

    proc, client, url = slow_run

    def rules():
        assert proc.poll() is None, (tmp_path / "err").read_text()
        return client.get("/api/v1/topology/smartcar/rules").json()

    _until(rules, lambda r: r.get("statements"))     # a 404 answer until the run is submitted
    (old,) = client.get("/api/v1/topology/smartcar/rules").json()["statements"]
    assert "avg(speed) > 80" in old["text"] and old["live"]
    # Under the shipped rule every detection is above 80 km/h.
    before = client.get("/api/v1/dashboard/smartcar").json()
    assert all(speed > 80 for _, speed in _parsed(before["lists"].get("latest detections", [])))
    cars_before = set(before["lists"][f"speeding cars on {DAY}"])

    # Every 30-second batch of every car now qualifies: a file chosen in the page's form.
    lowered = tmp_path / "anyspeed.epl"
    lowered.write_text(DEFAULT_RULE.read_text(encoding="utf-8").replace("avg(speed) > 80", "avg(speed) >= 0"),
                       encoding="utf-8")
    browser.get(f"{url}/topology.html?id=smartcar")
    until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#rules-component option[value="cep"]'),
          "the rules form offers the CEP bolt")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "rules-file").send_keys(str(lowered))
    until(browser, lambda d: "avg(speed) >= 0" in d.find_element(By.ID, "rules-text").get_property("value"),
          "the chosen file fills the form")
    browser.find_element(By.ID, "rules-apply").click()
    message = until(browser, lambda d: "applied by" in d.find_element(By.ID, "rules-message").text
                    and d.find_element(By.ID, "rules-message"), "the page says the rule was applied")
    assert message.get_attribute("class") == "ok", message.text
    until(browser, lambda d: any("avg(speed) >= 0" in td.text
                                 for td in d.find_elements(By.CSS_SELECTOR, '#rules td[data-field="text"]')),
          "the rules table shows the new rule")
    (new,) = client.get("/api/v1/topology/smartcar/rules").json()["statements"]
    assert "avg(speed) >= 0" in new["text"]

    # The dashboard page: detections the old rule could not make (80 km/h or less).
    browser.get(f"{url}/dashboard.html?name=smartcar")
    slow = until(browser, lambda d: [c for c, speed in _detections(d) if speed <= 80],
                 "a detection at 80 km/h or less shows among the latest", guard_s=120)
    assert proc.poll() is None, "the run ended before the new rule's detections were read"
    board = client.get("/api/v1/dashboard/smartcar").json()
    cars_after = set(board["lists"][f"speeding cars on {DAY}"])
    # The speeding store took the slow cars, and kept the shipped rule's.
    assert set(slow) <= cars_after and cars_before <= cars_after
    assert board["figures"][f"speeding cars on {DAY}"] == len(cars_after)
    # The REST answer counts them: the speeding bolt acked a detection per row.
    speeding = {b["boltId"]: b for b in client.get("/api/v1/topology/smartcar").json()["bolts"]}["speeding"]
    assert speeding["acked"] >= board["counters"]["speeding detections"] > 0


def _parsed(lines):
    return [(m.group(1), float(m.group(2))) for m in map(_DETECTION.match, lines) if m]
