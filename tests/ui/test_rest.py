"""The UI's REST API and /metrics over real HTTP, against topologies running on a
LocalCluster: Storm UI's fields with the runtime's figures, errors in Storm's shape,
actions guarded by the token, and the Prometheus text format."""

from __future__ import annotations

import socket
import time

import pytest

pytest.importorskip("squall.ui")
httpx = pytest.importorskip("httpx")
parser = pytest.importorskip("prometheus_client.parser")

from squall import Bolt, TopologyBuilder
from squall.config import MAX_SPOUT_PENDING
from squall.ui import UIServerError, serve
from tests.ui.ui_topos import Numbers
from tests.ui.uikit import AUTH, TOKEN, eventually, freeze


class Split(Bolt):
    """Emits each number twice, anchored; reports an error for each multiple of 97."""

    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def process(self, tup):
        n = tup.values[0]
        if n % 97 == 0:
            self.collector.report_error(ValueError(f"bad number {n}"))
        self.collector.emit([n], anchors=[tup])
        self.collector.emit([n], anchors=[tup])
        self.collector.ack(tup)


class Sink(Bolt):
    def process(self, tup):
        self.collector.ack(tup)


def _topology():
    b = TopologyBuilder()
    b.set_spout("numbers", Numbers())
    b.set_bolt("split", Split(), parallelism=2).shuffle_grouping("numbers")
    b.set_bolt("sink", Sink()).shuffle_grouping("split")
    return b.build()


@pytest.fixture
def running(cluster):
    handle = cluster.submit_topology("numbers-topo", {MAX_SPOUT_PENDING: 64}, _topology())
    eventually(lambda: handle.stats()["numbers"].acked > 200, "the spout's trees are acked")
    return handle


def test_summaries_name_the_running_topology_with_storms_fields(running, client):
    topo = client.get("/api/v1/topology/summary").json()["topologies"]
    assert [t["id"] for t in topo] == ["numbers-topo"]
    t = topo[0]
    assert {"id", "name", "status", "uptime", "uptimeSeconds", "workersTotal",
            "executorsTotal", "tasksTotal"} <= set(t)
    # numbers: 1 executor, split: 2, sink: 1.
    assert (t["name"], t["status"], t["executorsTotal"], t["tasksTotal"], t["workersTotal"]) == \
        ("numbers-topo", "ACTIVE", 4, 4, 1)
    cl = client.get("/api/v1/cluster/summary").json()
    assert (cl["topologies"], cl["executorsTotal"], cl["tasksTotal"], cl["supervisors"]) == (1, 4, 4, 1)


def test_topology_page_figures_equal_the_runtimes_stats(running, client):
    freeze(client, running)
    stats = running.stats()
    page = client.get("/api/v1/topology/numbers-topo").json()
    assert page["msgTimeout"] == 30 and page["window"] == ":all-time"
    (spout,) = page["spouts"]
    assert spout["spoutId"] == "numbers"
    for field in ("emitted", "transferred", "acked", "failed", "executors", "tasks"):
        assert spout[field] == getattr(stats["numbers"], field), field
    assert float(spout["completeLatency"]) == pytest.approx(stats["numbers"].complete_latency_ms, abs=1e-3)
    bolts = {b["boltId"]: b for b in page["bolts"]}
    assert set(bolts) == {"split", "sink"}
    for name, bolt in bolts.items():
        for field in ("emitted", "transferred", "acked", "failed", "executed", "executors", "tasks"):
            assert bolt[field] == getattr(stats[name], field), (name, field)
        assert float(bolt["executeLatency"]) == pytest.approx(stats[name].execute_latency_ms, abs=1e-3)
        assert float(bolt["processLatency"]) == pytest.approx(stats[name].process_latency_ms, abs=1e-3)
        assert "capacity" in bolt and "lastError" in bolt
    # Split emits twice per input, and everything it emits reaches the sink.
    assert bolts["split"]["emitted"] == 2 * bolts["split"]["executed"] == bolts["sink"]["executed"]
    # A young topology: every window covers the whole run, as in Storm.
    windows = {w["window"]: w for w in page["topologyStats"]}
    assert list(windows) == ["600", "10800", "86400", ":all-time"]
    assert [w["windowPretty"] for w in page["topologyStats"]] == ["10m 0s", "3h 0m 0s", "1d 0h 0m 0s", "All time"]
    for w in windows.values():
        assert w["acked"] == stats["numbers"].acked
        assert w["emitted"] == sum(st.emitted for st in stats.values())


def test_errors_show_as_last_error_and_component_errors(running, client):
    eventually(lambda: running.stats()["split"].error_count > 0, "split reports an error")
    split = {b["boltId"]: b for b in client.get("/api/v1/topology/numbers-topo").json()["bolts"]}["split"]
    assert split["lastError"].startswith("ValueError: bad number ")
    assert split["errorTime"] <= time.time() and split["errorLapsedSecs"] >= 0
    page = client.get("/api/v1/topology/numbers-topo/component/split").json()
    assert page["componentType"] == "bolt" and page["executors"] == 2
    assert page["componentErrors"] and all(e["error"].startswith("ValueError: bad number ")
                                           for e in page["componentErrors"])
    assert sorted(int(e["error"].rsplit(" ", 1)[1]) % 97 for e in page["componentErrors"]) == \
        [0] * len(page["componentErrors"])


def test_component_page_splits_figures_by_executor_and_stream(running, client):
    freeze(client, running)
    stats = running.stats()
    split = client.get("/api/v1/topology/numbers-topo/component/split").json()
    assert len(split["executorStats"]) == 2
    assert sum(e["executed"] for e in split["executorStats"]) == stats["split"].executed
    assert [(o["stream"], o["emitted"]) for o in split["outputStats"]] == [("default", stats["split"].emitted)]
    assert split["boltStats"][-1]["window"] == ":all-time"
    assert split["boltStats"][-1]["acked"] == stats["split"].acked
    spout = client.get("/api/v1/topology/numbers-topo/component/numbers").json()
    assert spout["componentType"] == "spout" and "boltStats" not in spout
    assert spout["spoutSummary"][-1]["acked"] == stats["numbers"].acked


def test_unknown_ids_answer_404_in_storms_error_shape(running, client):
    r = client.get("/api/v1/topology/no-such-topo")
    assert r.status_code == 404
    body = r.json()
    assert set(body) == {"error", "errorMessage"} and body["error"] == "404 Not Found"
    assert "no-such-topo" in body["errorMessage"] and "numbers-topo" in body["errorMessage"]
    r = client.get("/api/v1/topology/numbers-topo/component/nope")
    assert r.status_code == 404 and "nope" in r.json()["errorMessage"]
    r = client.post("/api/v1/topology/no-such-topo/deactivate", headers=AUTH)
    assert r.status_code == 404
    r = client.get("/api/v1/topology/numbers-topo", params={"window": "61"})
    assert r.status_code == 400 and r.json()["error"] == "400 Bad Request"
    r = client.post("/api/v1/topology/numbers-topo/kill/soon", headers=AUTH)
    assert r.status_code == 400 and "wait_time" in r.json()["errorMessage"]
    assert running.running


def test_actions_are_refused_without_a_token_configured(cluster, running):
    with serve(cluster, port=0) as ui, httpx.Client(base_url=ui.url) as c:
        for path in ("activate", "deactivate", "kill/0"):
            r = c.post(f"/api/v1/topology/numbers-topo/{path}", headers=AUTH)
            assert r.status_code == 403, path
            assert "token=" in r.json()["errorMessage"]
        assert c.get("/api/v1/topology/numbers-topo").json()["status"] == "ACTIVE"
    assert running.running


def test_actions_need_the_right_token(running, client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = client.post("/api/v1/topology/numbers-topo/deactivate", headers=headers)
        assert r.status_code == 401
        assert TOKEN not in r.text
    assert client.get("/api/v1/topology/numbers-topo").json()["status"] == "ACTIVE"


def test_deactivate_stops_the_figures_and_activate_resumes_them(running, client):
    r = client.post("/api/v1/topology/numbers-topo/deactivate", headers=AUTH)
    assert r.json() == {"topologyOperation": "deactivate", "topologyId": "numbers-topo", "status": "success"}
    freeze(client, running)
    emitted = client.get("/api/v1/topology/numbers-topo").json()["spouts"][0]["emitted"]
    time.sleep(0.3)     # a running spout emits thousands in this time
    assert client.get("/api/v1/topology/numbers-topo").json()["spouts"][0]["emitted"] == emitted
    assert client.post("/api/v1/topology/numbers-topo/activate", headers=AUTH).status_code == 200
    eventually(lambda: client.get("/api/v1/topology/numbers-topo").json()["spouts"][0]["emitted"] > emitted,
                "the spout emits again")
    assert client.get("/api/v1/topology/numbers-topo").json()["status"] == "ACTIVE"


def test_kill_with_a_wait_ends_the_topology(running, client):
    r = client.post("/api/v1/topology/numbers-topo/kill/5", headers=AUTH)
    assert r.json() == {"topologyOperation": "kill", "topologyId": "numbers-topo", "status": "success"}
    eventually(lambda: not running.running, "the run ends")
    # A kill with a wait drains: every tree in flight completed.
    assert running.stop_report.graceful and running.stop_report.in_flight == 0
    eventually(lambda: client.get("/api/v1/topology/numbers-topo").status_code == 404,
                "the topology leaves the cluster")
    assert client.get("/api/v1/topology/summary").json()["topologies"] == []


def test_metrics_parse_and_carry_the_counters(running, client):
    freeze(client, running)
    stats = running.stats()
    r = client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in parser.text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def value(name, component, **extra):
        return samples[(name, tuple(sorted({"topology": "numbers-topo", "component": component, **extra}.items())))]

    assert value("squall_acked_total", "numbers") == stats["numbers"].acked
    assert value("squall_emitted_total", "numbers", stream="default") == stats["numbers"].emitted
    assert value("squall_executed_total", "sink") == stats["sink"].executed
    assert value("squall_transferred_total", "split") == stats["split"].transferred
    assert value("squall_errors_total", "split") == stats["split"].error_count > 0
    assert value("squall_executors", "split") == 2
    assert value("squall_process_latency_ms", "sink") == pytest.approx(stats["sink"].process_latency_ms)
    assert samples[("squall_topology_active", (("topology", "numbers-topo"),))] == 0.0


def test_binds_loopback_by_default_and_says_when_the_port_is_taken(cluster):
    with serve(cluster, port=0) as ui:
        assert ui.host == "127.0.0.1" and ui.url.startswith("http://127.0.0.1:")
        with socket.create_connection(("127.0.0.1", ui.port)):
            pass
        with pytest.raises(UIServerError, match=str(ui.port)):
            serve(cluster, port=ui.port)
