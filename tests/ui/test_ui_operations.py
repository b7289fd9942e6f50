"""The UI's REST API beyond the summaries, over real HTTP against topologies running on a
LocalCluster: the graph (visualization), Nimbus and Supervisor summaries, Kafka lag,
checkpoints, live rules, log levels, event sampling, rebalance, dashboards, the Origin
check and the OpenAPI description."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest

pytest.importorskip("squall.ui")
httpx = pytest.importorskip("httpx")

from squall import Bolt, Spout, TopologyBuilder
from squall.config import CHECKPOINT_INTERVAL_MS, MAX_SPOUT_PENDING
from squall.runtime.checkpoint import CheckpointStats
from squall.testing import ListSink, ListSpout
from squall.ui import ClusterView, Dashboard, DashboardError, serve, serve_forever
from squall.ui.source import PartitionLag
from tests.ui.ui_topos import Numbers
from tests.ui.uikit import AUTH, HANG_GUARD_S, eventually, freeze


class Twice(Bolt):
    """Emits each number twice on ``default`` and once on ``odd`` when it is odd."""

    def declare_output_fields(self, declarer):
        declarer.declare(["n"])
        declarer.declare_stream("odd", ["n"])

    def process(self, tup):
        n = tup.values[0]
        self.collector.emit([n], anchors=[tup])
        self.collector.emit([n], anchors=[tup])
        if n % 2:
            self.collector.emit([n], stream="odd", anchors=[tup])
        self.collector.ack(tup)


class Sink(Bolt):
    def process(self, tup):
        self.collector.ack(tup)


def _topology():
    b = TopologyBuilder()
    b.set_spout("numbers", Numbers())
    b.set_bolt("split", Twice(), parallelism=2).shuffle_grouping("numbers")
    b.set_bolt("sink", Sink()).shuffle_grouping("split").all_grouping("split", stream="odd")
    return b.build()


@pytest.fixture
def running(cluster):
    handle = cluster.submit_topology("ops", {MAX_SPOUT_PENDING: 64}, _topology())
    eventually(lambda: handle.stats()["numbers"].acked > 200, "the spout's trees are acked")
    return handle


# -- visualization --------------------------------------------------------------------------

def test_visualization_has_storms_keys_the_edges_and_the_streams_counts(running, client):
    freeze(client, running)
    viz = client.get("/api/v1/topology/ops/visualization").json()
    assert list(viz) == ["numbers", "split", "sink"]
    for node in viz.values():
        assert {":type", ":capacity", ":latency", ":transferred", ":stats", ":link", ":inputs"} <= set(node)
    assert viz["numbers"][":type"] == "spout" and viz["split"][":type"] == "bolt"
    assert viz["numbers"][":inputs"] == []
    assert viz["split"][":inputs"] == [{":component": "numbers", ":stream": "default",
                                        ":sani-stream": "default", ":grouping": "shuffle"}]
    assert sorted((i[":stream"], i[":grouping"]) for i in viz["sink"][":inputs"]) == \
        [("default", "shuffle"), ("odd", "all")]
    assert len(viz["split"][":stats"]) == 2 and viz["split"][":stats"][0][":host"] == "127.0.0.1"
    stats = running.stats()
    split = stats["split"]
    assert viz["split"][":emitted"] == split.emitted_by_stream
    assert split.emitted_by_stream["odd"] > 0
    # Each stream's transferred: one sink task per tuple on both streams.
    assert viz["split"][":transferred"] == split.emitted_by_stream
    assert viz["numbers"][":transferred"] == {"default": stats["numbers"].transferred}
    assert viz["split"][":link"] == "/component.html?topology=ops&id=split"
    assert client.get("/api/v1/topology/nope/visualization").status_code == 404


# -- cluster, nimbus and supervisor summaries --------------------------------------------------

def test_nimbus_and_supervisor_summaries_name_this_process(running, client):
    (nimbus,) = client.get("/api/v1/nimbus/summary").json()["nimbuses"]
    assert {"host", "port", "status", "version", "nimbusUpTime", "nimbusUpTimeSeconds", "nimbusLogLink"} <= set(nimbus)
    assert nimbus["status"] == "Leader" and nimbus["host"] == "127.0.0.1"
    body = client.get("/api/v1/supervisor/summary").json()
    (sup,) = body["supervisors"]
    assert {"id", "host", "uptime", "uptimeSeconds", "slotsTotal", "slotsUsed", "totalMem", "totalCpu",
            "usedMem", "usedCpu"} <= set(sup)
    assert (sup["slotsTotal"], sup["slotsUsed"]) == (1, 1)
    assert body["schedulerDisplayResource"] is False


# -- lag ----------------------------------------------------------------------------------------

def test_lag_is_storms_empty_answer_without_a_kafka_spout(running, client):
    assert client.get("/api/v1/topology/ops/lag").json() == {}
    r = client.get("/api/v1/topology/nope/lag")
    assert r.status_code == 404 and r.json()["error"] == "404 Not Found"


class _LagSource:
    """A ClusterSource with one topology whose Kafka spout reports fixed partitions."""

    started_at = time.monotonic()

    def __init__(self, partitions):
        topo = self

        class T:
            name = "k"
            running = True

            def kafka_lag(self):
                return topo.partitions
        self.partitions = partitions
        self.t = T()

    def topologies(self):
        return {"k": self.t}


def test_lag_answer_has_storms_shape_and_says_null_when_unknown():
    view = ClusterView(_LagSource({"reader": [PartitionLag("cars", 1, 3, committed=90, done=95, head=120),
                                              PartitionLag("cars", 0, 3, committed=None, done=10, head=None)]}))
    assert view.lag("k") == {"reader": {"spoutId": "reader", "spoutType": "KAFKA", "spoutLagResult": {"cars": {
        "0": {"consumerCommittedOffset": None, "logHeadOffset": None, "lag": None, "doneOffset": 10,
              "doneLag": None, "task": 3},
        "1": {"consumerCommittedOffset": 90, "logHeadOffset": 120, "lag": 30, "doneOffset": 95,
              "doneLag": 25, "task": 3}}}}}


def test_kafka_partitions_are_read_from_the_spouts_offset_tracking():
    spout_module = pytest.importorskip("squall.connectors.kafka.spout")

    class Consumer:
        def get_watermark_offsets(self, tp, cached=False):
            assert cached, "the UI thread must not wait for a broker"
            return (0, {0: 50, 1: -1001}[tp.partition])

    # Not opened: only the offset tracking partition_offsets() reads.
    spout = object.__new__(spout_module.KafkaSpout)
    p0, p1, gone = (spout_module._Partition("cars", 0), spout_module._Partition("cars", 1),
                    spout_module._Partition("cars", 2))
    p0.committed, p0.fetched_upto = 30, 45
    p0.inflight = {35: ["default", [1], 0], 40: ["default", [2], 0]}
    p1.committed, p1.fetched_upto = 7, 7
    gone.gone = True
    spout._parts = {("cars", 0): p0, ("cars", 1): p1, ("cars", 2): gone}
    spout._consumer = Consumer()
    assert spout.partition_offsets() == [
        {"topic": "cars", "partition": 0, "committed": 30, "done": 35, "head": 50},
        {"topic": "cars", "partition": 1, "committed": 7, "done": 7, "head": None}]


# -- checkpoints ------------------------------------------------------------------------------

def _bounded(name):
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(3000)], ["n"]))
    b.set_bolt("out", ListSink(name)).shuffle_grouping("src")
    return b.build()


def test_checkpoints_panel_counts_completed_checkpoints_and_restores(cluster, tmp_path):
    pytest.importorskip("rocksdict")
    from squall.state.rocksdb import RocksDBStateBackend

    backend = RocksDBStateBackend(str(tmp_path / "state"))
    view = ClusterView(cluster)
    first = cluster.submit_topology("cp", {CHECKPOINT_INTERVAL_MS: 1}, _bounded("ui-cp-1"),
                                    until_complete=True, state_backend=backend)
    seen = eventually(lambda: (view.topology("cp")["checkpoints"] or {}).get("lastCompleted"),
                       "a checkpoint completes")
    assert seen["id"] >= 1 and seen["durationMs"] >= 0
    assert first.wait(HANG_GUARD_S)
    cs = first.worker.checkpoint_stats
    panel = view.topology("cp")["checkpoints"]
    assert panel["completed"] == cs.completed and panel["lastTxid"] == cs.last_txid
    assert panel["lastCompleted"]["id"] == cs.last_txid and panel["lastCompleted"]["timestamp"] > 0
    assert panel["restoreCount"] == 0 and panel["restored"] is None and panel["lastFailed"] is None
    assert panel["durationMsMax"] >= panel["durationMsMean"] > 0
    cluster.kill_topology("cp")
    view.mark_killing("cp", False)
    # A second run on the same backend restores the last checkpoint: one restore.
    second = cluster.submit_topology("cp", {CHECKPOINT_INTERVAL_MS: 1}, _bounded("ui-cp-2"),
                                     until_complete=True, state_backend=backend)
    assert second.wait(HANG_GUARD_S)
    panel = view.topology("cp")["checkpoints"]
    assert panel["restoreCount"] == 1 and panel["restored"]["id"] == cs.last_txid
    cluster.kill_topology("cp")


def test_checkpoints_panel_reports_a_failed_checkpoint_with_its_id():
    class T:
        name = "f"
        running = True

        def __init__(self):
            self.cs = CheckpointStats(completed=2, last_txid=2, total_s=0.004, max_s=0.003, last_s=0.002,
                                      last_completed_at=1_700_000_000.5)

        def checkpoint_stats(self):
            return [self.cs]

    t = T()
    view = ClusterView(type("S", (), {"started_at": 0.0, "topologies": lambda self: {"f": t}})())
    assert view.checkpoints(t)["lastCompleted"] == {"id": 2, "timestamp": 1_700_000_000_500, "durationMs": 2.0}
    assert view.checkpoints(t)["lastFailed"] is None
    t.cs.failed = 1
    t.cs.errors.append("checkpoint 3 failed: OSError: disk full")
    panel = view.checkpoints(t)
    assert panel["lastFailed"]["id"] == 3 and "disk full" in panel["lastFailed"]["error"]
    assert panel["lastFailed"]["timestamp"] > 0
    t.cs.completed, t.cs.last_txid, t.cs.last_s, t.cs.last_completed_at = 3, 3, 0.006, 1_700_000_001.0
    panel = view.checkpoints(t)
    assert panel["lastCompleted"] == {"id": 3, "timestamp": 1_700_000_001_000, "durationMs": 6.0}
    assert panel["lastFailed"]["id"] == 3, "a later completed checkpoint keeps the last failure shown"
    assert view.checkpoints(type("N", (), {"name": "n", "checkpoint_stats": lambda self: []})()) is None


# -- live rules -----------------------------------------------------------------------------------

RULE = "@Name('fast') select car, avg(speed) as avg_speed from Car#length_batch(20) group by car"


class Cars(Spout):
    def declare_output_fields(self, declarer):
        declarer.declare(["car", "speed"])

    def open(self, config, context, collector):
        self.collector = collector
        self.n = 0

    def next_tuple(self):
        self.collector.emit([f"car{self.n % 5}", 60 + (self.n * 7) % 50], message_id=self.n)
        self.n += 1
        time.sleep(0.0005)


@pytest.fixture
def cep_running(cluster, tmp_path):
    from squall.cep.bolt import CepBolt

    b = TopologyBuilder()
    b.set_spout("cars", Cars())
    b.set_bolt("rule", CepBolt(RULE, "Car", rules_dir=tmp_path / "rules")).shuffle_grouping("cars")
    b.set_bolt("sink", Sink()).shuffle_grouping("rule")
    handle = cluster.submit_topology("cars", {MAX_SPOUT_PENDING: 64}, b.build())
    eventually(lambda: handle.stats()["rule"].emitted > 0, "the rule emits")
    return handle


def _statements(client):
    return client.get("/api/v1/topology/cars/rules").json()["statements"]


def test_rules_list_each_statement_with_events_in_and_rows_out(cep_running, client):
    (st,) = eventually(lambda: [s for s in _statements(client) if s["eventsIn"] > 0], "events reach the rule")
    assert (st["component"], st["name"], st["text"], st["stream"], st["live"]) == ("rule", "fast", RULE, "default", True)
    assert st["rowsOut"] > 0
    assert client.get("/api/v1/topology/ops/rules").status_code == 404


def test_a_rule_file_that_does_not_compile_is_refused_with_its_line_and_column(cep_running, client):
    bad = "@Name('fast') select car, avg(speed) as avg_speed\nfrom Car#length_batch(20) group car"
    r = client.post("/api/v1/topology/cars/rules/rule", headers=AUTH, json={"rules": bad})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "422 Unprocessable Entity" and "line 2, column 33" in body["errorMessage"]
    assert [(e["name"], e["line"], e["column"]) for e in body["errors"]] == [("fast", 2, 33)]
    # The old rule runs on, and keeps counting.
    before = _statements(client)[0]
    assert before["text"] == RULE
    eventually(lambda: _statements(client)[0]["eventsIn"] > before["eventsIn"], "the old rule takes events")


def test_a_rule_file_that_compiles_is_applied_by_the_running_bolt(cep_running, client):
    changed = RULE.replace("length_batch(20)", "length_batch(10)")
    r = client.post("/api/v1/topology/cars/rules/rule", headers=AUTH, json={"rules": changed})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success" and body["installed"] is True
    assert [(t["component"], [(x["name"], x["action"]) for x in t["results"]]) for t in body["tasks"]] == \
        [("rule", [("fast", "changed")])]
    assert _statements(client)[0]["text"] == changed
    # A version selecting other columns compiles, but the bolt keeps its stream's fields.
    r = client.post("/api/v1/topology/cars/rules/rule", headers=AUTH,
                    json={"rules": "@Name('fast') select car from Car#length_batch(10)"})
    (result,) = r.json()["tasks"][0]["results"]
    assert (result["action"], result["kept"]) == ("rejected", True)
    assert _statements(client)[0]["text"] == changed


def test_rules_action_needs_the_token_a_cep_bolt_and_json(cep_running, client):
    assert client.post("/api/v1/topology/cars/rules/rule", json={"rules": RULE}).status_code == 401
    r = client.post("/api/v1/topology/cars/rules/sink", headers=AUTH, json={"rules": RULE})
    assert r.status_code == 409 and "not a CEP bolt" in r.json()["errorMessage"]
    r = client.post("/api/v1/topology/cars/rules/rule", headers=AUTH, content=b"select")
    assert r.status_code == 400 and "JSON" in r.json()["errorMessage"]
    assert client.post("/api/v1/topology/cars/rules/nope", headers=AUTH, json={"rules": RULE}).status_code == 404


# -- log levels -------------------------------------------------------------------------------------

def test_logconfig_sets_a_level_for_its_timeout_then_restores_it(running, client):
    logger = logging.getLogger("squall.ui.test.dynamic")
    logger.setLevel(logging.WARNING)
    r = client.post("/api/v1/topology/ops/logconfig", headers=AUTH,
                    json={"namedLoggerLevels": {"squall.ui.test.dynamic": {"target_level": "DEBUG", "timeout": 1}}})
    assert r.status_code == 200
    entry = r.json()["namedLoggerLevels"]["squall.ui.test.dynamic"]
    assert (entry["target_level"], entry["reset_level"], entry["timeout"]) == ("DEBUG", "WARN", 1)
    assert entry["timeout_epoch"] > time.time() * 1000
    assert logger.level == logging.DEBUG
    assert "squall.ui.test.dynamic" in client.get("/api/v1/topology/ops/logconfig").json()["namedLoggerLevels"]
    eventually(lambda: logger.level == logging.WARNING, "the level is restored after its timeout")
    # The UI's answer follows within its refresh period.
    eventually(lambda: client.get("/api/v1/topology/ops/logconfig").json() == {"namedLoggerLevels": {}},
               "the UI shows no level set")


def test_logconfig_null_restores_at_once_and_bad_requests_change_nothing(running, client):
    logger = logging.getLogger("squall.ui.test.other")
    logger.setLevel(logging.ERROR)
    path = "/api/v1/topology/ops/logconfig"
    client.post(path, headers=AUTH, json={"namedLoggerLevels": {"squall.ui.test.other": {"target_level": "INFO",
                                                                                        "timeout": 0}}})
    assert logger.level == logging.INFO
    assert client.get(path).json()["namedLoggerLevels"]["squall.ui.test.other"]["timeout_epoch"] == 0
    r = client.post(path, headers=AUTH, json={"namedLoggerLevels": {
        "squall.ui.test.other": {"target_level": "DEBUG", "timeout": 5},
        "squall.ui.test.third": {"target_level": "LOUD", "timeout": 5}}})
    assert r.status_code == 400 and "LOUD" in r.json()["errorMessage"]
    assert logger.level == logging.INFO
    for bad in ({"namedLoggerLevels": {"a/b": {"target_level": "INFO", "timeout": 1}}},
                {"namedLoggerLevels": {"x": {"target_level": "INFO", "timeout": -1}}}, {"nope": 1}):
        assert client.post(path, headers=AUTH, json=bad).status_code == 400, bad
    client.post(path, headers=AUTH, json={"namedLoggerLevels": {"squall.ui.test.other": {"target_level": None,
                                                                                        "timeout": 0}}})
    assert logger.level == logging.ERROR
    assert client.post(path, json={"namedLoggerLevels": {}}).status_code == 401


# -- event sampling (debug) -------------------------------------------------------------------------

def test_debug_samples_a_components_tuples_until_disabled(running, client):
    r = client.post("/api/v1/topology/ops/component/split/debug/enable/50", headers=AUTH)
    assert r.json() == {"topologyOperation": "debug/enable", "topologyId": "ops", "status": "success"}
    page = client.get("/api/v1/topology/ops/component/split").json()
    assert (page["debug"], page["samplingPct"]) == (True, 50)
    assert client.get("/api/v1/topology/ops/component/numbers").json()["debug"] is False
    events = eventually(lambda: client.get("/api/v1/topology/ops/events").json()["events"], "tuples are sampled")
    assert {e["component"] for e in events} == {"split"}
    assert {e["stream"] for e in events} <= {"default", "odd"}
    split_tasks = running.worker.topology.task_ids("split")
    assert all(isinstance(e["values"][0], int) and e["task"] in split_tasks for e in events)
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    last = events[-1]["seq"]
    assert all(e["seq"] > last for e in client.get(f"/api/v1/topology/ops/events?after={last}").json()["events"])
    client.post("/api/v1/topology/ops/component/split/debug/disable/0", headers=AUTH)
    assert client.get("/api/v1/topology/ops/component/split").json()["debug"] is False
    freeze(client, running)
    seen = client.get("/api/v1/topology/ops/events").json()["events"][-1]["seq"]
    frozen = running.stats()["numbers"].acked
    client.post("/api/v1/topology/ops/activate", headers=AUTH)
    eventually(lambda: running.stats()["numbers"].acked > frozen + 500, "the topology runs again")
    assert client.get(f"/api/v1/topology/ops/events?after={seen}").json()["events"] == []
    # The routes are restored: every tuple still reaches its subscribers.
    freeze(client, running)
    stats = running.stats()
    assert stats["split"].emitted == stats["sink"].executed


def test_debug_validates_action_percentage_component_and_token(running, client):
    for path, status in (("debug/enable/101", 400), ("debug/start/10", 400), ("debug/enable/x", 400),
                         ("component/nope/debug/enable/10", 404)):
        assert client.post(f"/api/v1/topology/ops/{path}", headers=AUTH).status_code == status, path
    assert client.post("/api/v1/topology/ops/debug/enable/10").status_code == 401
    assert client.get("/api/v1/topology/ops").json()["debug"] is False
    assert client.post("/api/v1/topology/ops/debug/enable/10", headers=AUTH).status_code == 200
    t = client.get("/api/v1/topology/ops").json()
    assert (t["debug"], t["samplingPct"]) == (True, 10)


# -- rebalance --------------------------------------------------------------------------------------

def test_rebalance_answers_501_on_the_local_runtime_after_checking_the_request(running, client):
    r = client.post("/api/v1/topology/ops/rebalance/0", headers=AUTH,
                    json={"rebalanceOptions": {"numWorkers": 2, "executors": {"split": "3"}}})
    assert r.status_code == 501
    assert r.json()["error"] == "501 Not Implemented" and "cluster runtime" in r.json()["errorMessage"]
    assert client.post("/api/v1/topology/ops/rebalance/0", headers=AUTH,
                       json={"rebalanceOptions": {"numWorkers": 0}}).status_code == 400
    assert client.post("/api/v1/topology/ops/rebalance/0").status_code == 401
    assert client.post("/api/v1/topology/nope/rebalance/0", headers=AUTH).status_code == 404
    assert client.get("/api/v1/topology/ops").json()["status"] == "ACTIVE"


# -- cross-site requests --------------------------------------------------------------------------

def test_an_action_from_another_sites_page_is_refused(running, client, ui):
    r = client.post("/api/v1/topology/ops/deactivate", headers={**AUTH, "Origin": "http://evil.example"})
    assert r.status_code == 403 and "evil.example" in r.json()["errorMessage"]
    assert client.get("/api/v1/topology/ops").json()["status"] == "ACTIVE"
    r = client.post("/api/v1/topology/ops/deactivate", headers={**AUTH, "Origin": ui.url})
    assert r.status_code == 200


# -- dashboards --------------------------------------------------------------------------------------

def test_dashboard_turns_counters_into_rates_between_samples():
    now = [0.0]
    counts = iter([0, 10, 10, 40])
    board = Dashboard("d", lambda: {"counters": {"records": next(counts)}, "figures": {"rows": 3},
                                    "lists": {"cars": {"b", "a"}}}, min_interval_s=1.0, clock=lambda: now[0])
    assert board.read()["series"] == {"records": []}
    now[0] = 2.0
    board.read()
    now[0] = 2.5              # younger than min_interval_s after the last sample: not kept
    board.read()
    now[0] = 5.0
    out = board.read()
    assert [rate for _, rate in out["series"]["records"]] == [5.0, 10.0]
    assert out["counters"] == {"records": 40} and out["figures"] == {"rows": 3}
    assert out["lists"] == {"cars": ["a", "b"]} and out["title"] == "d"
    with pytest.raises(DashboardError, match="'d'.*records"):
        Dashboard("d", lambda: {"counters": {"records": "many"}}).read()


def test_dashboards_are_served_and_a_failing_provider_is_a_json_error(cluster):
    def broken():
        raise OSError("store unreachable")

    boards = {"demo": lambda: {"title": "Demo", "figures": {"stored": 7}}, "broken": broken}
    with serve(cluster, port=0, dashboards=boards) as ui, httpx.Client(base_url=ui.url) as c:
        assert c.get("/api/v1/dashboard").json() == {"dashboards": ["broken", "demo"]}
        d = c.get("/api/v1/dashboard/demo").json()
        assert (d["title"], d["figures"]) == ("Demo", {"stored": 7})
        r = c.get("/api/v1/dashboard/broken")
        assert r.status_code == 500 and "store unreachable" in r.json()["errorMessage"]
        assert "Traceback" not in r.text
        assert c.get("/api/v1/dashboard/none").status_code == 404


# -- OpenAPI, serve_forever ------------------------------------------------------------------------

def test_openapi_describes_every_endpoint_and_no_page_loads_a_cdn(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/cluster/summary", "/api/v1/nimbus/summary", "/api/v1/supervisor/summary",
                 "/api/v1/topology/{topology_id}/visualization", "/api/v1/topology/{topology_id}/lag",
                 "/api/v1/topology/{topology_id}/rebalance/{wait_time}", "/api/v1/topology/{topology_id}/logconfig",
                 "/api/v1/topology/{topology_id}/debug/{action}/{spct}", "/api/v1/topology/{topology_id}/rules",
                 "/api/v1/dashboard/{name}"):
        assert path in paths, path
    # FastAPI's /docs and /redoc pages load their scripts from a CDN: not served.
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    for page in ("/events.html", "/dashboard.html"):
        r = client.get(page)
        assert r.status_code == 200 and "http" not in r.text and 'src="/static/squall.js"' in r.text


def test_serve_forever_prints_the_address_and_a_generated_token(cluster, monkeypatch):
    monkeypatch.delenv("SQUALL_UI_TOKEN", raising=False)
    out, stop = io.StringIO(), threading.Event()
    thread = threading.Thread(target=serve_forever, args=(cluster,),
                              kwargs={"port": 0, "out": out, "stop": stop}, daemon=True)
    thread.start()
    eventually(lambda: "token for actions" in out.getvalue(), "the token is printed")
    url_line, token_line = out.getvalue().splitlines()
    url = url_line.split(" at ", 1)[1].rstrip("/")
    token = token_line.rsplit(" ", 1)[1]
    assert url.startswith("http://127.0.0.1:") and len(token) >= 24
    with httpx.Client(base_url=url) as c:
        assert c.post("/api/v1/topology/x/activate", headers={"Authorization": f"Bearer {token}"}).status_code == 404
        assert c.post("/api/v1/topology/x/activate", headers={"Authorization": "Bearer no"}).status_code == 401
    stop.set()
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive()
