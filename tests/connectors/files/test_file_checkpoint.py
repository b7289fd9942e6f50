"""File sources under checkpoints: position in the checkpoint, kills, rotation, rollback.

A topology tails a file (or drains a spooling directory) into a stateful counter
(count per key, in its KeyValueState) and an exactly-once file sink that logs
``key count line``. Exactly-once means: the final counts equal the input, every input
line is in the log exactly once and every (key, 1..count) too, however often the
worker is killed (``Worker.stop()`` from inside the counter: no drain, no final
checkpoint) or rolls back.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from squall import Bolt, Stateful, TopologyBuilder
from squall.component import SpoutOutputCollector
from squall.config import AT_LEAST_ONCE, CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE, MAX_SPOUT_PENDING
from squall.connectors.files import FileSinkBolt, SpoolDirSpout, TailSpout
from squall.runtime.worker import Worker
from squall.state import MemoryStateBackend, RocksDBStateBackend

N_KEYS = 7

# Per run: stop the worker once the counter has seen ``after`` tuples, a line whose
# number reaches ``at_line``, or once ``checkpoints`` checkpoints completed; ``hooks``
# maps a tuple count to a callable run there.
KILL: dict = {"worker": None, "after": None, "at_line": None, "checkpoints": None, "seen": 0, "hooks": {}}


class LineCounter(Stateful, Bolt):
    """Counts lines per key (their first word) in its state; emits (key, count, line)."""

    def declare_output_fields(self, declarer):
        declarer.declare(["key", "count", "line"])

    def process(self, t):
        KILL["seen"] += 1
        hook = KILL["hooks"].pop(KILL["seen"], None)
        if hook is not None:
            hook()
        line = t["line"].decode()
        key, number = line.split()
        if (KILL["seen"] == KILL["after"] or (KILL["at_line"] is not None and int(number) >= KILL["at_line"])
                or (KILL["checkpoints"] is not None
                    and KILL["worker"].checkpoint_stats.completed >= KILL["checkpoints"])):
            KILL["worker"].stop()
        count = self.state.get(key, 0) + 1
        self.state.put(key, count)
        self.collector.emit([key, count, line], anchors=[t])
        self.collector.ack(t)


class Flaky(Bolt):
    """Raises once on every line whose number is a multiple of ``every`` (a rollback)."""

    def __init__(self, every: int) -> None:
        self.every = every

    def declare_output_fields(self, declarer):
        declarer.declare(["key", "count", "line"])

    def prepare(self, config, context, collector):
        self.collector = collector
        self.raised: set[str] = set()

    def process(self, t):
        line = t["line"]
        if int(line.split()[1]) % self.every == 0 and line not in self.raised:
            self.raised.add(line)
            raise RuntimeError(f"bolt bug on {line!r}")
        self.collector.emit(list(t.values), anchors=[t])
        self.collector.ack(t)


class Log(FileSinkBolt):
    def format(self, t):
        return f"{t['key']} {t['count']} {t['line']}"


def text(first: int, last: int) -> str:
    return "".join(f"k{i % N_KEYS} {i}\n" for i in range(first, last))


def tail_spout(tmp_path: Path) -> TailSpout:
    return TailSpout(str(tmp_path / "in" / "app.log"), str(tmp_path / "tail-pos.json"),
                     stop_at_eof=True, poll_interval_s=0.005)


def spool_spout(tmp_path: Path, delete: bool = False) -> SpoolDirSpout:
    return SpoolDirSpout(str(tmp_path / "spool"), str(tmp_path / "spool-pos.json"), delete=delete,
                         stop_when_empty=True, poll_interval_s=0.005)


def topology(spout, log: Path, flaky_every: int | None = None):
    b = TopologyBuilder()
    b.set_spout("src", spout)
    b.set_bolt("count", LineCounter()).shuffle_grouping("src")
    upstream = "count"
    if flaky_every:
        b.set_bolt("flaky", Flaky(flaky_every)).shuffle_grouping("count")
        upstream = "flaky"
    b.set_bolt("log", Log(str(log))).global_grouping(upstream)
    return b.build()


def conf(mode: str = EXACTLY_ONCE, interval_ms: int = 5):
    return {CHECKPOINT_MODE: mode, CHECKPOINT_INTERVAL_MS: interval_ms, MAX_SPOUT_PENDING: 200}


def run_once(topo, state_dir: Path, *, after=None, at_line=None, checkpoints=None, hooks=None,
             mode=EXACTLY_ONCE):
    backend = RocksDBStateBackend(state_dir).open()
    try:
        worker = Worker(topo, conf(mode), state_backend=backend)
        KILL.update(worker=worker, after=after, at_line=at_line, checkpoints=checkpoints, seen=0,
                    hooks=dict(hooks or {}))
        worker.run(until_complete=True)
    finally:
        KILL.update(worker=None, after=None, at_line=None, checkpoints=None, hooks={})
        backend.close()
    return worker


def checkpointed_position(state_dir: Path, topo) -> dict:
    backend = RocksDBStateBackend(state_dir).open()
    try:
        st = backend.state("src", topo.task_ids("src")[0])
        try:
            return st.get("position")
        finally:
            st.close()
    finally:
        backend.close()


def assert_exactly_once(log: Path, n_lines: int) -> None:
    got = [tuple(line.split()) for line in log.read_text().splitlines()]
    assert len(got) == n_lines, f"{len(got)} lines logged for {n_lines} input lines"
    numbers = Counter(int(g[3]) for g in got)
    assert set(numbers) == set(range(n_lines)) and max(numbers.values()) == 1
    totals = Counter(f"k{i % N_KEYS}" for i in range(n_lines))
    assert {(g[0], int(g[1])) for g in got} == {(k, c) for k, n in totals.items() for c in range(1, n + 1)}


def final_counts(state_dir: Path, topo) -> dict:
    backend = RocksDBStateBackend(state_dir).open()
    try:
        st = backend.state("count", topo.task_ids("count")[0])
        try:
            return dict(st.items())
        finally:
            st.close()
    finally:
        backend.close()


def expected_counts(n_lines: int) -> dict:
    return dict(Counter(f"k{i % N_KEYS}" for i in range(n_lines)))


@pytest.mark.parametrize("seed", [1, 2])
def test_tail_killed_at_random_points_loses_and_repeats_nothing(tmp_path, seed):
    n = 12000
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "app.log").write_text(text(0, n))
    rng = random.Random(seed)
    topo = topology(tail_spout(tmp_path), tmp_path / "out.log")
    kills = 0
    while True:
        w = run_once(topo, tmp_path / "state", after=rng.randint(300, 3000) if kills < 6 else None)
        if w.completed:
            break
        kills += 1
    assert kills == 6 and w.checkpoint_stats.recovered_txid is not None
    assert_exactly_once(tmp_path / "out.log", n)
    assert final_counts(tmp_path / "state", topo) == expected_counts(n)
    # The position file follows the completed checkpoints: it ends at the end of the file.
    pos = json.loads((tmp_path / "tail-pos.json").read_text())
    assert pos["offset"] == (tmp_path / "in" / "app.log").stat().st_size


def test_tail_resumes_a_file_rotated_during_a_killed_run_and_while_down(tmp_path):
    app = tmp_path / "in" / "app.log"
    app.parent.mkdir()
    app.write_text(text(0, 8000))
    rng = random.Random(7)
    topo = topology(tail_spout(tmp_path), tmp_path / "out.log")

    def rotate(to: str, first: int, last: int) -> None:
        os.rename(app, app.with_name(to))
        app.write_text(text(first, last))

    # Run 1: the file is rotated (app.log -> app.log.1, a new app.log) while the spout
    # reads it, and the worker is killed before the old file is read to its end: the
    # checkpoint holds app.log's inode, now found as app.log.1.
    w = run_once(topo, tmp_path / "state", after=rng.randint(2100, 3500),
                 hooks={2000: lambda: rotate("app.log.1", 8000, 14000)})
    assert not w.completed
    inode_1 = app.with_name("app.log.1").stat().st_ino
    assert checkpointed_position(tmp_path / "state", topo)["reading"][0] == inode_1
    # Run 2: killed well inside the second file.
    w = run_once(topo, tmp_path / "state", at_line=rng.randint(10500, 12000))
    assert not w.completed
    inode_2 = app.stat().st_ino
    assert checkpointed_position(tmp_path / "state", topo)["reading"][0] == inode_2
    # Rotated while down: the rest of app.log.2 is read there, then the new app.log.
    rotate("app.log.2", 14000, 18000)
    kills = 2
    while True:
        w = run_once(topo, tmp_path / "state", after=rng.randint(300, 2500) if kills < 6 else None)
        if w.completed:
            break
        kills += 1
    assert kills == 6
    assert_exactly_once(tmp_path / "out.log", 18000)
    assert final_counts(tmp_path / "state", topo) == expected_counts(18000)


@pytest.mark.parametrize("delete", [False, True])
def test_spool_dir_killed_at_random_points_loses_and_repeats_nothing(tmp_path, delete):
    spool = tmp_path / "spool"
    spool.mkdir()
    names = [f"part-{i}.log" for i in range(6)]
    for i, name in enumerate(names):
        (spool / name).write_text(text(i * 2000, (i + 1) * 2000))
        os.utime(spool / name, (1000 + i, 1000 + i))
    n = 2000 * len(names)
    rng = random.Random(3 + delete)
    topo = topology(spool_spout(tmp_path, delete), tmp_path / "out.log")
    kills = 0
    while True:
        w = run_once(topo, tmp_path / "state", after=rng.randint(300, 3000) if kills < 6 else None)
        if w.completed:
            break
        kills += 1
        # No file is retired before a completed checkpoint covers all of its lines: the
        # one the checkpoint reads, and those with lines in flight, are still there.
        pos = checkpointed_position(tmp_path / "state", topo)
        reading = pos["reading"][0] if pos and pos["reading"] else None
        pending = {ident for ident, _ in pos["files"]} if pos else set()
        for name in names:
            if name == reading or name in pending:
                assert (spool / name).exists()
    assert kills == 6
    assert_exactly_once(tmp_path / "out.log", n)
    assert final_counts(tmp_path / "state", topo) == expected_counts(n)
    left = sorted(p.name for p in spool.iterdir())
    assert left == ([] if delete else sorted(f"{name}.COMPLETED" for name in names))


@pytest.mark.parametrize("source", ["tail", "spool"])
def test_rollbacks_rewind_the_file_position(tmp_path, source):
    n = 3000
    if source == "tail":
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "app.log").write_text(text(0, n))
        spout = tail_spout(tmp_path)
    else:
        (tmp_path / "spool").mkdir()
        for i in range(3):
            (tmp_path / "spool" / f"p{i}.log").write_text(text(i * 1000, (i + 1) * 1000))
            os.utime(tmp_path / "spool" / f"p{i}.log", (1000 + i, 1000 + i))
        spout = spool_spout(tmp_path)
    topo = topology(spout, tmp_path / "out.log", flaky_every=397)
    backend = MemoryStateBackend().open()
    w = Worker(topo, conf(), state_backend=backend)
    KILL.update(worker=w, seen=0)
    w.run(until_complete=True)
    assert w.completed and w.checkpoint_stats.rollbacks > 0
    assert_exactly_once(tmp_path / "out.log", n)
    st = backend.state("count", topo.task_ids("count")[0])
    assert dict(st.items()) == expected_counts(n)


def test_at_least_once_checkpoints_replay_in_flight_lines_and_lose_none(tmp_path):
    # Killed at-least-once runs lose no line (the in-flight lines a checkpoint may hold
    # are covered by test_tail_checkpoint_holds_lines_in_flight_and_emits_them_again).
    n = 8000
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "app.log").write_text(text(0, n))
    rng = random.Random(11)
    topo = topology(tail_spout(tmp_path), tmp_path / "out.log")
    for kills in range(6):
        w = run_once(topo, tmp_path / "state", after=rng.randint(300, 1500) if kills < 5 else None,
                     mode=AT_LEAST_ONCE)
        if w.completed:
            break
    assert w.completed and kills == 5
    got = Counter(int(line.split()[3]) for line in (tmp_path / "out.log").read_text().splitlines())
    assert set(got) == set(range(n))
    counts = final_counts(tmp_path / "state", topo)
    assert all(counts[k] >= c for k, c in expected_counts(n).items())


def test_an_empty_state_starts_from_the_position_file_and_a_checkpoint_then_wins(tmp_path):
    app = tmp_path / "in" / "app.log"
    app.parent.mkdir()
    app.write_text(text(0, 5000))
    # A run without checkpoints delivered lines 0..99 and saved its position.
    offset = len(text(0, 100))
    (tmp_path / "tail-pos.json").write_text(json.dumps({"path": str(app), "inode": app.stat().st_ino,
                                                        "offset": offset}))
    topo = topology(tail_spout(tmp_path), tmp_path / "out.log")
    w = run_once(topo, tmp_path / "state", checkpoints=2)    # killed after two checkpoints
    assert not w.completed
    ckpt = checkpointed_position(tmp_path / "state", topo)
    saved = json.loads((tmp_path / "tail-pos.json").read_text())
    assert offset <= saved["offset"] <= ckpt["reading"][2]   # never ahead of the checkpoint
    # A position file that says otherwise is ignored once the state holds a position.
    (tmp_path / "tail-pos.json").write_text(json.dumps({"path": str(app), "inode": app.stat().st_ino,
                                                        "offset": 0}))
    assert run_once(topo, tmp_path / "state").completed
    got = sorted(int(line.split()[3]) for line in (tmp_path / "out.log").read_text().splitlines())
    assert got == list(range(100, 5000))


# -- the spool spout driven by hand: a crash between the checkpoint's decision and
# -- checkpoint_complete, and a file renamed .COMPLETED behind the checkpoint's back


class Collected(SpoutOutputCollector):
    def __init__(self) -> None:
        self.emitted: list[tuple[list, object]] = []

    def emit(self, values, stream="default", message_id=None, direct_task=None):
        self.emitted.append((values, message_id))
        return [1]


def hand_spool(tmp_path, backend):
    spout = SpoolDirSpout(str(tmp_path / "spool"), str(tmp_path / "spool-pos.json"),
                          stop_when_empty=True, poll_interval_s=0)
    collector = Collected()
    spout.open({}, None, collector)
    state = backend.state("src", 1)
    spout.init_state(state)
    return spout, collector, state


def commit(spout, state, txid, complete=True):
    """A checkpoint as the worker takes it; ``complete=False``: a crash after the decision."""
    spout.pre_prepare(txid)
    state.prepare_commit(txid)
    state.commit(txid)
    if complete:
        spout.checkpoint_complete(txid)


def test_spool_retires_files_of_a_committed_checkpoint_whose_completion_was_lost(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    for i, name in enumerate(["a.log", "b.log"]):
        (spool / name).write_text(text(i * 3, i * 3 + 3))
        os.utime(spool / name, (1000 + i, 1000 + i))
    backend = MemoryStateBackend().open()
    spout, got, state = hand_spool(tmp_path, backend)
    for _ in range(20):
        spout.next_tuple()
    assert [v[0] for v, _ in got.emitted] == [f"k{i} {i}".encode() for i in range(6)]
    for _, msg_id in got.emitted:
        spout.ack(msg_id)
    commit(spout, state, 1, complete=False)
    spout.close()
    state.close()
    # Delivered, but only a completed checkpoint may retire them; nor may the position
    # file run ahead of the checkpoint.
    assert sorted(p.name for p in spool.iterdir()) == ["a.log", "b.log"]
    assert not (tmp_path / "spool-pos.json").exists()

    spout, got, state = hand_spool(tmp_path, backend)       # restarted from checkpoint 1
    for _ in range(5):
        spout.next_tuple()
    assert got.emitted == [] and spout.exhausted()
    assert sorted(p.name for p in spool.iterdir()) == ["a.log.COMPLETED", "b.log.COMPLETED"]


def test_spool_checkpoint_wins_over_a_file_renamed_completed_behind_its_back(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "a.log").write_text(text(0, 4))
    backend = MemoryStateBackend().open()
    spout, got, state = hand_spool(tmp_path, backend)
    for _ in range(3):
        spout.next_tuple()              # polls, opens a.log, reads two lines
    assert len(got.emitted) == 2
    for _, msg_id in got.emitted:
        spout.ack(msg_id)
    commit(spout, state, 1)
    assert json.loads((tmp_path / "spool-pos.json").read_text()) == {"file": "a.log",
                                                                     "offset": len(text(0, 2))}
    spout.close()
    state.close()
    os.rename(spool / "a.log", spool / "a.log.COMPLETED")

    spout, got, state = hand_spool(tmp_path, backend)
    for _ in range(10):
        spout.next_tuple()
    assert [v[0] for v, _ in got.emitted] == [b"k2 2", b"k3 3"]
    for _, msg_id in got.emitted:
        spout.ack(msg_id)
    commit(spout, state, 2)
    assert spout.exhausted()
    assert sorted(p.name for p in spool.iterdir()) == ["a.log.COMPLETED"]


def test_tail_checkpoint_holds_lines_in_flight_and_emits_them_again(tmp_path):
    app = tmp_path / "in" / "app.log"
    app.parent.mkdir()
    app.write_text(text(0, 5))
    backend = MemoryStateBackend().open()

    def start():
        spout = TailSpout(str(app), str(tmp_path / "tail-pos.json"), stop_at_eof=True, poll_interval_s=0)
        collector = Collected()
        spout.open({}, None, collector)
        state = backend.state("src", 1)
        spout.init_state(state)
        return spout, collector, state

    spout, got, state = start()
    for _ in range(3):
        spout.next_tuple()
    ids = [msg_id for _, msg_id in got.emitted]
    spout.ack(ids[1])                   # lines 0 and 2 in flight, line 1 acked beyond them
    commit(spout, state, 1)
    assert json.loads((tmp_path / "tail-pos.json").read_text())["offset"] == 0
    spout.close()
    state.close()

    spout, got, state = start()
    for _ in range(5):
        spout.next_tuple()
    assert [v[0] for v, _ in got.emitted] == [b"k0 0", b"k2 2", b"k3 3", b"k4 4"]
    for _, msg_id in got.emitted:
        spout.ack(msg_id)
    commit(spout, state, 2)
    assert spout.exhausted()
    assert json.loads((tmp_path / "tail-pos.json").read_text())["offset"] == app.stat().st_size
