"""Scaling on the cluster runtime: the local runtime, then 1 and 2 Ray worker processes,
on the same inputs; worker recovery after SIGKILL; transfer cost between workers.

    python benchmarks/scaling.py [--words N] [--repeat N]

* WordCount: the input of ``benchmarks/wordcount.py`` (Zipf words, 10 per line, seed
  42); lines (2 spout tasks) -> split (2 tasks, local-or-shuffle) -> count (2 tasks,
  fields grouping; each emits its counts at the end of the input), acking on. Every run's counts are checked against a bare loop's.
* Smart-car replay: the pipeline of ``squall smartcar run`` on the fleet of
  ``tests.reference_data`` (all of ``../shared/data/carobd`` when present, else the
  sample trips), embedded stores, at-least-once without checkpoints; its row count is
  checked.
* Throughput is records (words, trip records) per second of processing: from the moment
  every worker has opened its tasks until every spout is exhausted (the local runtime:
  the whole bounded run), so Ray's process start-up (reported apart,
  ``cluster_startup_s``) is not charged to the topology.
* Worker recovery: a slow topology on 2 workers, one worker SIGKILLed; seconds until
  Ray's restarted process answers again (its tasks rebuilt and opened).
* Transfer cost: a spout on one worker feeding a sink on the other (no acking), minus
  the same topology in one local process, per tuple.

The last line is JSON with ``wordcount_local``, ``wordcount_1w``, ``wordcount_2w``,
``smartcar_local``, ``smartcar_1w``, ``smartcar_2w`` (per second), ``worker_recovery_s``,
``rebalance_pause_s`` (1 -> 2 workers of a checkpointed keyed count), ``transfer_us_per_tuple``
and the ratios ``wordcount_2w_vs_1w``, ``smartcar_2w_vs_1w``. With ``--repeat N`` every
throughput is the median of N runs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from squall import Bolt, Spout, TopologyBuilder  # noqa: E402
from squall.config import ACKER_EXECUTORS, MAX_SPOUT_PENDING, MESSAGE_TIMEOUT_SECS  # noqa: E402
from squall.factory import ComponentFactory  # noqa: E402
from squall.runtime import run_topology  # noqa: E402
from squall.testing import ListSink  # noqa: E402
from wordcount import make_lines  # noqa: E402


class LineSpout(Spout):
    """Task i of n emits lines i, i+n, ...; replays a line whose tree failed."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def declare_output_fields(self, declarer):
        declarer.declare(["line"])

    def open(self, config, context, collector):
        self.emit = collector.emit
        self.todo = list(range(context.task_index, len(self.lines), len(context.component_tasks)))[::-1]
        self.pending = 0

    def next_tuple(self):
        if self.todo:
            i = self.todo.pop()
            self.pending += 1
            self.emit([self.lines[i]], message_id=i)

    def ack(self, msg_id):
        self.pending -= 1

    def fail(self, msg_id):
        self.pending -= 1
        self.todo.append(msg_id)

    def emitted_all(self):
        return not self.todo

    def exhausted(self):
        return not self.todo and not self.pending


class SplitBolt(Bolt):
    def declare_output_fields(self, declarer):
        declarer.declare(["word"])

    def prepare(self, config, context, collector):
        self.emit = collector.emit
        self.ack = collector.ack

    def process(self, tup):
        emit, anchors = self.emit, (tup,)
        for word in tup.values[0].split():
            emit([word], "default", anchors)
        self.ack(tup)


class CountBolt(Bolt):
    """Counts words; at the end of the input emits its counts (one tuple per task)."""

    def declare_output_fields(self, declarer):
        declarer.declare(["counts"])

    def prepare(self, config, context, collector):
        self.collector = collector
        self.ack = collector.ack
        self.counts: dict[str, int] = {}

    def process(self, tup):
        w = tup.values[0]
        self.counts[w] = self.counts.get(w, 0) + 1
        self.ack(tup)

    def end_of_input(self):
        self.collector.emit([self.counts])


def wordcount_topology(lines: list[str], sink: str):
    b = TopologyBuilder()
    b.set_spout("lines", LineSpout(lines), 2)
    b.set_bolt("split", ComponentFactory(SplitBolt), 2).local_or_shuffle_grouping("lines")
    b.set_bolt("count", ComponentFactory(CountBolt), 2).fields_grouping("split", ["word"])
    b.set_bolt("totals", ListSink(sink)).global_grouping("count")
    return b.build()


def counted(sink: str) -> Counter:
    total: Counter = Counter()
    for (counts,) in ListSink.values(sink):
        total.update(counts)
    return total


WC_CONF = {ACKER_EXECUTORS: None, MAX_SPOUT_PENDING: 2000}


def run_local(topology, conf) -> float:
    result = run_topology(topology, conf)
    if not result.completed:
        sys.exit("the local run did not complete")
    return result.elapsed_s


def run_cluster(cluster, name: str, topology, conf, workers: int, state_backend=None) -> float:
    """Seconds from every worker having opened its tasks to every spout exhausted (every
    tree complete); the end-of-input steps after that are the same fixed cost at any size."""
    handle = cluster.submit_topology(name, conf, topology, workers=workers, until_complete=True,
                                     state_backend=state_backend)
    while True:
        st = handle.statuses()
        if all(s is not None and s["opened"] for s in st):
            break
        time.sleep(0.002)
    t0 = time.perf_counter()
    while True:
        st = handle.statuses()
        if all(s is not None and s["exhausted"] and s["pending"] == 0 for s in st):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    handle.wait()
    summary = handle.summary()
    cluster.kill_topology(name)
    if not summary["completed"]:
        sys.exit(f"{name} did not complete")
    return elapsed


def wordcount(cluster, lines, expected: Counter, repeat: int) -> dict[str, float]:
    words = sum(expected.values())
    out: dict[str, list[float]] = {"local": [], "1w": [], "2w": []}
    for r in range(repeat):
        for kind in out:
            sink = f"wc-{kind}-{r}"
            ListSink.reset(sink)
            topo = wordcount_topology(lines, sink)
            s = run_local(topo, WC_CONF) if kind == "local" else \
                run_cluster(cluster, sink, topo, WC_CONF, int(kind[0]))
            if counted(sink) != expected:
                sys.exit(f"wordcount {kind}: the counts differ from the bare loop's")
            out[kind].append(words / s)
            print(f"wordcount {kind:5} {words / s:12,.0f} words/s", flush=True)
    return {k: statistics.median(v) for k, v in out.items()}


def smartcar(cluster, repeat: int) -> dict[str, float]:
    from squall_smartcar.record import date_to_ms
    from squall_smartcar.sources import ReplaySpout
    from squall_smartcar.topology import DEFAULT_RULE, TABLE, Stores, build_topology
    from squall.store import EmbeddedTableStore
    from tests.reference_data import FLEET

    rule = DEFAULT_RULE.read_text()
    out: dict[str, list[float]] = {"local": [], "1w": [], "2w": []}
    records = None
    for r in range(repeat):
        for kind in out:
            with tempfile.TemporaryDirectory(prefix="squall-scaling-") as tmp:
                topo = build_topology(ReplaySpout(str(FLEET), date_to_ms("20240101000000")),
                                      Stores.embedded(tmp), rule, speeding_log=f"{tmp}/log")
                conf = {MAX_SPOUT_PENDING: 5000, MESSAGE_TIMEOUT_SECS: 30}
                s = run_local(topo, conf) if kind == "local" else \
                    run_cluster(cluster, f"sc-{kind}-{r}", topo, conf, int(kind[0]))
                with EmbeddedTableStore(tmp, read_only=True).open() as tables:
                    n = tables.open_table(TABLE).count()
            if records not in (None, n):
                sys.exit(f"smartcar {kind}: {n} rows stored, {records} before")
            records = n
            out[kind].append(n / s)
            print(f"smartcar  {kind:5} {n / s:12,.0f} records/s ({n:,} records)", flush=True)
    return {k: statistics.median(v) for k, v in out.items()}


class SlowBolt(Bolt):
    def declare_output_fields(self, declarer):
        declarer.declare(["line"])

    def process(self, tup):
        time.sleep(0.001)
        self.collector.emit(list(tup.values), anchors=[tup])
        self.collector.ack(tup)


def recovery(cluster) -> float:
    b = TopologyBuilder()
    b.set_spout("lines", LineSpout([f"l{i}" for i in range(20000)]), 2)
    b.set_bolt("slow", ComponentFactory(SlowBolt), 2).shuffle_grouping("lines")
    handle = cluster.submit_topology("recovery", {MESSAGE_TIMEOUT_SECS: 5, MAX_SPOUT_PENDING: 200}, b.build(),
                                     workers=2)
    while any(s is None or not s["opened"] for s in handle.statuses()):
        time.sleep(0.01)
    time.sleep(1.0)
    old = handle.statuses()[1]["pid"]
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)
    while (st := handle.statuses()[1]) is None or st["pid"] == old or not st["opened"]:
        time.sleep(0.01)
    took = time.monotonic() - t0
    cluster.kill_topology("recovery")
    print(f"worker recovery after SIGKILL: {took:.2f} s", flush=True)
    return took


def rebalance_pause(cluster) -> float:
    """A checkpointed keyed count on 1 worker, rebalanced to 2 mid-run: the spouts' pause."""
    import functools

    from tests.cluster.ray_topos import keyed_rows, rocksdb_partition, stateful_count
    from squall.config import CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE

    with tempfile.TemporaryDirectory(prefix="squall-scaling-") as tmp:
        topo = stateful_count(keyed_rows(20000), f"{tmp}/log", pause_s=0.0005, count_executors=1, count_tasks=4)
        conf = {CHECKPOINT_MODE: EXACTLY_ONCE, CHECKPOINT_INTERVAL_MS: 200, MAX_SPOUT_PENDING: 200}
        handle = cluster.submit_topology("rebalance", conf, topo, workers=1, until_complete=True,
                                         state_backend=functools.partial(rocksdb_partition, f"{tmp}/st"))
        while handle.stats().get("count") is None or handle.stats()["count"].executed < 2000:
            time.sleep(0.05)
        summary = cluster.rebalance("rebalance", workers=2, executors={"count": 4})
        cluster.kill_topology("rebalance")
    pause = summary["rebalance_pause_s"]
    print(f"rebalance 1 -> 2 workers, count executors 1 -> 4: spouts paused {pause:.2f} s", flush=True)
    return pause


def transfer_cost(cluster, n: int = 200_000) -> float:
    from squall.testing import ListSpout

    class Drop(Bolt):
        def process(self, tup):
            pass

    def topo():
        b = TopologyBuilder()
        b.set_spout("src", ListSpout([[i, "x" * 16] for i in range(n)], ["n", "pad"], reliable=False))
        b.set_bolt("drop", ComponentFactory(Drop)).global_grouping("src")
        return b.build()

    conf = {ACKER_EXECUTORS: 0}
    local = run_local(topo(), conf)
    remote = run_cluster(cluster, "transfer", topo(), conf, 2)
    cost = max(0.0, (remote - local) / n * 1e6)
    print(f"transfer between workers: {cost:.2f} us per tuple ({n:,} tuples: {remote:.2f} s on 2 workers, "
          f"{local:.2f} s in one process)", flush=True)
    return cost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    from squall.cluster import RayCluster

    lines = make_lines(args.words)
    expected: Counter = Counter(w for line in lines for w in line.split())
    t0 = time.perf_counter()
    with RayCluster(num_cpus=os.cpu_count()) as cluster:
        startup = time.perf_counter() - t0
        print(f"cluster start-up (Ray in process): {startup:.1f} s", flush=True)
        wc = wordcount(cluster, lines, expected, args.repeat)
        sc = smartcar(cluster, args.repeat)
        rec = recovery(cluster)
        pause = rebalance_pause(cluster)
        cost = transfer_cost(cluster)
    print(json.dumps({
        "wordcount_local": round(wc["local"]), "wordcount_1w": round(wc["1w"]), "wordcount_2w": round(wc["2w"]),
        "smartcar_local": round(sc["local"]), "smartcar_1w": round(sc["1w"]), "smartcar_2w": round(sc["2w"]),
        "worker_recovery_s": round(rec, 2), "rebalance_pause_s": round(pause, 2),
        "transfer_us_per_tuple": round(cost, 2),
        "wordcount_2w_vs_1w": round(wc["2w"] / wc["1w"], 2), "smartcar_2w_vs_1w": round(sc["2w"] / sc["1w"], 2),
        "cluster_startup_s": round(startup, 1), "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
