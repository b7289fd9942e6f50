"""The UI over the Ray cluster runtime (squall.ui.ray_source.RaySource): a real Ray
started in this process, a slow topology on 2 worker processes, the REST answers with
Storm's field names for the cluster, Nimbus, supervisors and the topology page (their
figures equal the workers' own once the topology is deactivated and quiet), the actions
carried out in the worker processes (deactivate/activate, event sampling, log level,
kill), and the cluster page listing both worker processes in a real browser."""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import threading
import time

import pytest

pytest.importorskip("ray")
pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from squall.config import MAX_SPOUT_PENDING
from squall.ui import serve
from squall.ui.ray_source import RaySource
from tests.cluster.ray_topos import slow_numbers
from tests.ui.uikit import eventually, until

TOKEN = "ray-t0ken"
NAME = "ui-slow"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_HANG_GUARD_S = 120.0     # only fails a test that would otherwise hang


@pytest.fixture(scope="module")
def ray_ui():
    from squall.cluster import RayCluster

    cluster = RayCluster(num_cpus=2)
    try:
        # 100,000 numbers through 2 slow tasks at 10 ms each: it runs for the whole module.
        handle = cluster.submit_topology(NAME, {MAX_SPOUT_PENDING: 50},
                                         slow_numbers(100_000, "ui-ray-sink", "ui-ray-src", 0.01),
                                         workers=2)
        with serve(RaySource(cluster), port=0, token=TOKEN) as server, \
                httpx.Client(base_url=server.url, timeout=30) as client:
            yield cluster, handle, server, client
    finally:
        cluster.shutdown()


def _until(check, what):
    """Ray calls polled every 0.1 s, for up to 2 minutes."""
    return eventually(check, what, guard_s=_HANG_GUARD_S, every_s=0.1)


def _worker_pids(handle):
    def answered():
        statuses = handle.statuses()
        return statuses if None not in statuses else None
    return {s["index"]: s["pid"] for s in _until(answered, "both workers answer")}


def test_cluster_nimbus_and_supervisor_summaries_have_storms_fields(ray_ui):
    import ray

    cluster, handle, _, client = ray_ui
    pids = _worker_pids(handle)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    cl = client.get("/api/v1/cluster/summary").json()
    assert {"stormVersion", "supervisors", "topologies", "slotsTotal", "slotsUsed", "slotsFree",
            "executorsTotal", "tasksTotal", "nimbusUptime", "nimbusUptimeSeconds"} <= set(cl)
    # 3 components of parallelism 2 over 2 workers: one task, one executor of each per worker.
    assert (cl["supervisors"], cl["topologies"], cl["slotsUsed"], cl["executorsTotal"], cl["tasksTotal"]) \
        == (1, 1, 2, 6, 6)

    (nimbus,) = client.get("/api/v1/nimbus/summary").json()["nimbuses"]
    assert {"host", "port", "status", "version", "nimbusUpTime", "nimbusUpTimeSeconds", "nimbusLogLink"} <= set(nimbus)
    ping = ray.get(cluster.nimbus.ping.remote())
    assert nimbus["status"] == "Leader" and nimbus["pid"] == ping["pid"] != os.getpid()
    assert nimbus["nimbusUpTimeSeconds"] == pytest.approx(time.time() - ping["started"], abs=2)

    (sup,) = client.get("/api/v1/supervisor/summary").json()["supervisors"]
    (node,) = [n for n in ray.nodes() if n["Alive"]]
    assert {"id", "host", "uptime", "uptimeSeconds", "slotsTotal", "slotsUsed", "totalMem", "totalCpu",
            "usedMem", "usedCpu"} <= set(sup)
    assert (sup["id"], sup["host"], sup["slotsUsed"], sup["totalCpu"]) == \
        (node["NodeID"], node["NodeManagerAddress"], 2, 200.0)
    assert {(w["topologyId"], w["worker"], w["pid"]) for w in sup["workers"]} == \
        {(NAME, i, pid) for i, pid in pids.items()}


def test_topology_summary_and_page_have_storms_fields_and_the_workers_figures(ray_ui):
    import ray

    _, handle, _, client = ray_ui
    pids = _worker_pids(handle)
    (row,) = client.get("/api/v1/topology/summary").json()["topologies"]
    assert {k: row[k] for k in ("id", "name", "status", "workersTotal", "executorsTotal", "tasksTotal")} == \
        {"id": NAME, "name": NAME, "status": "ACTIVE", "workersTotal": 2, "executorsTotal": 6, "tasksTotal": 6}
    _until(lambda: handle.stats()["sink"].executed > 20, "tuples reach the sink")

    # Deactivated and quiet, the page's figures must equal the workers' own.
    assert client.post(f"/api/v1/topology/{NAME}/deactivate", headers=AUTH).json()["status"] == "success"
    _until(lambda: client.get(f"/api/v1/topology/{NAME}").json()["status"] == "INACTIVE", "INACTIVE")
    _until(lambda: all(s is not None and s["pending"] == 0 and s["queued"] == 0 for s in handle.statuses()),
           "the trees in flight complete")
    time.sleep(0.5)                     # past the source's refresh: a fresh round
    page = client.get(f"/api/v1/topology/{NAME}").json()
    stats = handle.stats()
    assert {"msgTimeout", "topologyStats", "spouts", "bolts", "workers", "window"} <= set(page)
    assert page["workersTotal"] == 2 and page["status"] == "INACTIVE"
    (spout,) = page["spouts"]
    assert spout["spoutId"] == "numbers" and (spout["emitted"], spout["acked"], spout["failed"]) == \
        (stats["numbers"].emitted, stats["numbers"].acked, 0)
    assert spout["acked"] == spout["emitted"] > 20, "every tree emitted completed"
    bolts = {b["boltId"]: b for b in page["bolts"]}
    assert set(bolts) == {"slow", "sink"}
    for name in ("slow", "sink"):
        assert (bolts[name]["executed"], bolts[name]["acked"], bolts[name]["executors"], bolts[name]["tasks"]) \
            == (stats[name].executed, stats[name].acked, 2, 2)
        assert {"capacity", "executeLatency", "processLatency", "lastError", "transferred"} <= set(bolts[name])
    all_time = next(w for w in page["topologyStats"] if w["window"] == ":all-time")
    assert all_time["acked"] == spout["acked"]
    assert {(w["worker"], w["pid"], w["supervisorId"]) for w in page["workers"]} == \
        {(i, pid, ray.nodes()[0]["NodeID"]) for i, pid in pids.items()}

    from prometheus_client import parser

    executed = {s.labels["component"]: s.value
                for family in parser.text_string_to_metric_families(client.get("/metrics").text)
                for s in family.samples if s.name == "squall_executed_total" and s.labels["topology"] == NAME}
    assert executed == {"slow": stats["slow"].executed, "sink": stats["sink"].executed}

    component = client.get(f"/api/v1/topology/{NAME}/component/slow").json()
    rows = component["executorStats"]
    assert sorted(r["worker"] for r in rows) == [0, 1], "one executor of slow in each worker"
    assert sum(r["executed"] for r in rows) == bolts["slow"]["executed"]
    assert [s["stream"] for s in component["outputStats"]] == ["default"]

    assert client.post(f"/api/v1/topology/{NAME}/activate", headers=AUTH).json()["status"] == "success"
    _until(lambda: handle.stats()["sink"].executed > stats["sink"].executed, "activated: tuples flow again")
    assert client.get(f"/api/v1/topology/{NAME}").json()["status"] == "ACTIVE"


def test_event_sampling_collects_tuples_from_the_worker_processes(ray_ui):
    _, _, _, client = ray_ui
    assert client.post(f"/api/v1/topology/{NAME}/component/slow/debug/enable/100",
                       headers=AUTH).status_code == 200
    events = _until(lambda: client.get(f"/api/v1/topology/{NAME}/events").json()["events"],
                    "sampled tuples arrive")
    assert {e["component"] for e in events} == {"slow"}
    assert all(len(e["values"]) == 2 and e["values"][1] == f"n{e['values'][0]}" for e in events)
    client.post(f"/api/v1/topology/{NAME}/debug/disable/0", headers=AUTH)
    time.sleep(1.5)                     # the collector's last round
    seq = client.get(f"/api/v1/topology/{NAME}/events").json()["events"][-1]["seq"]
    time.sleep(1.5)
    assert client.get(f"/api/v1/topology/{NAME}/events?after={seq}").json()["events"] == []


def test_a_log_level_is_set_in_the_worker_processes(ray_ui):
    import ray

    _, handle, _, client = ray_ui
    body = {"namedLoggerLevels": {"squall.test.uiray": {"target_level": "DEBUG", "timeout": 60}}}
    answer = client.post(f"/api/v1/topology/{NAME}/logconfig", headers=AUTH, json=body)
    assert answer.status_code == 200
    levels = ray.get([w.__ray_call__.remote(lambda _: logging.getLogger("squall.test.uiray").level)
                      for w in handle.workers()])
    assert levels == [logging.DEBUG, logging.DEBUG]
    client.post(f"/api/v1/topology/{NAME}/logconfig", headers=AUTH,
                json={"namedLoggerLevels": {"squall.test.uiray": {"target_level": None}}})
    levels = ray.get([w.__ray_call__.remote(lambda _: logging.getLogger("squall.test.uiray").level)
                      for w in handle.workers()])
    assert levels == [logging.NOTSET, logging.NOTSET]


def test_rebalance_goes_to_the_cluster_runtime_and_its_refusal_is_a_409(ray_ui):
    _, _, _, client = ray_ui
    # This topology has no state backend: the cluster refuses to move it (its spouts'
    # positions would be lost), and the API says why.
    answer = client.post(f"/api/v1/topology/{NAME}/rebalance/0", headers=AUTH,
                         json={"rebalanceOptions": {"numWorkers": 1}})
    assert answer.status_code == 409 and "needs checkpoints" in answer.json()["errorMessage"]


def test_the_cluster_page_lists_both_worker_processes(ray_ui, browser):
    from selenium.webdriver.common.by import By

    _, handle, server, _ = ray_ui
    pids = _worker_pids(handle)
    browser.get(server.url + "/")

    def shown(d):
        out = {}
        for i in pids:
            cells = d.find_elements(By.CSS_SELECTOR, f'#worker-processes tr[data-id="{NAME}/{i}"] td[data-field="pid"]')
            if not cells or not cells[0].text:
                return None
            out[i] = int(cells[0].text)
        return out

    assert until(browser, shown, "the worker processes are listed", _HANG_GUARD_S) == pids

    def workers_total(d):
        cells = d.find_elements(By.CSS_SELECTOR, f'#topologies tr[data-id="{NAME}"] td[data-field="workersTotal"]')
        return cells[0].text if cells else None
    assert until(browser, workers_total, "the topology is listed", _HANG_GUARD_S) == "2"


def test_squall_ui_serves_the_cluster_it_joins(ray_ui):
    """``squall ui`` (CliRunner, in this process: Ray is up here, so ``auto`` joins it)
    until a SIGINT, as a user's Ctrl-C."""
    from click.testing import CliRunner

    from squall.ui.cli import ui

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seen = {}

    def poke():
        try:
            deadline = time.monotonic() + _HANG_GUARD_S
            while time.monotonic() < deadline and "summary" not in seen:
                try:
                    seen["summary"] = httpx.get(f"http://127.0.0.1:{port}/api/v1/topology/summary", timeout=10).json()
                except httpx.TransportError:
                    time.sleep(0.05)
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    poker = threading.Thread(target=poke, daemon=True)
    poker.start()
    result = CliRunner().invoke(ui, ["--address", "auto", "--port", str(port)], env={"SQUALL_UI_TOKEN": ""})
    poker.join(_HANG_GUARD_S)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Squall UI at http://127.0.0.1:{port}/"
    assert lines[1].startswith("token for actions (Authorization: Bearer): ") and len(lines[1].split()[-1]) == 32
    (row,) = seen["summary"]["topologies"]
    assert (row["id"], row["workersTotal"], row["executorsTotal"]) == (NAME, 2, 6)


def test_start_ui_serves_a_ray_cluster_through_its_source(ray_ui):
    from squall.ui.cli import start_ui

    cluster, _, _, _ = ray_ui
    out = io.StringIO()
    server = start_ui(cluster, "127.0.0.1", 0, TOKEN, out=out)
    try:
        assert out.getvalue() == (f"Squall UI at {server.url}/ (token for actions: the one given "
                                  f"(--ui-token or $SQUALL_UI_TOKEN))\n")
        (row,) = httpx.get(server.url + "/api/v1/topology/summary").json()["topologies"]
        assert (row["id"], row["workersTotal"]) == (NAME, 2)
    finally:
        server.stop()


def test_kill_from_the_ui_stops_the_worker_processes(ray_ui):
    cluster, _, _, client = ray_ui
    assert client.post(f"/api/v1/topology/{NAME}/kill/0", headers=AUTH).json()["status"] == "success"
    _until(lambda: cluster.list_topologies() == [], "the cluster forgets the topology")
    assert client.get("/api/v1/topology/summary").json()["topologies"] == []
    assert client.get(f"/api/v1/topology/{NAME}").status_code == 404
