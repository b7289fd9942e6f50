"""Smart car: the full pipeline on the carOBD replay vs a bare-Python loop doing the same work.

Input: every trip CSV of ``--replay`` (default: the repository's sibling
``shared/data/carobd``), replayed as a fleet (one car per file) as the ``squall
smartcar run --replay`` command does. Pipeline: ``build_topology`` (parse -> table
DriverCarInfo + dead letters, CEP speeding rule -> SADD/EXPIRE) on embedded stores in a
fresh temporary data dir, acking on, the default rule file, the command's
``topology.max.spout.pending`` 5000.

Three measurements, each in a fresh subprocess of this script so peak RSS is per run:

1. throughput: the replay as fast as possible, through Squall and through a bare loop
   (``read_fleet`` -> ``parse_line`` -> ``put_many`` in batches of 1,000 with the same
   row keys and columns -> the same EPL rule on an ``EPLEngine`` with an ``ExternalClock``
   -> SADD/EXPIRE of each detection). Rows, dead letters, detections and the speeding
   sets must be equal, else the script exits non-zero.
2. RSS flatness: the replay repeated back to back (``--repeat N``: the fleet N times,
   each pass shifted by the fleet's span so event time keeps increasing), 1x vs 5x.
   Peak RSS includes the table's RocksDB memtable, which grows to the write buffer
   size (RocksDB's default 64 MB) before its first flush: about 5 passes of this data.
3. latency: a paced run at ``--rate`` records/s for ``--paced-seconds`` of wall time
   with ``topology.stats.sample.rate`` 1.0; complete latency p50/p99 of the source.

    python benchmarks/smartcar.py [--replay DIR] [--quick]

Prints one block per measurement and, last, one JSON line with ``records_per_s``,
``peak_rss_mb``, ``p50_ms``, ``p99_ms``, ``bare_records_per_s``, ``rss_growth_mb_5x``,
``paced_records_per_s`` and more. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from squall.cep import EPLEngine, ExternalClock
from squall.config import ACKER_EXECUTORS, MAX_SPOUT_PENDING, MESSAGE_TIMEOUT_SECS, STATS_SAMPLE_RATE
from squall.errors import RecordError
from squall.runtime import run_topology
from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore
from squall_smartcar.obd import read_fleet, trip_files
from squall_smartcar.record import EVENT_PROPERTIES, FIELDS, date_to_ms, ms_to_date, parse_line, row_key
from squall_smartcar.sources import FeedSpout
from _report import DEFAULT_REPLAY, component_figures, print_components, speeding_sets, table_rows
from squall_smartcar.topology import DEAD_LETTER_TABLE, DEFAULT_RULE, FAMILY, TABLE, Stores, build_topology

START_MS = date_to_ms("20240101000000")     # the command's default --start
MAX_PENDING = 5000                           # the command's default --max-pending
TTL_S = 604800                               # the command's default --speeding-ttl
BATCH = 1000                                 # bare loop: rows per put_many
QUICK_EVERY = 10                             # --quick: every 10th trip file
PACE_BUCKET_S = 50                           # paced run: rate profile resolution (event s)


class RepeatReplaySpout(FeedSpout):
    """The fleet replayed ``repeat`` times back to back, car numbers kept.

    Pass k starts at ``start_ms + k * span`` where span is the fleet's span (last
    second + 1) or ``pass_s`` when given (each pass then cut to its first ``pass_s``
    event seconds). ``duration_s`` cuts the whole replay (shifted event seconds), as
    ``ReplaySpout``'s does. ``Reading.second`` is shifted too, so pacing keeps going.
    """

    def __init__(self, directory: str, start_ms: int, repeat: int = 1, pace: float | None = None,
                 duration_s: int | None = None, pass_s: int | None = None) -> None:
        super().__init__("replay", start_ms, pace)
        self.directory = str(directory)
        self.repeat = repeat
        self.duration_s = duration_s
        self.pass_s = pass_s

    def readings(self):
        offset = 0
        for _ in range(self.repeat):
            last = -1
            for r in read_fleet(self.directory, self.start_ms + offset * 1000, self.pass_s):
                second = r.second + offset
                if self.duration_s is not None and second >= self.duration_s:
                    return
                last = r.second
                yield r._replace(second=second) if offset else r
            offset += self.pass_s or last + 1


# -- helpers ----------------------------------------------------------------------------

def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def fleet_profile(directory: str) -> Counter:
    """Records per event second of one pass of the fleet."""
    return Counter(r.second for r in read_fleet(directory, START_MS))


# -- children: one measurement each, one JSON line on stdout -------------------------------

def child_squall(directory: str, repeat: int, pace: float | None = None, duration_s: int | None = None,
                 pass_s: int | None = None, sample_rate: float | None = None) -> dict:
    rss_base = peak_rss_mb()
    rule = DEFAULT_RULE.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="squall-bench-", ignore_cleanup_errors=True) as data_dir:
        stores = Stores.embedded(data_dir)
        spout = RepeatReplaySpout(directory, START_MS, repeat, pace, duration_s, pass_s)
        topology = build_topology(spout, stores, rule, TTL_S)
        conf = {ACKER_EXECUTORS: None, MAX_SPOUT_PENDING: MAX_PENDING, MESSAGE_TIMEOUT_SECS: 30}
        if sample_rate is not None:
            conf[STATS_SAMPLE_RATE] = sample_rate
        result = run_topology(topology, conf)
        stats = result.stats
        src = stats["source"]
        out = {
            "completed": result.completed,
            "elapsed_s": result.elapsed_s,
            "records": src.metrics["read"],
            "replayed": src.metrics["replayed"],
            "acked": src.acked,
            "failed": src.failed,
            "rows": table_rows(stores.table, TABLE),
            "dead": table_rows(stores.table, DEAD_LETTER_TABLE),
            "detections": stats["cep"].emitted,
            "speeding_acked": stats["speeding"].acked,
            "speeding": speeding_sets(stores.kv),
            "p50_ms": src.complete_latency_p50_ms,
            "p99_ms": src.complete_latency_p99_ms,
            "mean_ms": src.complete_latency_ms,
            "components": component_figures(stats, result.elapsed_s),
            "errors": result.errors()[-5:],
        }
    out["rss_base_mb"] = rss_base
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def child_bare(directory: str) -> dict:
    """The same work without Squall: read, parse, store in batches, CEP, SADD/EXPIRE."""
    rss_base = peak_rss_mb()
    rule = DEFAULT_RULE.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="squall-bare-", ignore_cleanup_errors=True) as data_dir:
        kv_store = EmbeddedKeyValueStore(data_dir)
        tables = EmbeddedTableStore(data_dir).open()
        kv = kv_store.open()
        t0 = time.perf_counter()
        tables.create_table(TABLE, [FAMILY])
        tables.create_table(DEAD_LETTER_TABLE, ["d"])
        table = tables.open_table(TABLE)
        dead_table = tables.open_table(DEAD_LETTER_TABLE)
        engine = EPLEngine(ExternalClock(0))
        statements = engine.compile(rule, name="speeding")
        first = statements[0]
        detections = 0

        def on_output(new_rows, old_rows):
            nonlocal detections
            window_start = first.last_output_window[0]
            for row in new_rows:
                key = ms_to_date(window_start)[:8]
                kv.sadd(key, row["carNumber"])
                kv.expire(key, TTL_S)
                detections += 1
        first.add_listener(on_output)

        columns = tuple(f"{FAMILY}:{f}" for f in FIELDS)
        props = ("row_key", *(EVENT_PROPERTIES[f] for f in FIELDS), "event_time_ms")
        send = engine.send
        rows: list = []
        dead: list = []
        records = 0
        started = False
        for reading in read_fleet(directory, START_MS):
            records += 1
            error = reading.error
            if error is None:
                try:
                    r = parse_line(reading.line)
                except RecordError as exc:
                    error = getattr(exc, "reason", str(exc))
            if error is not None:
                dead.append((reading.origin, {"d:record": reading.line, "d:reason": error,
                                              "d:origin": reading.origin, "d:component": "parse"}))
                if len(dead) >= BATCH:
                    dead_table.put_many(dead)
                    dead = []
                continue
            key = row_key(r.date, r.car_number)
            ts = date_to_ms(r.date)
            rows.append((key, dict(zip(columns, r))))
            if len(rows) >= BATCH:
                table.put_many(rows)
                rows = []
            if not started:
                engine.advance_time(ts)
                started = True
            elif ts > engine.current_time_ms:
                engine.advance_time(ts)
            send("DriverCarInfo", dict(zip(props, (key, *r, ts))))
        if rows:
            table.put_many(rows)
        if dead:
            dead_table.put_many(dead)
        if started:  # as CepBolt.end_of_input: jump past every open window
            engine.advance_time(engine.current_time_ms + 10 * 24 * 3600 * 1000)
        elapsed = time.perf_counter() - t0
        out = {"completed": True, "elapsed_s": elapsed, "records": records,
               "rows": table.count(), "dead": dead_table.count(), "detections": detections}
        tables.close()
        kv.close()
        out["speeding"] = speeding_sets(kv_store)
    out["rss_base_mb"] = rss_base
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def pacing_plan(directory: str, rate: float, wall_s: float) -> dict:
    """Pace, per-pass cut and total cut so that records/s ~= ``rate`` for ``wall_s``.

    The fleet's density is not flat (every trip runs at second 0, then trips end), so
    each pass is cut where the density drops below 90% of its first bucket's; the pace
    is ``rate`` over the records per event second of that cut.
    """
    profile = fleet_profile(directory)
    span = max(profile) + 1
    buckets = [sum(profile.get(s, 0) for s in range(b, min(b + PACE_BUCKET_S, span)))
               for b in range(0, span, PACE_BUCKET_S)]
    ref = buckets[0]
    cut_b = next((i for i, n in enumerate(buckets) if i and n < 0.9 * ref), len(buckets))
    pass_s = min(span, cut_b * PACE_BUCKET_S)
    per_s = sum(profile.get(s, 0) for s in range(pass_s)) / pass_s
    pace = rate / per_s
    duration_s = max(1, round(wall_s * pace))
    return {"span_s": span, "pass_s": pass_s, "cars_per_s": per_s, "pace": pace,
            "duration_s": duration_s, "repeat": math.ceil(duration_s / pass_s)}


def run_child(args) -> None:
    if args.child == "bare":
        out = child_bare(args.replay)
    elif args.child == "throughput":
        out = child_squall(args.replay, args.repeat)
    elif args.child == "paced":
        plan = pacing_plan(args.replay, args.rate, args.paced_seconds)
        out = child_squall(args.replay, plan["repeat"], plan["pace"], plan["duration_s"], plan["pass_s"],
                           sample_rate=1.0)
        out["plan"] = plan
    else:
        sys.exit(f"unknown child {args.child!r}")
    print(json.dumps(out))


# -- the parent ---------------------------------------------------------------------------

def spawn(replay: str, kind: str, *extra: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--replay", replay, *extra]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"{kind} run failed (exit {proc.returncode}): {' '.join(cmd)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_run(label: str, run: dict, problems: list[str]) -> None:
    if not run["completed"]:
        problems.append(f"{label}: the topology did not complete")
    if "acked" in run and run["acked"] != run["records"]:
        problems.append(f"{label}: {run['records'] - run['acked']:,} records read were never acked")
    if run["rows"] + run["dead"] != run["records"]:
        problems.append(f"{label}: rows {run['rows']:,} + dead letters {run['dead']:,} != records "
                        f"{run['records']:,}")
    if run.get("errors"):
        problems.append(f"{label}: component errors: {run['errors']}")


def quick_dir(replay: str, keep: tempfile.TemporaryDirectory) -> str:
    files = trip_files(replay)[::QUICK_EVERY]
    for f in files:
        os.symlink(f.resolve(), Path(keep.name) / f.name)
    return keep.name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replay", default=str(DEFAULT_REPLAY), help="directory of trip CSVs")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: every {QUICK_EVERY}th trip file, 1x vs 2x, 3 s paced")
    ap.add_argument("--repeat", type=int, default=None,
                    help="replay the fleet N times back to back (the RSS comparison's larger N; default 5)")
    ap.add_argument("--rate", type=float, default=10_000.0, help="paced run: target records/s")
    ap.add_argument("--paced-seconds", type=float, default=None, help="paced run: wall seconds (default 10)")
    ap.add_argument("--child", choices=("throughput", "bare", "paced"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.repeat = args.repeat or 1
        args.paced_seconds = args.paced_seconds or 10.0
        run_child(args)
        return

    if not Path(args.replay).is_dir():
        sys.exit(f"--replay: directory not found: {args.replay}")
    keep = tempfile.TemporaryDirectory(prefix="squall-quick-")
    replay = quick_dir(args.replay, keep) if args.quick else str(Path(args.replay).resolve())
    repeat = args.repeat or (2 if args.quick else 5)
    paced_s = args.paced_seconds or (3.0 if args.quick else 10.0)
    n_files = len(trip_files(replay))
    print(f"replay: {n_files} trip files from {args.replay}{' (quick subset)' if args.quick else ''}")

    problems: list[str] = []
    sq = spawn(replay, "throughput", "--repeat", "1")
    bare = spawn(replay, "bare")
    check_run("squall 1x", sq, problems)
    check_run("bare", bare, problems)
    for key in ("records", "rows", "dead", "detections", "speeding"):
        if sq[key] != bare[key]:
            shown = (len(sq[key]), len(bare[key])) if key == "speeding" else (sq[key], bare[key])
            problems.append(f"squall and bare differ in {key}: {shown[0]} vs {shown[1]}")
    if sq["speeding_acked"] != sq["detections"]:
        problems.append(f"squall: {sq['detections']:,} detections but {sq['speeding_acked']:,} SADDs acked")

    big = spawn(replay, "throughput", "--repeat", str(repeat))
    check_run(f"squall {repeat}x", big, problems)
    if big["rows"] != repeat * sq["rows"]:
        problems.append(f"squall {repeat}x stored {big['rows']:,} rows, expected {repeat} x {sq['rows']:,}")

    paced = spawn(replay, "paced", "--rate", str(args.rate), "--paced-seconds", str(paced_s))
    check_run("paced", paced, problems)

    sq_rate = sq["records"] / sq["elapsed_s"]
    bare_rate = bare["records"] / bare["elapsed_s"]
    big_rate = big["records"] / big["elapsed_s"]
    paced_rate = paced["records"] / paced["elapsed_s"]
    plan = paced["plan"]
    growth = big["peak_rss_mb"] - sq["peak_rss_mb"]

    print(f"\n1. throughput: {sq['records']:,} records -> {sq['rows']:,} rows, {sq['dead']:,} dead letters, "
          f"{sq['detections']:,} detections ({sum(map(len, sq['speeding'].values())):,} set members)")
    print(f"bare Python loop          {bare_rate:>10,.0f} records/s  {bare['elapsed_s']:6.2f} s  "
          f"peak RSS {bare['peak_rss_mb']:6.1f} MB")
    print(f"squall, acking on         {sq_rate:>10,.0f} records/s  {sq['elapsed_s']:6.2f} s  "
          f"peak RSS {sq['peak_rss_mb']:6.1f} MB  ({sq_rate / bare_rate:.2f}x bare)")
    print(f"  (RSS after imports, before the run: squall {sq['rss_base_mb']:.1f} MB, bare {bare['rss_base_mb']:.1f} MB;"
          f" trees failed/replayed: {sq['failed']}/{sq['replayed']})")
    print("  where the squall run's time went (execute time per component, share of the run's wall time):")
    print_components(sq, "loop, acker, spout ack/fail callbacks, end of input")

    print(f"\n2. RSS flatness: 1x vs {repeat}x the fleet back to back")
    print(f"squall 1x  {sq['records']:>10,} records  {sq_rate:>10,.0f} records/s  peak RSS {sq['peak_rss_mb']:6.1f} MB")
    print(f"squall {repeat}x  {big['records']:>10,} records  {big_rate:>10,.0f} records/s  "
          f"peak RSS {big['peak_rss_mb']:6.1f} MB  (growth {growth:+.1f} MB)")

    print(f"\n3. latency: paced at {args.rate:,.0f} records/s for ~{paced_s:g} s "
          f"(pass cut at {plan['pass_s']} of {plan['span_s']} event s, {plan['cars_per_s']:.1f} records "
          f"per event s -> pace {plan['pace']:.1f}x, {plan['duration_s']} event s, {plan['repeat']} passes)")
    print(f"squall paced              {paced_rate:>10,.0f} records/s  {paced['elapsed_s']:6.2f} s  "
          f"{paced['records']:,} records  complete latency p50 {paced['p50_ms']:.2f} ms  "
          f"p99 {paced['p99_ms']:.2f} ms  mean {paced['mean_ms']:.2f} ms")

    figures = {
        "records": sq["records"],
        "records_per_s": round(sq_rate),
        "peak_rss_mb": round(sq["peak_rss_mb"], 1),
        "bare_records_per_s": round(bare_rate),
        "bare_peak_rss_mb": round(bare["peak_rss_mb"], 1),
        "squall_vs_bare": round(sq_rate / bare_rate, 3),
        "repeat": repeat,
        f"peak_rss_mb_{repeat}x": round(big["peak_rss_mb"], 1),
        f"rss_growth_mb_{repeat}x": round(growth, 1),
        f"records_per_s_{repeat}x": round(big_rate),
        "paced_target_records_per_s": args.rate,
        "paced_records_per_s": round(paced_rate),
        "paced_pace": round(plan["pace"], 2),
        "p50_ms": round(paced["p50_ms"], 3),
        "p99_ms": round(paced["p99_ms"], 3),
        "ok": not problems,
    }
    for p in problems:
        print(f"CHECK FAILED: {p}", file=sys.stderr)
    print(json.dumps(figures))
    keep.cleanup()
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
