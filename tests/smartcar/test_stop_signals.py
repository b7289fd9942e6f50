"""Ctrl-C and SIGTERM stop ``squall smartcar run`` gracefully; a second signal exits at once.

The first signal stops the spout, lets records in flight finish, takes a final
checkpoint and prints the summary (exit 128 + signal); the same command then resumes
from that checkpoint, and the two runs together store exactly what one undisturbed run
stores. A second signal exits without waiting.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

import pytest

from smartcar_helpers import copy_trips, parse_summary
from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore

pytestmark = pytest.mark.slow

PACE = "100"     # the sample trips last about 12 s at this pace


def squall_run(trips, data_dir, *extra):
    return [sys.executable, "-m", "squall", "smartcar", "run", "--replay", str(trips),
            "--data-dir", str(data_dir), *extra]


def start_and_wait_for_rows(cmd):
    """Start ``cmd``; return (process, stderr lines so far) once a progress line shows stored rows."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    seen = threading.Event()

    def read_stderr():
        for line in proc.stderr:
            err.append(line)
            m = re.search(r"stored ([\d,]+)", line)
            if m and int(m.group(1).replace(",", "")) > 0:
                seen.set()
    threading.Thread(target=read_stderr, daemon=True).start()
    if not seen.wait(120):
        proc.kill()
        pytest.fail(f"no stored rows reported:\n{''.join(err)}")
    return proc, err


def contents(data_dir):
    table = EmbeddedTableStore(data_dir, read_only=True).open()
    kv = EmbeddedKeyValueStore(data_dir, read_only=True).open()
    try:
        rows = {row: cells for row, cells in table.open_table("DriverCarInfo").scan()}
        speeding = {key: kv.smembers(key) for key in kv.keys("*")}
    finally:
        table.close()
        kv.close()
    return rows, speeding


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory):
    base = tmp_path_factory.mktemp("undisturbed")
    trips = copy_trips(base / "trips")
    proc = subprocess.run(squall_run(trips, base / "data"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return trips, contents(base / "data")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_gracefully_and_the_next_run_resumes(undisturbed, tmp_path, sig):
    trips, (rows, speeding) = undisturbed
    data = tmp_path / "data"
    proc, err = start_and_wait_for_rows(squall_run(trips, data, "--pace", PACE))
    proc.send_signal(sig)
    out = proc.stdout.read()
    assert proc.wait(120) == 128 + sig, (out, "".join(err))
    assert f"stopped by {sig.name}" in out
    first = parse_summary(out)
    assert 0 < first["stored"] < len(rows), "the signal must land mid-run"
    m = re.search(r"the next run resumes from checkpoint (\d+)", out)
    assert m, out

    again = subprocess.run(squall_run(trips, data), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resumed from checkpoint {m.group(1)} at record {first['read']:,}" in again.stdout
    second = parse_summary(again.stdout)
    assert second["no_loss"]
    assert first["read"] + second["read"] == len(rows)
    assert contents(data) == (rows, speeding)


def test_a_second_signal_exits_at_once(undisturbed, tmp_path):
    trips, _ = undisturbed
    proc, err = start_and_wait_for_rows(squall_run(trips, tmp_path / "data", "--pace", "1"))
    # Two signals of one kind sent at once may merge into one (POSIX keeps one pending);
    # SIGINT then SIGTERM are both handled before the first stop can finish.
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)
    out = proc.stdout.read()
    assert proc.wait(60) == 128 + signal.SIGTERM
    assert any("exiting now" in line for line in err), "".join(err)
    assert "stopped by" not in out, "the second signal must not wait for the graceful stop"


def test_an_in_process_run_gives_the_callers_signal_handlers_back(cli, tmp_path):
    """Run from Python (click's CliRunner, a notebook), the command's stop handlers hold
    for the run only: afterwards Ctrl-C is the caller's again."""
    def callers(*_):
        pass
    signals = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.signal(sig, callers) for sig in signals}
    try:
        res = cli("smartcar", "run", "--replay", copy_trips(tmp_path / "trips", ["idle9"]),
                  "--data-dir", tmp_path / "data")
        assert parse_summary(res.stdout)["read"] > 0
        assert {sig: signal.getsignal(sig) for sig in signals} == {sig: callers for sig in signals}
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
