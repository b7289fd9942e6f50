"""Chaos: the smart-car pipeline killed with SIGKILL at random points, then resumed.

Each run is the real command in a subprocess. A chaos run is killed ``KILLS`` times
at random moments after it stored its first records, then run to the end with the
same command and ``--data-dir``; its final stores must equal those of an undisturbed
run: the same rows and dead letters, the same speeding sets, and a detection log that
holds every (car, batch) exactly once in exactly-once mode (no duplicate, no gap), or
at least once in at-least-once mode.

Equal stores alone would not show recovery: with idempotent keyed writes, runs that
each started from scratch end with the same stores. So both modes also prove that
every kill landed after a checkpoint of the killed run (the last complete checkpoint
in the state backend, read between runs, moved past the one the run started from:
checkpoint ids continue from the restored one) and that the last run resumed (its
summary says "resumed from checkpoint N at record R" with N the last checkpoint of
the killed runs, R > 0, and it read only the records after R).

The trips are ``tests.reference_data.FLEET`` (the full carOBD set when present, else
the six shipped sample trips) plus one malformed row. The chaos runs are paced
(``--pace``) so that an undisturbed run would last about ``PACED_RUN_S`` seconds,
long enough to be killed several times in the middle whichever set it is. The rule
is the speeding rule with a 10-second batch and a 40 km/h threshold: hundreds of
detections even on the sample, so a kill often lands between a detection and the
next checkpoint, where a sink that is not transactional would write a detection twice.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from squall.runtime.checkpoint import COORDINATOR_COMPONENT
from squall.state import RocksDBStateBackend
from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore
from tests.reference_data import FLEET as CAROBD

KILLS = 6
PACED_RUN_S = 30
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


def summary_number(pattern: str, out: str) -> int:
    """The number matched by ``pattern``'s group in a run's summary (thousands separators allowed)."""
    m = re.search(pattern, out, re.MULTILINE)
    assert m, f"no {pattern!r} in the summary:\n{out}"
    return int(m.group(1).replace(",", ""))


def event_span_s(trips: Path) -> float:
    """Seconds of event time the replay spans: the longest trip's last run time (first column)."""
    span = 0.0
    for f in trips.glob("*.csv"):
        for line in reversed(f.read_text().splitlines()):
            try:
                span = max(span, float(line.split(",")[0]))
                break
            except ValueError:
                continue  # the malformed row, or a blank line
    return span


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
    tables = EmbeddedTableStore(data).open()
    try:
        out = {t: dict(tables.open_table(t).scan()) if t in tables.tables() else {} for t in TABLES}
    finally:
        tables.close()
    kv = EmbeddedKeyValueStore(data).open()
    try:
        out["speeding"] = {k: kv.smembers(k) for k in kv.keys("2*")}
    finally:
        kv.close()
    out["log"] = log.read_text().splitlines() if log.exists() else []
    return out


@pytest.fixture(scope="module")
def undisturbed(trips, tmp_path_factory):
    base = tmp_path_factory.mktemp("undisturbed")
    run = squall("smartcar", "run", "--replay", trips, "--data-dir", base / "data", "--rule", trips.parent / "rule.epl",
                 "--speeding-log", base / "log.jsonl", "--guarantee", "exactly-once")
    result = stores(base / "data", base / "log.jsonl")
    assert len(result["log"]) > 200 and result["speeding"] and result["DeadLetters"]
    assert len(result["log"]) == len(set(result["log"]))
    result["read"] = summary_number(r"^read ([\d,]+) records", run.stdout)
    return result


def last_checkpoint(data: Path) -> int | None:
    """The id of the last complete checkpoint in the run's RocksDB state backend (None: none yet).

    Only between runs: the running command holds the backend's lock. Checkpoints are kept
    per input, so one input has exactly one backend directory.
    """
    backends = list((data / "state").glob("*")) if (data / "state").is_dir() else []
    if not backends:
        return None
    assert len(backends) == 1, f"one input, several checkpoint namespaces: {backends}"
    with RocksDBStateBackend(backends[0]).open() as backend:
        return backend.state(COORDINATOR_COMPONENT, 0).committed_txid


def chaos_run(trips, base: Path, guarantee: str, seed: int) -> tuple[list[int | None], str]:
    """Kill the command KILLS times, each at a random moment after the run stored its first
    records, then let it finish. Returns the last complete checkpoint after each kill and
    the last run's output."""
    rng = random.Random(seed)
    pace = event_span_s(trips) / PACED_RUN_S
    args = [sys.executable, "-m", "squall", "smartcar", "run", "--replay", str(trips),
            "--data-dir", str(base / "data"), "--speeding-log", str(base / "log.jsonl"),
            "--rule", str(trips.parent / "rule.epl"),
            "--guarantee", guarantee, "--checkpoint-interval", "200", "--pace", f"{pace:.1f}"]
    checkpoints: list[int | None] = []
    for _ in range(KILLS):
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The progress line, printed every second, says when rows are being stored; a
        # checkpoint is taken every 200 ms from the start, so the kill should land after
        # this run's first one (checked below, not assumed).
        for line in proc.stderr:
            m = re.search(r"\bstored ([\d,]+)", line)
            if m and int(m.group(1).replace(",", "")) > 0:
                break
        try:  # about one progress line until the kill: the pipe cannot fill meanwhile
            proc.wait(timeout=rng.uniform(0.3, 1.5))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        out = proc.communicate(timeout=60)[0]
        assert proc.returncode == -signal.SIGKILL, \
            f"run {len(checkpoints) + 1} ended (exit {proc.returncode}) before its kill:\n{out}"
        checkpoints.append(last_checkpoint(base / "data"))
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the resumed run exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return checkpoints, proc.stdout


def assert_each_run_resumed(checkpoints: list[int | None], out: str, records: int) -> None:
    """Each killed run checkpointed before its kill, on from the checkpoint it resumed; the
    last run resumed from the last of them and read only what came after it."""
    assert None not in checkpoints, \
        f"no checkpoint in the state backend after a kill (killed too early, or not persisted): {checkpoints}"
    assert all(b > a for a, b in zip([0, *checkpoints], checkpoints)), \
        f"a run was killed before its first checkpoint, or did not resume: {checkpoints}"
    resumed = summary_number(r"; resumed from checkpoint (\d+) at record", out)
    at = summary_number(r"; resumed from checkpoint \d+ at record ([\d,]+)", out)
    assert resumed == checkpoints[-1], f"resumed from {resumed}, the last checkpoint was {checkpoints[-1]}"
    assert at > 0, f"resumed checkpoint {resumed} at record 0: the source lost its restored position"
    assert summary_number(r"([\d,]+) checkpoints \(", out) >= 1
    read = summary_number(r"^read ([\d,]+) records", out)
    if summary_number(r"([\d,]+) rollbacks", out) == 0:
        assert at + read == records, f"resumed at record {at} but read {read} of {records}"
    else:  # a rollback reads the records after its checkpoint again
        assert at + read >= records


@pytest.mark.parametrize("seed", [11])
def test_exactly_once_survives_kills_with_identical_stores_and_log(trips, undisturbed, tmp_path, seed):
    checkpoints, out = chaos_run(trips, tmp_path, "exactly-once", seed)
    assert_each_run_resumed(checkpoints, out, undisturbed["read"])
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
    checkpoints, out = chaos_run(trips, tmp_path, "at-least-once", seed)
    assert_each_run_resumed(checkpoints, out, undisturbed["read"])
    got = stores(tmp_path / "data", tmp_path / "log.jsonl")
    for t in TABLES:
        assert got[t] == undisturbed[t], t
    assert got["speeding"] == undisturbed["speeding"]
    assert set(got["log"]) == set(undisturbed["log"]), "a detection is missing or wrong"
