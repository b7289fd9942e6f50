"""Chaos on the real deployment: Kafka -> pipeline -> HBase + Redis, killed with SIGKILL at
random points at least five times, then resumed with the same command.

The trips are all of ../shared/data/carobd plus a malformed row (the fixtures of
test_smartcar_chaos). The final HBase tables, Redis speeding sets and detection log
must equal those of an undisturbed embedded run of the same trips: the same rows and dead-lettered records, the
same sets, and each detection exactly once (exactly-once mode; the Kafka spout resumes
from the checkpointed offsets, not the group's). Every run is the real command in a
subprocess, against the session's real broker, HBase and redis-server.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest

from squall.connectors.hbase import HBaseTableStore
from squall.connectors.redis import RedisKeyValueStore

from .test_smartcar_chaos import TABLES, squall, trips, undisturbed  # noqa: F401 (fixtures)

KILLS = 5
REDIS_DB = 8

pytestmark = pytest.mark.slow


def dead_records(rows):
    # Keyed by origin (a file line in the replay, a Kafka offset here): compare the records.
    return sorted(cells["d:record"] for cells in rows.values())


def test_real_deployment_killed_five_times_ends_identical_with_each_detection_once(
        kafka, hbase_server, redis_server, trips, undisturbed, tmp_path):  # noqa: F811 (fixtures)
    reference = undisturbed
    topic = kafka.create_topic(f"chaos-{uuid.uuid4().hex[:8]}", 1)
    squall("smartcar", "produce", "--replay", trips, "--kafka", kafka.bootstrap, "--topic", topic)
    hbase = HBaseTableStore("127.0.0.1", hbase_server.thrift_port).open()
    for t in TABLES:
        if t in hbase.tables():
            hbase.delete_table(t)
    redis_url = f"redis://127.0.0.1:{redis_server.port}/{REDIS_DB}"
    kv = RedisKeyValueStore(redis_url).open()
    kv.flushdb()
    log = tmp_path / "log"
    args = [sys.executable, "-m", "squall", "smartcar", "run", "--kafka", kafka.bootstrap, "--topic", topic,
            "--group", f"g-{uuid.uuid4().hex[:8]}", "--hbase", f"127.0.0.1:{hbase_server.thrift_port}",
            "--redis", redis_url, "--speeding-log", str(log), "--data-dir", str(tmp_path / "data"),
            "--rule", str(trips.parent / "rule.epl"), "--guarantee", "exactly-once",
            "--checkpoint-interval", "200"]
    rng = random.Random(5)
    kills = 0
    while kills < KILLS:
        # Killed runs keep few records in flight, so each gets only part of the input
        # done before its kill; the last run (same checkpoints: --max-pending is not
        # part of the job's identity) goes at full speed.
        proc = subprocess.Popen([*args, "--max-pending", "5"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 2.5))
        if proc.poll() is not None:
            break                                  # it finished first: the input is used up
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        kills += 1
    assert kills == KILLS, f"only {kills} kills landed mid-run"
    final = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, f"{final.stdout}\n{final.stderr[-3000:]}"
    assert "resumed from checkpoint" in final.stdout

    rows = {t: dict(hbase.open_table(t).scan()) if t in hbase.tables() else {} for t in TABLES}
    assert rows["DriverCarInfo"] == reference["DriverCarInfo"]
    assert dead_records(rows["DeadLetters"]) == dead_records(reference["DeadLetters"])
    assert {k: kv.smembers(k) for k in kv.keys("2*")} == reference["speeding"]
    got = log.read_text().splitlines()
    dup = [line for line, n in Counter(got).items() if n > 1]
    assert not dup, f"duplicate detections: {dup[:3]}"
    assert sorted(got) == sorted(reference["log"])
    kv.close()
    hbase.close()
