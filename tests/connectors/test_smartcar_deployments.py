"""One pipeline, two deployments: the smart-car topology on Kafka + HBase + Redis gives
what it gives on the embedded defaults, on real trips, and loses nothing when a
service goes away or the process is killed mid-run.

Every run is the real command in a subprocess (``python -m squall smartcar ...``).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from squall.connectors.hbase import HBaseTableStore
from squall.connectors.redis import RedisKeyValueStore
from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore

from tests.reference_data import SAMPLE as CAROBD
TRIPS = ("drive9", "live26", "live39", "idle9")   # three of them speed (see tests/smartcar)
TABLES = ("DriverCarInfo", "DeadLetters")
REDIS_DB = 7                                      # apart from the connector tests' db 0

pytestmark = pytest.mark.slow


def squall(*args, check=True, timeout=240):
    proc = subprocess.run([sys.executable, "-m", "squall", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"squall {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def trips(tmp_path_factory):
    d = tmp_path_factory.mktemp("trips")
    for name in TRIPS:
        shutil.copyfile(CAROBD / f"{name}.csv", d / f"{name}.csv")
    # A malformed row, so dead letters are compared too.
    with open(d / "live26.csv", "a") as fh:
        fh.write("abc, 800, 10\n")
    return d


def table_rows(store, table):
    if table not in store.tables():
        return {}
    return dict(store.open_table(table).scan())


def speeding_sets(kv):
    return {k: kv.smembers(k) for k in kv.keys("2*")}


def detections(log: Path) -> list[tuple]:
    if not log.exists():
        return []
    return sorted((d["car_number"], d["window_start"], d["window_end"], round(d["avg_speed"], 9), d["events"])
                  for d in map(json.loads, log.read_text().splitlines()))


@pytest.fixture(scope="module")
def embedded(trips, tmp_path_factory):
    base = tmp_path_factory.mktemp("embedded")
    squall("smartcar", "run", "--replay", trips, "--data-dir", base / "data", "--speeding-log", base / "log.jsonl")
    with EmbeddedTableStore(base / "data").open() as tables, EmbeddedKeyValueStore(base / "data").open() as kv:
        result = {t: table_rows(tables, t) for t in TABLES}
        result["speeding"] = speeding_sets(kv)
    result["detections"] = detections(base / "log.jsonl")
    assert result["detections"] and result["speeding"] and result["DeadLetters"]
    return result


class Real:
    """The real services, emptied for one run, and the command line that uses them."""

    def __init__(self, kafka, hbase_server, redis_server, trips, tmp_path):
        self.kafka, self.hbase_server, self.redis_server = kafka, hbase_server, redis_server
        self.topic = kafka.create_topic(f"cars-{uuid.uuid4().hex[:8]}", 1)
        self.group = f"g-{uuid.uuid4().hex[:8]}"
        self.log = tmp_path / "log.jsonl"
        self.data = tmp_path / "data"
        self.redis_url = f"redis://127.0.0.1:{redis_server.port}/{REDIS_DB}"
        self.hbase = HBaseTableStore("127.0.0.1", hbase_server.thrift_port).open()
        for t in TABLES:
            if t in self.hbase.tables():
                self.hbase.delete_table(t)
        self.kv = RedisKeyValueStore(self.redis_url).open()
        self.kv.flushdb()
        squall("smartcar", "produce", "--replay", trips, "--kafka", kafka.bootstrap, "--topic", self.topic)

    def run_args(self):
        return ["smartcar", "run", "--kafka", self.kafka.bootstrap, "--topic", self.topic, "--group", self.group,
                "--hbase", f"127.0.0.1:{self.hbase_server.thrift_port}", "--redis", self.redis_url,
                "--speeding-log", self.log, "--data-dir", self.data]

    def run(self, **kw):
        return squall(*self.run_args(), **kw)

    def start(self, *extra):
        return subprocess.Popen([sys.executable, "-m", "squall", *map(str, self.run_args()), *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def results(self):
        out = {t: table_rows(self.hbase, t) for t in TABLES}
        out["speeding"] = speeding_sets(self.kv)
        out["detections"] = detections(self.log)
        return out


@pytest.fixture
def real(kafka, hbase_server, redis_server, trips, tmp_path):
    r = Real(kafka, hbase_server, redis_server, trips, tmp_path)
    yield r
    r.kv.close()
    r.hbase.close()


def dead_records(rows):
    # Dead letters are keyed by origin (a file line here, a Kafka offset there) and the
    # reason names what each reader saw; the rejected records themselves must agree.
    return sorted(cells["d:record"] for cells in rows.values())


def assert_same_stores(got, expected):
    assert got["DriverCarInfo"].keys() == expected["DriverCarInfo"].keys()
    assert got["DriverCarInfo"] == expected["DriverCarInfo"]
    assert dead_records(got["DeadLetters"]) == dead_records(expected["DeadLetters"])
    assert got["speeding"] == expected["speeding"]


def test_real_deployment_gives_what_the_embedded_one_gives(real, embedded):
    proc = real.run()
    assert "no loss" in proc.stdout
    got = real.results()
    assert_same_stores(got, embedded)
    assert got["detections"] == embedded["detections"]
    assert all(0 < real.kv.ttl(k) <= 604800 for k in got["speeding"])


def _after(delay_s, action):
    t = threading.Timer(delay_s, action)
    t.start()
    return t


def test_redis_down_then_back_mid_run_loses_nothing(real, embedded, redis_server):
    redis_server.stop()
    timer = _after(4.0, redis_server.start)
    try:
        proc = real.run()
    finally:
        timer.join()
    assert "no loss" in proc.stdout
    got = real.results()
    assert_same_stores(got, embedded)
    assert got["detections"] == embedded["detections"]


def test_hbase_thrift_down_then_back_mid_run_loses_nothing(real, embedded, hbase_server):
    hbase_server.stop_thrift()
    timer = _after(4.0, hbase_server.start_thrift)
    try:
        proc = real.run()
    finally:
        timer.join()
    assert "no loss" in proc.stdout or "replays of failed trees" in proc.stdout
    got = real.results()
    assert_same_stores(got, embedded)
    # Records replayed after the outage reached the rule once (deduplicated by row key).
    assert got["detections"] == embedded["detections"]


def test_kafka_broker_restarted_mid_run_loses_nothing(real, embedded, kafka):
    proc = real.start()
    time.sleep(4.0)                 # the consumer group has joined and is reading
    kafka.restart()
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    got = real.results()
    assert_same_stores(got, embedded)
    assert set(got["detections"]) == set(embedded["detections"])


def test_process_killed_and_restarted_with_the_same_group_loses_no_record(real, embedded):
    # Few records in flight: the run takes long enough to be killed in the middle.
    proc = real.start("--max-pending", "5")
    # Kill -9 once the run has stored something (its progress lines go to stderr).
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        if "stored" in line and " stored 0 " not in line:
            break
        assert time.monotonic() < deadline, "the run made no progress"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    stored_at_kill = len(table_rows(real.hbase, "DriverCarInfo"))
    assert 0 < stored_at_kill < len(embedded["DriverCarInfo"]), "the kill did not land mid-run"
    real.run()                      # same command, same consumer group: resumes
    got = real.results()
    assert got["DriverCarInfo"] == embedded["DriverCarInfo"]
    assert dead_records(got["DeadLetters"]) == dead_records(embedded["DeadLetters"])
    # The open windows were checkpointed with the offsets: every detection is there
    # (at-least-once: one made after the last checkpoint may be logged twice).
    assert set(got["detections"]) == set(embedded["detections"])
    assert got["speeding"] == embedded["speeding"]


def test_bad_input_from_kafka_is_dead_lettered_with_its_reason(kafka, tmp_path):
    from confluent_kafka import Producer

    topic = kafka.create_topic(f"bad-{uuid.uuid4().hex[:8]}", 1)
    good = "20240101000000,car1,10.0,0,0,0,90.0,7"
    bad = {
        b"\xff\xfe,not,utf8": "not UTF-8",
        b"20240101000001,car1,10.0": "expected 8 comma-separated fields, got 3",
        b"2024010100000x,car1,10.0,0,0,0,90.0,7": "date must be 14 digits",
        b"20240101000002,car1,10.0,0,0,0,fast,7": "speed is not a number",
        b"9" * 300_000: "record is 300,000 bytes",
    }
    p = Producer({"bootstrap.servers": kafka.bootstrap})
    p.produce(topic, good.encode(), key=b"car1")
    for value in bad:
        p.produce(topic, value, key=b"car1")
    p.produce(topic, None, key=b"car1")          # a tombstone: no value at all
    assert p.flush(30) == 0
    data = tmp_path / "data"
    proc = squall("smartcar", "run", "--kafka", kafka.bootstrap, "--topic", topic, "--group", "bad",
                  "--data-dir", data)
    assert "no loss" in proc.stdout
    store = EmbeddedTableStore(data).open()
    assert list(table_rows(store, "DriverCarInfo")) == ["00000010104202-car1"]
    dead = table_rows(store, "DeadLetters")
    reasons = {cells["d:origin"].decode(): cells["d:reason"].decode() for cells in dead.values()}
    assert len(dead) == len(bad) + 1
    for offset, (value, reason) in enumerate(bad.items(), start=1):
        assert reason in reasons[f"{topic}/0/{offset}"], (value[:40], reasons)
    assert "empty message" in reasons[f"{topic}/0/{len(bad) + 1}"]
    store.close()
