"""The UI in a process of its own (squall.ui.snapshot, squall.ui.ui_process): the frames
on its socket, how often polling reaches the runtime's process, dashboards read only on
demand, the token kept off the command line, and the process ending with its runtime."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time

import pytest

pytest.importorskip("squall.ui")
httpx = pytest.importorskip("httpx")

from squall.config import MAX_SPOUT_PENDING
from squall.ui import serve
from squall.ui.snapshot import (
    MAX_FRAME_BYTES,
    Channel,
    ChannelClosedError,
    RemoteCallError,
    SnapshotSource,
)
from squall.ui.views import as_source
from tests.ui.ui_topos import numbers
from tests.ui.uikit import AUTH, TOKEN, eventually

# -- frames ------------------------------------------------------------------------------------------


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    ours, theirs = Channel(a), Channel(b)
    yield ours, theirs
    ours.close()
    theirs.close()


def test_a_frame_carries_one_json_object_and_unknown_values_as_text(pair):
    ours, theirs = pair
    ours.send({"t": "x", "n": [1, 2.5, None], "odd": object})
    got = theirs.recv()
    assert got["t"] == "x" and got["n"] == [1, 2.5, None] and got["odd"].startswith("<class")


@pytest.mark.parametrize("frame, reason", [
    (struct.pack(">I", MAX_FRAME_BYTES + 1), "over the limit"),
    (struct.pack(">I", 5) + b"nope!", "not JSON"),
    (struct.pack(">I", 2) + b"[]", "not an object"),
    (struct.pack(">I", 10) + b"{}", "middle of a frame"),
])
def test_a_frame_that_is_not_a_json_object_within_the_limit_closes_the_channel(frame, reason):
    a, b = socket.socketpair()
    channel = Channel(b)
    a.sendall(frame)
    a.close()
    with pytest.raises(ChannelClosedError, match=reason):
        channel.recv()
    channel.close()


def test_a_call_without_an_answer_fails_when_the_runtime_closes_the_channel(pair):
    ours, theirs = pair
    source = SnapshotSource(ours)
    receiver = threading.Thread(target=source.receive_forever, daemon=True)
    receiver.start()
    failures = []

    def act():
        try:
            source.activate("t")
        except RemoteCallError as exc:
            failures.append(str(exc))
    caller = threading.Thread(target=act, daemon=True)
    caller.start()
    assert theirs.recv()["op"] == "activate"      # the call arrived; the runtime goes away
    theirs.close()
    caller.join(30)
    receiver.join(30)
    assert failures and "closed" in failures[0]


# -- through serve() ------------------------------------------------------------------------------


class CountingSource:
    """A LocalCluster's source that counts how often the UI's figures are read."""

    def __init__(self, cluster):
        self.inner = as_source(cluster)
        self.reads = 0
        self.started_at = self.inner.started_at

    def topologies(self):
        self.reads += 1
        return self.inner.topologies()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_polling_reads_the_runtime_at_most_once_per_refresh_period(cluster):
    cluster.submit_topology("n", {MAX_SPOUT_PENDING: 16}, numbers().build())
    source = CountingSource(cluster)
    with serve(source, port=0, token=TOKEN, sample_s=3600, refresh_s=0.5) as ui, \
            httpx.Client(base_url=ui.url) as client:
        eventually(lambda: client.get("/api/v1/topology/n").status_code == 200, "the topology is served")
        before, t0 = source.reads, time.monotonic()
        for _ in range(40):
            for path in ("/api/v1/topology/n", "/metrics", "/api/v1/topology/summary", "/api/v1/cluster/summary"):
                assert client.get(path).status_code == 200, path
        elapsed = time.monotonic() - t0
        # 160 answers; a snapshot (one read) whenever the last is older than 0.5 s.
        assert source.reads - before <= elapsed / 0.5 + 2, (source.reads - before, elapsed)
        assert client.get("/api/v1/topology/n").json()["spouts"][0]["emitted"] > 0


def test_a_dashboard_provider_is_called_only_when_its_dashboard_is_read(cluster):
    calls = []

    def provider():
        calls.append(time.monotonic())
        return {"title": "Counting", "counters": {"calls": len(calls)}}

    with serve(cluster, port=0, sample_s=3600, dashboards={"d": provider}, dashboard_s=1.0) as ui, \
            httpx.Client(base_url=ui.url) as client:
        for _ in range(30):
            client.get("/api/v1/topology/summary")
            client.get("/api/v1/dashboard/nope")         # an unknown dashboard costs nothing either
        assert calls == []
        t0 = time.monotonic()
        answers = [client.get("/api/v1/dashboard/d").json() for _ in range(30)]
        elapsed = time.monotonic() - t0
        assert answers[-1]["title"] == "Counting" and answers[-1]["counters"]["calls"] == len(calls)
        assert 1 <= len(calls) <= elapsed / 1.0 + 2, (len(calls), elapsed)


def test_the_token_travels_over_the_socket_not_the_command_line(cluster):
    with serve(cluster, port=0, token=TOKEN) as ui, httpx.Client(base_url=ui.url) as client:
        with open(f"/proc/{ui.pid}/cmdline", "rb") as fh:
            cmdline = fh.read().decode()
        assert "squall.ui.ui_process" in cmdline and TOKEN not in cmdline
        assert ui.pid != os.getpid()
        assert client.post("/api/v1/topology/none/activate", headers=AUTH).status_code == 404
        assert client.post("/api/v1/topology/none/activate").status_code == 401


def test_the_ui_process_ends_with_stop_and_the_address_is_free_again(cluster):
    ui = serve(cluster, port=0)
    port, pid = ui.port, ui.pid
    ui.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_snapshots_round_trip_the_figures_the_views_read(cluster):
    from squall.ui.snapshot import SnapshotPublisher

    handle = cluster.submit_topology("n", {MAX_SPOUT_PENDING: 16}, numbers().build())
    eventually(lambda: handle.stats()["numbers"].acked > 5, "some trees complete")
    a, b = socket.socketpair()
    publisher, source = SnapshotPublisher(as_source(cluster), Channel(a)), SnapshotSource(Channel(b))
    data = json.loads(json.dumps(publisher.snapshot()))
    source.apply(data)
    (t,) = source.topologies().values()
    shape = t.shape
    assert shape.topological_order() == ["numbers", "sink"] and shape.components["numbers"].is_spout
    assert [(i.source.component, i.grouping) for i in shape.components["sink"].inputs] == [("numbers", "shuffle")]
    stats = t.stats()
    assert stats["numbers"].acked == data["topologies"]["n"]["stats"]["numbers"]["acked"] > 5
    assert {kind: h.count for kind, h in stats["sink"].latency_histograms.items()} == \
        {kind: h[0] for kind, h in data["topologies"]["n"]["stats"]["sink"]["latency_histograms"].items()}
    assert [e.task_ids for e in t.executors()] == [tuple(e["task_ids"]) for e in data["topologies"]["n"]["executors"]]
    assert t.running and t.active() and t.workers()[0].pid == os.getpid()
    a.close()
    b.close()
