"""Checkpoints: their cost on the smart-car replay, recovery time after kill -9, state size.

1. Throughput of the smart-car pipeline (``build_topology`` on embedded stores, acking
   on, max pending 5000) over the carOBD fleet replayed ``--repeat`` times back to back,
   with no state backend vs checkpoints every ``--interval-ms`` (default 1000) on the
   in-memory and the RocksDB backend, exactly-once with the detection log. Each run is
   a fresh subprocess; ``--rounds`` rounds, interleaved; medians reported, overhead
   relative to no checkpoints.
2. Recovery after kill -9: ``squall smartcar run --replay ... --guarantee exactly-once``
   is killed at a random point after its first checkpoint, then run again; the resumed
   run reports how long after its process started every task was restored (Python
   start-up, imports and topology build included) and how long the state restore itself
   took. Median of ``--kills`` trials.
3. State size on disk (RocksDB) after the full replay.

    python benchmarks/checkpoint.py [--replay DIR] [--repeat N] [--rounds N] [--kills N]

Prints a table per measurement, then one JSON line. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import DEFAULT_REPLAY  # noqa: E402  (benchmarks/ is on sys.path)

MODES = ("none", "memory", "rocksdb")


def one_run(mode: str, replay: str, repeat: int, interval_ms: int) -> dict:
    """One throughput run in this process; returns its figures."""
    from smartcar import RepeatReplaySpout, START_MS
    from squall.config import CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE, MAX_SPOUT_PENDING
    from squall.runtime import run_topology
    from squall.state import MemoryStateBackend, RocksDBStateBackend
    from squall_smartcar.topology import DEFAULT_RULE, Stores, build_topology

    with tempfile.TemporaryDirectory() as tmp:
        stores = Stores.embedded(Path(tmp) / "data")
        spout = RepeatReplaySpout(replay, START_MS, repeat)
        topo = build_topology(spout, stores, DEFAULT_RULE.read_text(), speeding_log=str(Path(tmp) / "log"))
        backend = {"none": lambda: None, "memory": MemoryStateBackend,
                   "rocksdb": lambda: RocksDBStateBackend(Path(tmp) / "state")}[mode]()
        conf = {MAX_SPOUT_PENDING: 5000, CHECKPOINT_INTERVAL_MS: interval_ms,
                CHECKPOINT_MODE: EXACTLY_ONCE if backend is not None else "at-least-once"}
        result = run_topology(topo, conf, state_backend=backend)
        records = result.stats["source"].metrics["read"]
        out = {"mode": mode, "records": records, "elapsed_s": result.elapsed_s,
               "records_per_s": records / result.elapsed_s, "completed": result.completed,
               "detections": len((Path(tmp) / "log").read_text().splitlines())}
        cp = result.checkpoints
        if cp is not None:
            out.update(checkpoints=cp.completed, checkpoint_mean_ms=cp.total_s / max(cp.completed, 1) * 1000,
                       checkpoint_max_ms=cp.max_s * 1000)
        if mode == "rocksdb":
            out["state_bytes"] = sum(f.stat().st_size for f in (Path(tmp) / "state").rglob("*") if f.is_file())
    return out


def throughput(args) -> dict:
    runs = {m: [] for m in MODES}
    for r in range(args.rounds):
        order = MODES if r % 2 == 0 else tuple(reversed(MODES))
        for mode in order:
            proc = subprocess.run([sys.executable, __file__, "--one", mode, "--replay", args.replay,
                                   "--repeat", str(args.repeat), "--interval-ms", str(args.interval_ms)],
                                  capture_output=True, text=True, check=True)
            runs[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    base = statistics.median(r["records_per_s"] for r in runs["none"])
    print(f"\n1. smart-car replay x{args.repeat} ({runs['none'][0]['records']:,} records), "
          f"checkpoints every {args.interval_ms} ms, exactly-once; median of {args.rounds}")
    print(f"{'state backend':<14}{'records/s':>12}{'overhead':>10}{'checkpoints':>13}{'mean ms':>9}{'max ms':>8}")
    summary = {}
    for mode in MODES:
        rs = runs[mode]
        rate = statistics.median(r["records_per_s"] for r in rs)
        assert all(r["completed"] for r in rs) and len({r["detections"] for r in rs}) == 1
        over = (base - rate) / base * 100
        cps = statistics.median(r.get("checkpoints", 0) for r in rs)
        mean = statistics.median(r.get("checkpoint_mean_ms", 0) for r in rs)
        mx = max(r.get("checkpoint_max_ms", 0) for r in rs)
        label = "none" if mode == "none" else mode
        print(f"{label:<14}{rate:>12,.0f}{over if mode != 'none' else 0:>9.1f}%{cps:>13.0f}{mean:>9.1f}{mx:>8.1f}")
        summary[mode] = {"records_per_s": rate, "overhead_pct": over, "checkpoint_mean_ms": mean}
    summary["state_bytes"] = statistics.median(r["state_bytes"] for r in runs["rocksdb"])
    return summary


_RESUMED = re.compile(r"state restored in (\d+) ms, ([\d.]+) s after the process started")


def recovery(args) -> dict:
    rng = random.Random(args.seed)
    cmd = [sys.executable, "-m", "squall", "smartcar", "run", "--replay", args.replay,
           "--guarantee", "exactly-once", "--checkpoint-interval", str(args.interval_ms)]
    restored_ms, since_start_s = [], []
    while len(since_start_s) < args.kills:
        with tempfile.TemporaryDirectory() as tmp:
            run = cmd + ["--data-dir", tmp, "--speeding-log", str(Path(tmp) / "log")]
            proc = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(1.8, 2.6))
            if proc.poll() is not None:
                continue                        # ended before the kill: try again
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            out = subprocess.run(run, capture_output=True, text=True, check=True).stdout
            m = _RESUMED.search(out)
            if m is None:
                continue                        # killed before the first checkpoint
            restored_ms.append(int(m.group(1)))
            since_start_s.append(float(m.group(2)))
    print(f"\n2. recovery after kill -9 (median of {args.kills}; full replay, RocksDB, exactly-once)")
    print(f"   process start -> every task restored: median {statistics.median(since_start_s):.2f} s "
          f"(min {min(since_start_s):.2f}, max {max(since_start_s):.2f})")
    print(f"   of which the state restore (open, commit/rollback, rewind the replay): median "
          f"{statistics.median(restored_ms):.0f} ms")
    return {"recovery_s": statistics.median(since_start_s), "restore_ms": statistics.median(restored_ms)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replay", default=str(DEFAULT_REPLAY))
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one, args.replay, args.repeat, args.interval_ms)))
        return
    fig = throughput(args)
    fig.update(recovery(args))
    print(f"\n3. state on disk after the replay (RocksDB): {fig['state_bytes'] / 1024:,.0f} KiB")
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
