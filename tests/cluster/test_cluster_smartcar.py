"""The smart-car pipeline on two Ray worker processes, on the real trips of
``tests.reference_data.FLEET``: the same table, speeding sets and detections as one
worker and as the independent oracle; and under five SIGKILLs of a worker at random
moments, in both guarantees, the same stores as an undisturbed run (the detection log
line for line in exactly-once)."""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from squall.config import (AT_LEAST_ONCE, CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE,
                           MAX_SPOUT_PENDING, MESSAGE_TIMEOUT_SECS)
from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore
from squall_smartcar.record import date_to_ms
from squall_smartcar.sources import ReplaySpout
from squall_smartcar.topology import DEAD_LETTER_TABLE, DEFAULT_RULE, TABLE, Stores, build_topology
from tests.cluster.ray_topos import rocksdb_partition
from tests.reference_data import FLEET
from tests.smartcar.smartcar_oracle import DEFAULT_START, Fleet

pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def rows(data: Path, table: str) -> dict[str, dict]:
    with EmbeddedTableStore(data, read_only=True).open() as store:
        if table not in store.tables():
            return {}
        return dict(store.open_table(table).scan())


def speeding(data: Path) -> dict[str, set[str]]:
    with EmbeddedKeyValueStore(data, read_only=True).open() as kv:
        return {day: set(kv.smembers(day)) for day in kv.keys("*")}


def detections(log: Path) -> list[str]:
    return sorted(log.read_text().splitlines()) if log.exists() else []


def run_cli(tmp: Path, workers: int) -> tuple[Path, Path, str]:
    data, log = tmp / f"data-{workers}", tmp / f"log-{workers}.jsonl"
    p = subprocess.run([sys.executable, "-m", "squall", "smartcar", "run", "--replay", str(FLEET),
                        "--data-dir", str(data), "--speeding-log", str(log), "--workers", str(workers)],
                       capture_output=True, text=True, timeout=900, cwd=tmp)
    assert p.returncode == 0, f"--workers {workers}: rc={p.returncode}\n{p.stdout}\n{p.stderr[-3000:]}"
    return data, log, p.stdout


def test_two_workers_equal_one_worker_and_the_oracle_on_the_real_trips(tmp_path):
    one = run_cli(tmp_path, 1)
    two = run_cli(tmp_path, 2)
    fleet = Fleet(FLEET)
    assert f"read {fleet.record_count:,} records" in two[2] and "no loss:" in two[2]
    assert rows(two[0], TABLE) == rows(one[0], TABLE)
    assert set(rows(two[0], TABLE)) == set(fleet.rows())
    assert rows(two[0], DEAD_LETTER_TABLE) == rows(one[0], DEAD_LETTER_TABLE)
    assert speeding(two[0]) == speeding(one[0]) != {}
    assert detections(two[1]) == detections(one[1])
    got = {(d["car_number"], d["window_start"], d["window_end"]) for d in map(json.loads, detections(two[1]))}
    assert got == set(fleet.detections(80))
    count = subprocess.run([sys.executable, "-m", "squall", "table", "count", TABLE, "--data-dir", str(two[0])],
                           capture_output=True, text=True, timeout=60)
    assert count.returncode == 0 and count.stdout.split()[-1] == str(fleet.record_count), count


def event_span_s(trips: Path) -> float:
    span = 0.0
    for f in trips.glob("*.csv"):
        for line in reversed(f.read_text().splitlines()):
            try:
                span = max(span, float(line.split(",")[0]))
                break
            except ValueError:
                continue
    return span


def run_pipeline(ray_cluster, name: str, tmp: Path, guarantee: str, kills: int, seed: int = 7):
    data, log = tmp / f"{name}-data", tmp / f"{name}.jsonl"
    pace = event_span_s(FLEET) / 25 if kills else None
    topology = build_topology(ReplaySpout(str(FLEET), date_to_ms(DEFAULT_START), pace), Stores.embedded(data),
                              DEFAULT_RULE.read_text(), speeding_log=str(log))
    conf = {CHECKPOINT_MODE: guarantee, CHECKPOINT_INTERVAL_MS: 200, MAX_SPOUT_PENDING: 2000,
            MESSAGE_TIMEOUT_SECS: 10}
    handle = ray_cluster.submit_topology(name, conf, topology, workers=2, until_complete=True,
                                         state_backend=functools.partial(rocksdb_partition, str(tmp / f"{name}-st")))
    rng = random.Random(seed)
    recoveries = []
    while len(recoveries) < kills:
        time.sleep(rng.uniform(1.0, 3.0))
        assert handle.summary()["phase"] == "running", f"the run ended after {len(recoveries)} kills"
        statuses = handle.statuses()
        if any(s is None for s in statuses):
            continue
        victim = rng.randrange(2)
        t0 = time.monotonic()
        os.kill(statuses[victim]["pid"], signal.SIGKILL)
        while (st := handle.statuses()[victim]) is None or st["pid"] == statuses[victim]["pid"]:
            assert time.monotonic() - t0 < 120, "the killed worker was not restarted"
            time.sleep(0.05)
        recoveries.append(time.monotonic() - t0)
    assert handle.wait(900)
    summary = handle.summary()
    ray_cluster.kill_topology(name)
    print(f"{name}: worker back after SIGKILL in {[round(r, 2) for r in recoveries]} s; "
          f"{summary['checkpoints']} checkpoints, {summary['rollbacks']} rollbacks")
    assert summary["completed"]
    return data, log


@pytest.mark.parametrize("guarantee", [EXACTLY_ONCE, AT_LEAST_ONCE])
def test_five_worker_kills_give_the_stores_of_an_undisturbed_run(ray_cluster, tmp_path, guarantee):
    calm_data, calm_log = run_pipeline(ray_cluster, f"calm-{guarantee}", tmp_path, guarantee, kills=0)
    data, log = run_pipeline(ray_cluster, f"chaos-{guarantee}", tmp_path, guarantee, kills=5)
    assert rows(data, TABLE) == rows(calm_data, TABLE)
    assert rows(data, DEAD_LETTER_TABLE) == rows(calm_data, DEAD_LETTER_TABLE)
    assert speeding(data) == speeding(calm_data)
    calm = detections(calm_log)
    if guarantee == EXACTLY_ONCE:
        assert detections(log) == calm, "exactly-once: the detection log, line for line"
    else:
        assert set(detections(log)) == set(calm) and Counter(detections(log)) >= Counter(calm)
