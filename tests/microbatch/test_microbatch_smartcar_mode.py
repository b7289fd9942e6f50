"""The smart-car pipeline in micro-batch mode (squall_smartcar.microbatch.run_microbatch):
on the sample trips its table, speeding sets and detection log equal the per-tuple
pipeline's and the oracle's; a run killed with SIGKILL and run again writes each once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'squall[microbatch]')")
pytest.importorskip("rocksdict", reason="rocksdict is not installed (the embedded stores)")

from reference_data import SAMPLE  # noqa: E402
from tests.smartcar.smartcar_oracle import Fleet  # noqa: E402
from squall_smartcar.microbatch import SpeedingRule, run_microbatch  # noqa: E402
from squall_smartcar.sources import ReplaySpout  # noqa: E402
from squall_smartcar.topology import (  # noqa: E402
    DEAD_LETTER_TABLE,
    DEFAULT_RULE,
    TABLE,
    Stores,
    build_topology,
)

from squall.microbatch.errors import PlanError  # noqa: E402
from squall.runtime.local import run_topology  # noqa: E402

START_MS = 1704067200000
JOB = Path(__file__).with_name("smartcar_crash_job.py")


def tables(data: Path) -> dict[str, dict]:
    with Stores.embedded(data).table.open() as t:
        return {name: dict(t.open_table(name).scan()) for name in t.tables()}


def speeding_sets(data: Path, days) -> dict[str, set[str]]:
    kv = Stores.embedded(data).kv.open()
    try:
        return {d: kv.smembers(d) for d in days if kv.smembers(d)}
    finally:
        kv.close()


def log_lines(path: Path) -> dict[tuple, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    out = {(r["car_number"], r["window_start"]): r for r in rows}
    assert len(out) == len(rows), "a detection was logged twice"
    return out


@pytest.fixture(scope="module")
def per_tuple(tmp_path_factory):
    data = tmp_path_factory.mktemp("per-tuple")
    log = data / "detections.jsonl"
    topo = build_topology(ReplaySpout(str(SAMPLE), START_MS), Stores.embedded(data),
                          DEFAULT_RULE.read_text(), speeding_log=str(log))
    assert run_topology(topo, {}).completed
    return data, log


def test_same_table_sets_and_log_as_the_per_tuple_mode_and_the_oracle(per_tuple, tmp_path):
    data, log = per_tuple
    run = run_microbatch(SAMPLE, tmp_path, tmp_path / "detections.jsonl", start_ms=START_MS, batch_ms=7_000)
    assert run.completed and run.no_loss
    want_tables = tables(data)
    got_tables = tables(tmp_path)
    assert got_tables[TABLE] == want_tables[TABLE]
    assert len(got_tables[TABLE]) > 1000
    # Dead letters: the same rows (key file:line, the raw line, the reason); the component differs.
    strip = {k: {c: v for c, v in cells.items() if c != "d:component"} for k, cells in
             want_tables.get(DEAD_LETTER_TABLE, {}).items()}
    assert {k: {c: v for c, v in cells.items() if c != "d:component"}
            for k, cells in got_tables.get(DEAD_LETTER_TABLE, {}).items()} == strip
    assert run.read == len(got_tables[TABLE]) + len(strip)
    assert run.stored == len(got_tables[TABLE]) and run.dead_letters == len(strip)

    fleet = Fleet(SAMPLE)
    oracle = fleet.detections()
    assert oracle, "the sample must have speeding batches for this test to mean something"
    days = {ws[:8] for _, ws, _ in oracle}
    assert speeding_sets(tmp_path, days) == speeding_sets(data, days) == fleet.speeding_by_day()
    got, want = log_lines(tmp_path / "detections.jsonl"), log_lines(log)
    assert got.keys() == want.keys() == {(c, ws) for c, ws, _ in oracle}
    for key, row in got.items():
        assert row["window_end"] == want[key]["window_end"]
        assert row["events"] == want[key]["events"]
        assert row["avg_speed"] == pytest.approx(want[key]["avg_speed"], rel=1e-12)
    assert run.summary_lines()[-1] == f"no loss: stored + dead letters = records read ({run.read:,})"


def test_rule_file_forms():
    assert SpeedingRule.from_epl(DEFAULT_RULE.read_text()) == SpeedingRule(30_000, 80.0)
    text = DEFAULT_RULE.read_text().replace("30 sec", "1 min").replace("> 80", "> 95.5")
    assert SpeedingRule.from_epl(text) == SpeedingRule(60_000, 95.5)
    with pytest.raises(PlanError, match="per-tuple mode"):
        SpeedingRule.from_epl("SELECT * FROM DriverCarInfo#length(5)")


def test_kill_9_then_rerun_writes_each_once(per_tuple, tmp_path):
    data, log = per_tuple
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(JOB.parent), *sys.path])}
    cmd = [sys.executable, str(JOB), str(SAMPLE), str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    progress = tmp_path / "progress"
    while (not progress.exists() or len(progress.read_text().splitlines()) < 25) and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, f"the job ended before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert "resumed from checkpoint" in out.stdout, out.stdout
    assert "no loss: stored + dead letters = records read" in out.stdout
    assert tables(tmp_path)[TABLE] == tables(data)[TABLE]
    got, want = log_lines(tmp_path / "detections.jsonl"), log_lines(log)
    assert got.keys() == want.keys()
    days = {ws[:8] for _, ws in want}
    assert speeding_sets(tmp_path, days) == speeding_sets(data, days)


@pytest.mark.parametrize("speed", [81.25, 1e-05, 2e16, 0.1 + 0.2])
def test_cells_are_the_bytes_the_store_makes_of_the_values(speed):
    from squall_smartcar.microbatch import _store_records
    from squall_smartcar.record import FIELDS

    from squall.store.table import encode_value

    class Table:
        def put_columns(self, rows, columns):
            self.rows = [(k, {c: columns[c][i] for c in columns}) for i, k in enumerate(rows)]

    class Sink:
        table = Table()

    values = ("20240101000030", "drive1", 12.5, 0.0, -0.0, 2, speed, "7")
    frame = pl.DataFrame([("03000010104202-drive1", *values)], schema=["row_key", *FIELDS], orient="row")
    _store_records(Sink, frame, 1)
    [(key, cells)] = Sink.table.rows
    assert key == "03000010104202-drive1"
    assert {c: encode_value(v) if not isinstance(v, bytes) else v for c, v in cells.items()} == \
        {f"cf1:{f}": encode_value(v) for f, v in zip(FIELDS, values)}


def test_the_cell_family_is_the_per_tuple_tables():
    import squall_smartcar.microbatch as mb
    from squall_smartcar.topology import FAMILY

    assert mb._FAMILY == FAMILY
