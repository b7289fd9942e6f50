"""DStreams on the topology runtime: the graph compiles to a Trident topology, a failed batch
is rolled back and replayed (state counted once), and with a state backend a job killed with
SIGKILL resumes from its checkpoint with every window and state as an uninterrupted run's."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'squall[microbatch]')")

from squall.microbatch import ListSource  # noqa: E402
from squall.microbatch.dstream import DStreamError, StreamingContext  # noqa: E402
from squall.microbatch.trident import SPOUT_NAME  # noqa: E402
from crash_kit import run_job  # noqa: E402  (tests/microbatch is on sys.path)

JOB = Path(__file__).with_name("dstream_crash_job.py")


def test_the_graph_compiles_to_a_trident_topology_that_runs_on_the_local_runtime():
    ssc = StreamingContext(1)
    seen = []
    ssc.source(ListSource([pl.DataFrame({"key": ["a", "b"], "value": [1, 2]}), pl.DataFrame({"key": ["a"],
                                                                                            "value": [5]})])) \
        .update_state_by_key("sum").foreach_batch(lambda b, i: seen.append((i, sorted(b.rows()))))
    topology = ssc.build().build()
    assert list(topology.components) == [SPOUT_NAME, "b-0-dstream"]
    result = ssc.run()
    assert result.completed
    assert result.stats[SPOUT_NAME].metrics["read.dstream-source"] == 3           # records taken
    assert result.stats[SPOUT_NAME].acked == 3                                    # 2 batches + the closing one
    assert seen == [(0, [("a", 1), ("b", 2)]), (1, [("a", 6), ("b", 2)])]
    seen.clear()
    ssc.run()                                         # a new topology: the state starts empty again
    assert seen[0] == (0, [("a", 1), ("b", 2)])


def test_a_batch_whose_output_raises_is_rolled_back_and_replayed_counting_once():
    frames = [pl.DataFrame({"key": ["a", "b", "a"], "value": [i, 1, 1]}) for i in range(6)]
    calls = Counter()
    seen: dict[tuple[str, int], list] = {}

    def record(name):
        def out(batch, batch_id):
            calls[(name, batch_id)] += 1
            seen[(name, batch_id)] = sorted(batch.rows())
            if name == "python" and batch_id == 3 and calls[(name, batch_id)] == 1:
                raise RuntimeError("planted failure")
        return out

    ssc = StreamingContext(1)
    pairs = ssc.source(ListSource(frames))
    pairs.update_state_by_key("sum").foreach_batch(record("kernel"))
    pairs.update_state_by_key(lambda vs, st: (st or 0) + sum(vs)).foreach_batch(record("python"))
    pairs.count_by_window(3, 1).foreach_batch(record("count"))
    result = ssc.build().run()
    assert any("planted failure" in e for e in result.errors())
    want_a = 0
    for i in range(6):
        want_a += i + 1
        assert seen[("kernel", i)] == seen[("python", i)] == [("a", want_a), ("b", i + 1)]
        assert seen[("count", i)] == [(3 * min(i + 1, 3),)]
    assert calls[("python", 3)] == 2 and calls[("python", 4)] == 1      # batch 3 replayed, once


def test_a_batch_failing_every_time_stops_the_job_with_the_reason():
    ssc = StreamingContext(1, max_attempts=2)
    ssc.source(ListSource([pl.DataFrame({"line": ["x"]})])).reduce_by_key("sum")
    with pytest.raises(DStreamError, match="pair DStream") as info:
        ssc.run()
    assert "failed 2 times" in str(info.value)


def _uninterrupted() -> dict[tuple[str, int], list]:
    sys.path.insert(0, str(JOB.parent))
    try:
        import dstream_crash_job as job
    finally:
        sys.path.remove(str(JOB.parent))
    got: dict[tuple[str, int], list] = {}
    ssc = StreamingContext(1)
    job.graph(ssc, lambda name, batch_id, rows: got.__setitem__((name, batch_id), rows))
    ssc.run()
    return got


def _run_job(directory: Path, kill_after_lines: int | None = None) -> str:
    return run_job(JOB, directory, kill_after_lines, progress="out.jsonl")


def test_kill_9_then_rerun_resumes_every_window_and_state_from_the_checkpoint(tmp_path):
    _run_job(tmp_path, kill_after_lines=120)
    out = _run_job(tmp_path)
    assert "completed=True" in out
    assert out.split("recovered=")[1].strip() != "None", "the rerun started from scratch, not from a checkpoint"
    want = _uninterrupted()
    got: dict[tuple[str, int], list] = {}
    for line in (tmp_path / "out.jsonl").read_text().splitlines():
        try:
            name, batch_id, rows = json.loads(line)
        except ValueError:
            continue                                   # the line the kill cut
        rows = [tuple(r) for r in rows]
        # A batch written before the kill and again after it (replayed from the
        # checkpoint) gives the same output both times.
        assert got.setdefault((name, batch_id), rows) == rows, (name, batch_id)
    assert got == want
