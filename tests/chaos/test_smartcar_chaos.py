"""Chaos: the smart-car pipeline killed with SIGKILL at random points, then resumed.

Each run is the real command in a subprocess. A chaos run is killed at least
``KILLS`` times at random moments and then run to the end with the same command
and ``--data-dir``; its final stores must equal those of an undisturbed run: the
same rows and dead letters, the same speeding sets, and a detection log that holds
every (car, batch) exactly once in exactly-once mode (no duplicate, no gap), or at
least once in at-least-once mode.

The trips are the real logs of ../shared/data/carobd plus one malformed row. The
chaos runs are paced (``--pace``) so that a run lasts long enough to be killed
several times in the middle. The rule is the speeding rule with a 10-second batch
and a 40 km/h threshold: hundreds of detections, so a kill often lands between a
detection and the next checkpoint, where a sink that is not transactional would
write a detection twice.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore

from tests.reference_data import FLEET as CAROBD
KILLS = 6
PACE = "150"                 # the trips span 2,681 s of event time: about 18 s a run
TABLES = ("DriverCarInfo", "DeadLetters")
RULE = """SELECT carNumber, avg(speed) AS avgSpeed, count(*) AS events
FROM DriverCarInfo#time_batch(10 sec) GROUP BY carNumber HAVING avg(speed) > 40"""

pytestmark = pytest.mark.slow


def squall(*args, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "squall", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"squall {' '.join(map(str, args))} exited {proc.returncode}:\n" \
                                 f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def trips(tmp_path_factory):
    d = tmp_path_factory.mktemp("trips")
    for f in CAROBD.glob("*.csv"):
        shutil.copyfile(f, d / f.name)
    with open(d / "drive9.csv", "a") as fh:
        fh.write("abc, 800, 10\n")           # a malformed row: dead letters are compared too
    (d.parent / "rule.epl").write_text(RULE)
    return d


def stores(data: Path, log: Path) -> dict:
    tables = EmbeddedTableStore(data)
    try:
        out = {t: dict(tables.open_table(t).scan()) if t in tables.tables() else {} for t in TABLES}
    finally:
        tables.close()
    kv = EmbeddedKeyValueStore(data)
    try:
        out["speeding"] = {k: kv.smembers(k) for k in kv.keys("2*")}
    finally:
        kv.close()
    out["log"] = log.read_text().splitlines() if log.exists() else []
    return out


@pytest.fixture(scope="module")
def undisturbed(trips, tmp_path_factory):
    base = tmp_path_factory.mktemp("undisturbed")
    squall("smartcar", "run", "--replay", trips, "--data-dir", base / "data", "--rule", trips.parent / "rule.epl",
           "--speeding-log", base / "log.jsonl", "--guarantee", "exactly-once")
    result = stores(base / "data", base / "log.jsonl")
    assert len(result["log"]) > 200 and result["speeding"] and result["DeadLetters"]
    assert len(result["log"]) == len(set(result["log"]))
    return result


def chaos_run(trips, base: Path, guarantee: str, seed: int) -> tuple[int, str]:
    """Kill the command KILLS times at random points, then let it finish; returns the
    number of kills that landed while it ran and the last run's output."""
    rng = random.Random(seed)
    args = [sys.executable, "-m", "squall", "smartcar", "run", "--replay", str(trips),
            "--data-dir", str(base / "data"), "--speeding-log", str(base / "log.jsonl"),
            "--rule", str(trips.parent / "rule.epl"),
            "--guarantee", guarantee, "--checkpoint-interval", "200", "--pace", PACE]
    kills = 0
    while kills < KILLS:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.8, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            return kills, out
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the resumed run exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return kills, proc.stdout


@pytest.mark.parametrize("seed", [11])
def test_exactly_once_survives_kills_with_identical_stores_and_log(trips, undisturbed, tmp_path, seed):
    kills, out = chaos_run(trips, tmp_path, "exactly-once", seed)
    assert kills >= 5, f"only {kills} kills landed mid-run"
    assert "resumed from checkpoint" in out
    got = stores(tmp_path / "data", tmp_path / "log.jsonl")
    for t in TABLES:
        assert got[t] == undisturbed[t], t
    assert got["speeding"] == undisturbed["speeding"]
    dup = [line for line, n in Counter(got["log"]).items() if n > 1]
    assert not dup, f"duplicate detections: {dup[:3]}"
    missing = set(undisturbed["log"]) - set(got["log"])
    assert not missing, f"missing detections: {sorted(missing)[:3]}"
    assert got["log"] == undisturbed["log"]


@pytest.mark.parametrize("seed", [12])
def test_at_least_once_survives_kills_with_nothing_missing(trips, undisturbed, tmp_path, seed):
    kills, out = chaos_run(trips, tmp_path, "at-least-once", seed)
    assert kills >= 5, f"only {kills} kills landed mid-run"
    got = stores(tmp_path / "data", tmp_path / "log.jsonl")
    for t in TABLES:
        assert got[t] == undisturbed[t], t
    assert got["speeding"] == undisturbed["speeding"]
    assert set(got["log"]) == set(undisturbed["log"]), "a detection is missing or wrong"
