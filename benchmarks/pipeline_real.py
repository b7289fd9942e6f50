"""Smart car on the real deployment: Kafka -> topology -> HBase + Redis, vs embedded stores.

Services: a one-node KRaft Kafka broker, HBase standalone + its Thrift server and a
``redis-server``, started by the test launchers (``tests/services``) in a temporary
directory and stopped at the end, also when a run fails or the script is interrupted.

Input: every trip CSV of ``--replay`` (default: the repository's sibling
``shared/data/carobd``) as a fleet (one car per file, as ``squall smartcar produce
--replay`` writes it: value = feed line, key = car number), repeated back to back with
the start shifted by the fleet's span until there are at least ``--min-records``
records (event time keeps increasing, row keys stay distinct). Produced once, with
``acks=all``, into a 1-partition topic; the produce time is reported on its own.

Pipeline: ``build_topology`` with ``kafka_feed.kafka_source`` (stop at the end of the
topic) and the command's settings (``topology.max.spout.pending`` 5000, message timeout
30 s, acking on, the default rule file), tables created before the clock starts.

Measurements, each in a fresh subprocess of this script:

1. throughput: the topic through the pipeline with the real stores (``stores_for``:
   ``HBaseTableStore`` over Thrift, ``RedisKeyValueStore``) and, with a new consumer
   group, with the embedded stores (``Stores.embedded``); records/s from submit to
   completion, and where each run's time went (execute time per component). Rows,
   dead letters, detections and the speeding sets of the two runs must be equal (and
   every record acked), else the script exits 1.
2. latency: a paced run through the real stores: a producer thread writes a new topic
   at ``--rate`` records/s in real time for ``--paced-seconds`` while the topology
   follows the topic (``follow``: no stop at the end) with ``topology.stats.sample.rate``
   1.0; once every record produced was acked the topology is killed. Complete latency
   (spout emit -> tuple tree acked, i.e. the row is in HBase and the record went
   through the rule) p50/p99 of the source; the time a record spends in Kafka
   before the spout takes it is not part of it.

    python benchmarks/pipeline_real.py [--replay DIR] [--quick]

Prints one block per measurement and, last, one JSON line with ``records_per_s_real``,
``records_per_s_embedded``, ``p50_ms``, ``p99_ms``, ``paced_records_per_s`` and more.
Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _report import DEFAULT_REPLAY, component_figures, print_components, speeding_sets, table_rows
from squall.config import MAX_SPOUT_PENDING, MESSAGE_TIMEOUT_SECS, STATS_SAMPLE_RATE
from squall.runtime import LocalCluster
from squall_smartcar.deploy import stores_for
from squall_smartcar.kafka_feed import kafka_source
from squall_smartcar.obd import read_fleet, trip_files
from squall_smartcar.record import date_to_ms
from squall_smartcar.topology import DEAD_LETTER_TABLE, DEFAULT_RULE, FAMILY, TABLE, Stores, build_topology

REPO = Path(__file__).resolve().parents[1]
START_MS = date_to_ms("20240101000000")      # the command's default --start
PACED_START_MS = date_to_ms("20250101000000")  # the paced run's rows do not touch the first run's
MAX_PENDING = 5000                            # the command's default --max-pending
TTL_S = 604800                                # the command's default --speeding-ttl
REDIS_DB = 3
QUICK_EVERY = 10                              # --quick: every 10th trip file
PACE_TICK_S = 0.005                           # paced producer: sends what is due every 5 ms


# -- input ------------------------------------------------------------------------------

def fleet_messages(directory: str, start_ms: int, min_records: int, limit: int | None = None):
    """(key, value) of the fleet, repeated with shifted start until >= ``min_records``.

    Returns (messages, passes)."""
    out: list[tuple[bytes, bytes]] = []
    passes = 0
    offset = 0
    while len(out) < min_records or passes == 0:
        last = -1
        for r in read_fleet(directory, start_ms + offset * 1000):
            out.append((r.car_number.encode(), r.line.encode()))
            last = r.second
            if limit is not None and len(out) >= limit:
                return out, passes + 1
        passes += 1
        offset += last + 1
    return out, passes


def producer(bootstrap: str, **extra):
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                     "message.timeout.ms": 60000, **extra})


def produce_all(bootstrap: str, topic: str, messages) -> dict:
    """As ``squall smartcar produce`` does: every message, then flush; returns counts and time."""
    counts = {"delivered": 0, "failed": 0}

    def delivered(err, msg):
        counts["failed" if err is not None else "delivered"] += 1

    p = producer(bootstrap, **{"linger.ms": 20})
    t0 = time.monotonic()
    for i, (key, value) in enumerate(messages):
        while True:
            try:
                p.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    left = p.flush(60)
    return {**counts, "unconfirmed": left, "elapsed_s": time.monotonic() - t0}


# -- helpers ----------------------------------------------------------------------------

def make_stores(kind: str, data_dir: str, hbase: str, redis_url: str) -> Stores:
    if kind == "embedded":
        stores = Stores.embedded(data_dir)
    else:
        stores = stores_for(data_dir, redis_url, hbase)
        with stores.kv.open() as kv:
            kv.flushdb()
    return stores


def fresh_tables(stores: Stores, drop: bool) -> None:
    """Create the pipeline's tables before the clock starts (dropping old ones if ``drop``)."""
    with stores.table.open() as tables:
        for name, families in ((TABLE, [FAMILY]), (DEAD_LETTER_TABLE, ["d"])):
            if name in tables.tables():
                if not drop:
                    continue
                tables.delete_table(name)
            tables.create_table(name, families)


# -- children: one run each, one JSON line on stdout -----------------------------------------

def child_throughput(a) -> dict:
    rule = DEFAULT_RULE.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="squall-bench-", ignore_cleanup_errors=True) as data_dir:
        stores = make_stores(a.child, data_dir, a.hbase, a.redis)
        fresh_tables(stores, drop=True)
        topology = build_topology(kafka_source(a.kafka, a.topic, a.group, follow=False), stores, rule, TTL_S)
        conf = {MAX_SPOUT_PENDING: MAX_PENDING, MESSAGE_TIMEOUT_SECS: 30}
        t0 = time.monotonic()
        first = None
        with LocalCluster() as cluster:
            handle = cluster.submit_topology("bench", conf, topology, until_complete=True)
            while first is None and not handle.wait(0.05):
                if handle.stats()["source"].emitted:
                    first = time.monotonic()
            handle.wait()
            elapsed = time.monotonic() - t0
            completed = handle.worker.completed
            stats = handle.stats()
        t1 = time.monotonic()
        src = stats["source"]
        out = {
            "kind": a.child,
            "completed": completed,
            "elapsed_s": elapsed,
            "startup_s": (first or t0) - t0,
            "acked": src.acked,
            "emitted": src.emitted,
            "failed": src.failed,
            "rows": table_rows(stores.table, TABLE),
            "dead": table_rows(stores.table, DEAD_LETTER_TABLE),
            "detections": stats["cep"].emitted,
            "speeding": speeding_sets(stores.kv),
            "p50_ms": src.complete_latency_p50_ms,
            "p99_ms": src.complete_latency_p99_ms,
            "mean_ms": src.complete_latency_ms,
            "components": component_figures(stats, elapsed),
            "errors": [e for st in stats.values() for e in st.last_errors][-5:],
        }
        out["check_s"] = time.monotonic() - t1
    return out


def child_paced(a) -> dict:
    """Produce at ``rate`` in real time from a thread while the topology follows the topic."""
    rule = DEFAULT_RULE.read_text(encoding="utf-8")
    total = max(1, round(a.rate * a.paced_seconds))
    messages, _ = fleet_messages(a.replay, PACED_START_MS, total + 1, limit=total + 1)
    warmup, messages = messages[:1], messages[1:total + 1]
    with tempfile.TemporaryDirectory(prefix="squall-bench-", ignore_cleanup_errors=True) as data_dir:
        stores = make_stores("real", data_dir, a.hbase, a.redis)
        fresh_tables(stores, drop=False)
        topology = build_topology(kafka_source(a.kafka, a.topic, a.group, follow=True), stores, rule, TTL_S)
        conf = {MAX_SPOUT_PENDING: MAX_PENDING, MESSAGE_TIMEOUT_SECS: 30, STATS_SAMPLE_RATE: 1.0}
        p = producer(a.kafka, **{"linger.ms": 1})
        failed_deliveries = []
        p.produce(a.topic, warmup[0][1], warmup[0][0])
        p.flush(30)
        prod: dict = {}

        def paced_producer():
            def delivered(err, msg):
                if err is not None:
                    failed_deliveries.append(str(err))
            t0 = time.monotonic()
            sent = 0
            n = len(messages)
            while sent < n:
                due = min(n, int((time.monotonic() - t0) * a.rate) + 1)
                while sent < due:
                    key, value = messages[sent]
                    try:
                        p.produce(a.topic, value, key, on_delivery=delivered)
                    except BufferError:
                        p.poll(0.01)
                        continue
                    sent += 1
                p.poll(0)
                time.sleep(PACE_TICK_S)
            prod["send_s"] = time.monotonic() - t0
            prod["unconfirmed"] = p.flush(30)
            prod["sent"] = sent

        with LocalCluster() as cluster:
            handle = cluster.submit_topology("paced", conf, topology)
            # Live once the group joined and the warm-up record went all the way through.
            deadline = time.monotonic() + 60
            while handle.stats()["source"].acked < 1:
                if time.monotonic() > deadline or not handle.running:
                    handle.wait(0)
                    raise RuntimeError("the paced topology did not take the warm-up record in 60 s")
                time.sleep(0.02)
            thread = threading.Thread(target=paced_producer, name="paced-producer", daemon=True)
            t0 = time.monotonic()
            thread.start()
            deadline = t0 + a.paced_seconds + 60
            series = []      # (t, acked) each 0.25 s: the ack rate over the run
            while True:
                st = handle.stats()["source"]
                now = time.monotonic()
                series.append((now - t0, st.acked - 1))
                if not thread.is_alive() and st.acked >= total + 1:
                    break
                if now > deadline:
                    break
                time.sleep(0.25)
            t_done = time.monotonic()
            thread.join(5)
            stats = handle.stats()
            cluster.kill_topology("paced", wait_secs=5)
        src = stats["source"]
        acked = src.acked - 1
        out = {
            "records": len(messages),
            "sent": prod.get("sent", 0),
            "send_s": prod.get("send_s"),
            "unconfirmed": prod.get("unconfirmed"),
            "delivery_errors": failed_deliveries[:3],
            "acked": acked,
            "failed": src.failed,
            "elapsed_s": t_done - t0,
            "stored": stats["table"].acked + stats["deadletter"].acked - 1,
            "p50_ms": src.complete_latency_p50_ms,
            "p99_ms": src.complete_latency_p99_ms,
            "mean_ms": src.complete_latency_ms,
            "components": component_figures(stats, t_done - t0),
            "errors": [e for st in stats.values() for e in st.last_errors][-5:],
            "series": series,
        }
    return out


def run_child(a) -> None:
    out = child_paced(a) if a.child == "paced" else child_throughput(a)
    print(json.dumps(out))


# -- the parent -------------------------------------------------------------------------

def spawn(kind: str, common: list[str], *extra: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, *common, *extra]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} run failed (exit {proc.returncode}): {' '.join(cmd)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Services:
    """Kafka, HBase + Thrift and Redis in ``workdir``; ``stop()`` stops whatever started."""

    def __init__(self, workdir: Path) -> None:
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        from tests.services.hbase import HBaseServer
        from tests.services.kafka import KafkaBroker
        self._broker = KafkaBroker
        self.kafka = KafkaBroker(workdir / "kafka")
        # Default JIT and collector, bigger heap: steady-state speed, not start-up time.
        self.hbase = HBaseServer(workdir / "hbase", master_heap_mb=1536, thrift_heap_mb=512, fast_start=False)
        self.redis = None
        self.workdir = workdir

    def start(self) -> float:
        from tests.services.redis import start_redis
        t0 = time.monotonic()

        def redis():
            self.redis = start_redis(self.workdir / "redis")

        def kafka():
            # The launcher's random cluster id can start with "-", which the storage
            # tool reads as an option (about 1 start in 64): try again with a new one.
            for attempt in range(1, 4):
                try:
                    self.kafka.start()
                    return
                except RuntimeError as exc:
                    if "storage format failed" not in str(exc) or attempt == 3:
                        raise
                    self.kafka = self._broker(self.workdir / f"kafka{attempt}")
        # The two JVMs start side by side; each start waits for its own readiness.
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(f) for f in (kafka, self.hbase.start, redis)]
            for f in futures:
                f.result()
        return time.monotonic() - t0

    def stop(self) -> None:
        for name, stop in (("kafka", self.kafka.kill), ("hbase", self.hbase.stop),
                           ("redis", lambda: self.redis and self.redis.kill())):
            try:
                stop()
            except Exception as exc:  # keep stopping the others
                print(f"stopping {name} failed: {exc}", file=sys.stderr)


def check_throughput(label: str, run: dict, records: int, problems: list[str]) -> None:
    if not run["completed"]:
        problems.append(f"{label}: the topology did not complete")
    if run["acked"] != records:
        problems.append(f"{label}: {run['acked']:,} records acked of {records:,} produced")
    if run["rows"] + run["dead"] != records:
        problems.append(f"{label}: rows {run['rows']:,} + dead letters {run['dead']:,} != records {records:,}")
    if bool(run["detections"]) != bool(run["speeding"]):
        problems.append(f"{label}: {run['detections']:,} detections but {len(run['speeding'])} speeding sets")
    if run["errors"]:
        problems.append(f"{label}: component errors: {run['errors']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replay", default=str(DEFAULT_REPLAY), help="directory of trip CSVs")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: every {QUICK_EVERY}th trip file, one pass, 3 s paced")
    ap.add_argument("--min-records", type=int, default=None,
                    help="repeat the fleet until the topic holds at least this many records (default 200000)")
    ap.add_argument("--rate", type=float, default=5_000.0, help="paced run: records/s produced")
    ap.add_argument("--paced-seconds", type=float, default=None, help="paced run: seconds (default 10)")
    ap.add_argument("--child", choices=("real", "embedded", "paced"), help=argparse.SUPPRESS)
    for opt in ("--kafka", "--topic", "--group", "--hbase", "--redis"):
        ap.add_argument(opt, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.paced_seconds = args.paced_seconds or 10.0
        run_child(args)
        return

    if not Path(args.replay).is_dir():
        sys.exit(f"--replay: directory not found: {args.replay}")
    # A SIGTERM ends the script through the finally below, which stops the services.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    keep = tempfile.TemporaryDirectory(prefix="squall-pipeline-real-", ignore_cleanup_errors=True)
    replay = str(Path(args.replay).resolve())
    if args.quick:
        sub = Path(keep.name) / "quick"
        sub.mkdir()
        for f in trip_files(replay)[::QUICK_EVERY]:
            os.symlink(f.resolve(), sub / f.name)
        replay = str(sub)
    min_records = args.min_records if args.min_records is not None else (1 if args.quick else 200_000)
    paced_s = args.paced_seconds or (3.0 if args.quick else 10.0)
    services = None
    problems: list[str] = []
    try:
        services = Services(Path(keep.name) / "services")
        start_s = services.start()
        kafka, hbase = services.kafka, services.hbase
        hbase_addr = f"127.0.0.1:{hbase.thrift_port}"
        redis_url = f"redis://127.0.0.1:{services.redis.port}/{REDIS_DB}"
        print(f"services up in {start_s:.1f} s: Kafka {kafka.bootstrap}, HBase Thrift {hbase_addr}, "
              f"Redis {redis_url}")

        messages, passes = fleet_messages(replay, START_MS, min_records)
        records = len(messages)
        topic = kafka.create_topic(f"cars-{uuid.uuid4().hex[:8]}", 1)
        prod = produce_all(kafka.bootstrap, topic, messages)
        del messages
        if prod["delivered"] != records:
            raise RuntimeError(f"produce: {prod['delivered']:,} of {records:,} confirmed "
                               f"({prod['failed']:,} failed, {prod['unconfirmed']:,} unconfirmed)")
        print(f"input: {len(trip_files(replay))} trip files from {args.replay}"
              f"{' (quick subset)' if args.quick else ''}, {passes} pass(es) -> {records:,} records; "
              f"produced to {topic} (1 partition, acks=all) in {prod['elapsed_s']:.2f} s "
              f"({records / prod['elapsed_s']:,.0f} records/s)")

        common = ["--replay", replay, "--kafka", kafka.bootstrap, "--hbase", hbase_addr, "--redis", redis_url]
        real = spawn("real", common, "--topic", topic, "--group", f"real-{uuid.uuid4().hex[:8]}")
        emb = spawn("embedded", common, "--topic", topic, "--group", f"emb-{uuid.uuid4().hex[:8]}")
        check_throughput("real", real, records, problems)
        check_throughput("embedded", emb, records, problems)
        for key in ("rows", "dead", "detections", "speeding"):
            if real[key] != emb[key]:
                shown = (len(real[key]), len(emb[key])) if key == "speeding" else (real[key], emb[key])
                problems.append(f"real and embedded differ in {key}: {shown[0]} vs {shown[1]}")

        paced_topic = kafka.create_topic(f"paced-{uuid.uuid4().hex[:8]}", 1)
        paced = spawn("paced", common, "--topic", paced_topic, "--group", f"paced-{uuid.uuid4().hex[:8]}",
                      "--rate", str(args.rate), "--paced-seconds", str(paced_s))
        if paced["sent"] != paced["records"] or paced["unconfirmed"] or paced["delivery_errors"]:
            problems.append(f"paced: produced {paced['sent']:,} of {paced['records']:,} "
                            f"({paced['unconfirmed']} unconfirmed, errors {paced['delivery_errors']})")
        if paced["acked"] != paced["records"]:
            problems.append(f"paced: {paced['acked']:,} records acked of {paced['records']:,} produced")
        if paced["errors"]:
            problems.append(f"paced: component errors: {paced['errors']}")
    finally:
        if services is not None:
            services.stop()
        keep.cleanup()

    real_rate = records / real["elapsed_s"]
    emb_rate = records / emb["elapsed_s"]
    paced_rate = paced["acked"] / paced["elapsed_s"]
    send_rate = paced["sent"] / paced["send_s"] if paced["send_s"] else 0.0

    print(f"\n1. throughput: {records:,} records from Kafka -> {real['rows']:,} rows, {real['dead']:,} dead letters, "
          f"{real['detections']:,} detections ({sum(map(len, real['speeding'].values())):,} set members)")
    for label, run, rate in (("Kafka -> HBase + Redis", real, real_rate),
                             ("Kafka -> embedded stores", emb, emb_rate)):
        print(f"{label:<26}{rate:>10,.0f} records/s  {run['elapsed_s']:6.2f} s  "
              f"(start-up to first record {run['startup_s']:.2f} s; trees failed {run['failed']}; "
              f"complete latency mean {run['mean_ms']:.1f} ms)")
    print(f"  real / embedded: {real_rate / emb_rate:.2f}x")
    for label, run in (("real stores", real), ("embedded stores", emb)):
        print(f"  where the {label} run's time went (execute time per component, share of wall time):")
        print_components(run, "loop, acker, idle (incl. start-up), end of input")

    print(f"\n2. latency: produced at {args.rate:,.0f} records/s for ~{paced_s:g} s into a fresh topic, "
          f"topology following it (Kafka -> HBase + Redis), every tree sampled")
    print(f"producer                  {send_rate:>10,.0f} records/s  {paced['send_s']:6.2f} s  "
          f"{paced['sent']:,} records")
    print(f"pipeline, paced           {paced_rate:>10,.0f} records/s  {paced['elapsed_s']:6.2f} s  "
          f"{paced['acked']:,} acked  complete latency p50 {paced['p50_ms']:.2f} ms  "
          f"p99 {paced['p99_ms']:.2f} ms  mean {paced['mean_ms']:.2f} ms")
    print("  where the paced run's time went:")
    print_components(paced, "loop, acker, idle (incl. start-up), end of input")

    figures = {
        "records": records,
        "passes": passes,
        "produce_s": round(prod["elapsed_s"], 2),
        "produce_records_per_s": round(records / prod["elapsed_s"]),
        "records_per_s_real": round(real_rate),
        "records_per_s_embedded": round(emb_rate),
        "real_vs_embedded": round(real_rate / emb_rate, 3),
        "elapsed_s_real": round(real["elapsed_s"], 2),
        "elapsed_s_embedded": round(emb["elapsed_s"], 2),
        "busy_s_real": {k: c["busy_s"] for k, c in real["components"].items()},
        "busy_s_embedded": {k: c["busy_s"] for k, c in emb["components"].items()},
        "paced_target_records_per_s": args.rate,
        "paced_records_per_s": round(paced_rate),
        "p50_ms": round(paced["p50_ms"], 3),
        "p99_ms": round(paced["p99_ms"], 3),
        "mean_ms": round(paced["mean_ms"], 3),
        "ok": not problems,
    }
    for p in problems:
        print(f"CHECK FAILED: {p}", file=sys.stderr)
    print(json.dumps(figures))
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
