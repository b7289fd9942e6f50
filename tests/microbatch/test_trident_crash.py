"""Trident with a state backend: a job killed with SIGKILL mid-run and run again counts
every batch exactly once, in a memory state (checkpointed with its task) and in an
embedded key-value state (txids per key)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("polars", reason="polars is not installed (pip install 'squall[microbatch]')")
pytest.importorskip("rocksdict", reason="rocksdict is not installed (the RocksDB state backend)")

from squall.store import EmbeddedKeyValueStore  # noqa: E402
from crash_kit import run_job  # noqa: E402  (tests/microbatch is on sys.path)

JOB = Path(__file__).with_name("trident_crash_job.py")
BATCHES = 120


def expected() -> dict[str, int]:
    want = {"the": 2 * BATCHES, "cow": BATCHES}
    for i in range(BATCHES):
        want[f"w{i % 7}"] = want.get(f"w{i % 7}", 0) + 1
    return want


def test_kill_9_then_rerun_counts_each_batch_once(tmp_path):
    run_job(JOB, tmp_path, kill_after=40)
    out = run_job(JOB, tmp_path)
    assert "completed=True" in out
    recovered = out.split("recovered=")[1].strip()
    assert recovered != "None", "the rerun started from scratch instead of the last checkpoint"
    # Batches after the checkpoint the rerun resumed from were processed twice (none when
    # the kill landed right after a checkpoint), yet every state counts each once.
    assert len((tmp_path / "progress").read_text().splitlines()) >= BATCHES
    want = expected()
    memory = json.loads((tmp_path / "memory.json").read_text())
    assert memory["the"] == want["the"] and memory["cow"] == want["cow"]
    assert {k: v for k, v in memory.items() if k in want} == {k: want[k] for k in memory}
    kv = EmbeddedKeyValueStore(tmp_path / "kv").open()
    try:
        stored = {w: json.loads(kv.get(f'trident:words:["{w}"]'))[1][0] for w in want}
    finally:
        kv.close()
    assert stored == want


def test_rerun_after_a_complete_run_changes_nothing(tmp_path):
    run_job(JOB, tmp_path)
    first = json.loads((tmp_path / "memory.json").read_text())
    assert first == expected()
    out = run_job(JOB, tmp_path)
    assert "completed=True" in out
    kv = EmbeddedKeyValueStore(tmp_path / "kv").open()
    try:
        assert json.loads(kv.get('trident:words:["the"]'))[1][0] == 2 * BATCHES
    finally:
        kv.close()
    assert len((tmp_path / "progress").read_text().splitlines()) == BATCHES


def test_package_reexports_every_api_and_keeps_the_sql_module():
    import types

    import squall.microbatch as mb
    from squall.microbatch import sql
    from squall.microbatch.trident import TridentTopology

    assert isinstance(sql, types.ModuleType)
    assert mb.TridentTopology is TridentTopology
    for name in ("TridentTopology", "Split", "batch_function", "Count", "Sum", "Min", "Max", "Avg", "Combiner",
                 "MemoryMapState", "KeyValueMapState", "StateType", "StreamingContext", "SocketSource"):
        assert name in mb.__all__ and getattr(mb, name) is not None


def test_a_wrapped_spout_is_refused_under_a_state_backend(tmp_path):
    from squall.microbatch import PlanError
    from squall.microbatch.trident import Count, MemoryMapState, TridentTopology
    from squall.state import MemoryStateBackend
    from squall.testing import ListSpout

    topo = TridentTopology()
    topo.new_stream("words", ListSpout([["a"], ["b"]], ["w"], name="wrapped")) \
        .group_by(["w"]).persistent_aggregate(MemoryMapState(), Count(), ["n"])
    with pytest.raises(PlanError, match="cannot rewind to a checkpoint"):
        topo.run(state_backend=MemoryStateBackend())
