"""End to end: ``squall smartcar run --replay`` over real OBD-II trips, checked against an
independent plain-Python model (smartcar_oracle) of the documented semantics.

Trips (from /work/shared/data/carobd, copied into tmp dirs):

* drive9  - the only drive*.csv whose 30 s batches average > 80 km/h (4 detections at 80)
* drive11 - a fast drive (max 89 km/h) that stays under 80 on average: detected only at 60
* live20, live26, live39 - highway trips, one batch each above 80
* idle9   - engine idling, speed 0 throughout: never detected
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smartcar_helpers import copy_trips, parse_summary, read_detection_log
from smartcar_oracle import Fleet
from squall.store import EmbeddedTableStore
from squall_smartcar.topology import DEFAULT_RULE

pytestmark = pytest.mark.slow

LOG_KEYS = {"car_number", "window_start", "window_end", "avg_speed", "events"}


def run_replay(cli, trips: Path, data: Path, log: Path, *extra):
    res = cli("smartcar", "run", "--replay", trips, "--data-dir", data, "--speeding-log", log, *extra)
    return parse_summary(res.stdout)


def log_detections(log: Path) -> dict[tuple[str, str, str], tuple[float, int]]:
    entries = read_detection_log(log)
    for e in entries:
        assert set(e) == LOG_KEYS, e
        assert re.fullmatch(r"\d{14}", e["window_start"]) and re.fullmatch(r"\d{14}", e["window_end"]), e
    out = {(e["car_number"], e["window_start"], e["window_end"]): (e["avg_speed"], e["events"])
           for e in entries}
    assert len(out) == len(entries), f"duplicate detections in the log: {entries}"
    return out


def assert_detections_match(got, expected):
    assert set(got) == set(expected)
    for key, (avg, events) in expected.items():
        assert got[key][0] == pytest.approx(avg, rel=1e-9), key
        assert got[key][1] == events, key


def rule_with_threshold(tmp: Path, threshold: int) -> Path:
    text = DEFAULT_RULE.read_text(encoding="utf-8")
    new, n = re.subn(r"avg\(speed\)\s*>\s*80\b", f"avg(speed) > {threshold}", text)
    assert n == 1, f"the shipped rule no longer reads 'avg(speed) > 80':\n{text}"
    path = tmp / f"speeding_{threshold}.epl"
    path.write_text(new, encoding="utf-8")
    return path


def table_rows(data: Path, table: str) -> dict[str, dict[str, bytes]]:
    store = EmbeddedTableStore(data).open()
    try:
        if table not in store.tables():
            return {}
        rows = {}
        for key, cells in store.open_table(table).scan():
            assert key not in rows, f"row {key} scanned twice"
            rows[key] = cells
        return rows
    finally:
        store.close()


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory, cli):
    """One replay of the six trips at the shipped rule (threshold 80), via CliRunner."""
    base = tmp_path_factory.mktemp("replay")
    trips = copy_trips(base / "trips")
    data, log = base / "data", base / "speeding.jsonl"
    summary = run_replay(cli, trips, data, log)
    return {"trips": trips, "data": data, "log": log, "summary": summary, "fleet": Fleet(trips)}


def test_fleet_has_teeth(fleet_run):
    """The chosen trips really exercise the rule (guards against a vacuous comparison)."""
    fleet = fleet_run["fleet"]
    det = fleet.detections(80)
    assert {car for car, _, _ in det} >= {"drive9", "live26", "live39"}
    assert "idle9" not in {car for car, _, _ in det}
    assert {car for car, _, _ in fleet.detections(60)} - {car for car, _, _ in det} >= {"drive11"}
    assert fleet.bad_rows == 0 and fleet.record_count > 3000


def test_summary(fleet_run):
    s, fleet = fleet_run["summary"], fleet_run["fleet"]
    assert s["read"] == fleet.record_count
    assert s["stored"] == s["stored_new"] == fleet.record_count
    assert s["dead"] == s["dead_new"] == 0
    assert s["speeding"] == len(fleet.detections(80))
    assert s["no_loss"]


def test_detections_match_independent_model(fleet_run):
    got = log_detections(fleet_run["log"])
    assert_detections_match(got, fleet_run["fleet"].detections(80))


def test_table_count_command(fleet_run, cli):
    res = cli("table", "count", "DriverCarInfo", "--data-dir", fleet_run["data"])
    assert res.stdout.strip().splitlines()[-1] == str(fleet_run["fleet"].record_count)


def test_every_row_stored_once_with_its_speed(fleet_run):
    expected = fleet_run["fleet"].rows()
    rows = table_rows(fleet_run["data"], "DriverCarInfo")
    assert set(rows) == set(expected)
    for key, (car, speed) in expected.items():
        cells = rows[key]
        assert cells["cf1:speed"] == str(speed).encode(), key
        assert cells["cf1:car_number"] == car.encode(), key
        assert cells["cf1:date"] == key.split("-", 1)[0][::-1].encode(), key


def test_table_get_sample(fleet_run, cli):
    expected = fleet_run["fleet"].rows()
    def date(key):
        return key.split("-", 1)[0][::-1]
    sample = set()
    for car, ws, we in fleet_run["fleet"].detections(80):  # the first row of each detected window
        sample.add(min((k for k, (c, _) in expected.items() if c == car and ws <= date(k) < we), key=date))
    for car in {c for c, _ in expected.values()}:           # each car's first and last row
        keys = sorted((k for k, (c, _) in expected.items() if c == car), key=date)
        sample.update([keys[0], keys[-1]])
    for key in sorted(sample):
        res = cli("table", "get", "DriverCarInfo", key, "--data-dir", fleet_run["data"])
        lines = res.stdout.splitlines()
        car, speed = expected[key]
        assert f"cf1:speed={speed}" in lines, (key, lines)
        assert f"cf1:car_number={car}" in lines, (key, lines)
    cli("table", "get", "DriverCarInfo", "99999999999999-nocar", "--data-dir", fleet_run["data"],
        expect_exit=1)


def test_speeding_command(fleet_run, cli):
    res = cli("smartcar", "speeding", "--date", "20240101", "--data-dir", fleet_run["data"])
    expected = fleet_run["fleet"].speeding_by_day(80)
    assert set(expected) == {"20240101"}
    assert res.stdout.splitlines() == sorted(expected["20240101"])
    res = cli("smartcar", "speeding", "--date", "20240102", "--data-dir", fleet_run["data"])
    assert res.stdout.strip() == ""


def test_no_dead_letters_for_clean_trips(fleet_run):
    assert table_rows(fleet_run["data"], "DeadLetters") == {}


@pytest.mark.parametrize("threshold", [100, 60])
def test_threshold_in_rule_file(fleet_run, cli, tmp_path, threshold):
    rule = rule_with_threshold(tmp_path, threshold)
    log = tmp_path / "speeding.jsonl"
    s = run_replay(cli, fleet_run["trips"], tmp_path / "data", log, "--rule", rule)
    expected = fleet_run["fleet"].detections(threshold)
    assert set(expected) != set(fleet_run["fleet"].detections(80))  # the edit matters
    got = log_detections(log) if log.exists() else {}
    assert_detections_match(got, expected)
    assert s["speeding"] == len(expected)
    assert s["stored"] == fleet_run["fleet"].record_count
    res = cli("smartcar", "speeding", "--date", "20240101", "--data-dir", tmp_path / "data")
    assert res.stdout.splitlines() == sorted(fleet_run["fleet"].speeding_by_day(threshold).get("20240101", ()))


def _squall_cmd() -> list[str]:
    exe = shutil.which("squall")
    return [exe] if exe else [sys.executable, "-m", "squall.cli"]


def test_real_subprocess(tmp_path):
    trips = copy_trips(tmp_path / "trips", ("drive9", "live39", "idle9"))
    fleet = Fleet(trips)
    data, log = tmp_path / "data", tmp_path / "det.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "SQUALL_DATA_DIR"}

    def squall(*args):
        p = subprocess.run([*_squall_cmd(), *map(str, args)], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=120)
        assert p.returncode == 0, f"squall {args}: rc={p.returncode}\n{p.stdout}\n{p.stderr}"
        return p.stdout

    s = parse_summary(squall("smartcar", "run", "--replay", trips, "--data-dir", data,
                             "--speeding-log", log))
    assert s["read"] == s["stored"] == fleet.record_count and s["dead"] == 0 and s["no_loss"]
    assert_detections_match(log_detections(log), fleet.detections(80))
    assert fleet.detections(80)
    assert squall("table", "count", "DriverCarInfo", "--data-dir", data).splitlines()[-1] == \
        str(fleet.record_count)
    assert squall("smartcar", "speeding", "--date", "20240101", "--data-dir", data).splitlines() == \
        sorted(fleet.speeding_by_day(80)["20240101"])
    assert set(table_rows(data, "DriverCarInfo")) == set(fleet.rows())


# -- malformed input ------------------------------------------------------------------

BAD_ROWS = [
    # (raw row bytes, the column its reason must name)
    (b"abc, 1000.000000, 50.000000, 1\r\n", "ENGINE_RUN_TINE ()"),
    (b"{rt}, 1000.000000, , 1\r\n", "VEHICLE_SPEED ()"),
    (b"{rt}, 1000.000000, nan, 1\r\n", "VEHICLE_SPEED ()"),
    (b"{rt}, 1000.000000\r\n", "VEHICLE_SPEED ()"),          # too few fields
    (b"{rt}, 1000.000000, -12.000000, 1\r\n", "VEHICLE_SPEED ()"),
    (b"{rt}, 1000.000000, \xff\xfe\x9a, 1\r\n", "VEHICLE_SPEED ()"),  # not UTF-8
]


def test_malformed_rows_dead_lettered(tmp_path, cli):
    trips = copy_trips(tmp_path / "trips", ("live39", "idle9"))
    src = (trips / "live39.csv").read_bytes()
    lines = src.split(b"\n")  # rows keep their \r
    out = lines[:1]
    bad_line_numbers = {}
    for i, line in enumerate(lines[1:], start=1):
        out.append(line)
        if i % 150 == 0 and i // 150 <= len(BAD_ROWS):
            rt = line.split(b",", 1)[0]
            raw, column = BAD_ROWS[i // 150 - 1]
            out.append(raw.replace(b"{rt}", rt).rstrip(b"\r\n") + b"\r")
            bad_line_numbers[len(out)] = column  # 1-based line number of the row just added
            if i // 150 == 3:
                out.append(b"\r")  # a blank line: ignored, not a dead letter
    (trips / "live39.csv").write_bytes(b"\n".join(out))
    assert len(bad_line_numbers) == len(BAD_ROWS)

    fleet = Fleet(trips)
    assert fleet.bad_rows == len(BAD_ROWS)  # the independent model agrees on what is bad
    data = tmp_path / "data"
    s = run_replay(cli, trips, data, tmp_path / "det.jsonl")

    assert s["dead"] == len(BAD_ROWS)
    assert s["stored"] == fleet.record_count
    assert s["stored"] + s["dead"] == s["read"] and s["no_loss"]

    dead = table_rows(data, "DeadLetters")
    assert set(dead) == {f"live39.csv:{n}" for n in bad_line_numbers}
    for n, column in bad_line_numbers.items():
        cells = dead[f"live39.csv:{n}"]
        reason = cells["d:reason"].decode()
        assert column in reason, (n, reason)
        assert cells["d:origin"] == f"live39.csv:{n}".encode()
        assert cells["d:record"].strip(), n

    rows = table_rows(data, "DriverCarInfo")
    expected = fleet.rows()
    assert set(rows) == set(expected)
    assert all(rows[k]["cf1:speed"] == str(v).encode() for k, (_, v) in expected.items())
    assert_detections_match(log_detections(tmp_path / "det.jsonl"), fleet.detections(80))


# -- batch alignment and the --start option, on small synthetic trips -------------------

def _trip(path: Path, rows):
    path.write_text("ENGINE_RUN_TINE (),VEHICLE_SPEED (),PEDAL_D ()\n"
                    + "".join(f"{t:.6f}, {v:.6f}, 10.0\n" for t, v in rows), encoding="utf-8")


def test_batches_align_to_first_event_across_gaps_and_midnight(tmp_path, cli):
    """t0 = the earliest record of the fleet (second 7, not 0); batches stay aligned to it
    across a gap with no events at all; speeding sets are keyed by the window's start day."""
    trips = tmp_path / "trips"
    trips.mkdir()
    # car a: seconds 7..40 fast, gap, 110..160 fast; car b starts later and is fast only late
    _trip(trips / "a.csv", [(s + 0.3, 90.0) for s in range(7, 41)] + [(s + 0.6, 85.0) for s in range(110, 161)])
    _trip(trips / "b.csv", [(s + 0.1, 50.0) for s in range(12, 41)]
          + [(s + 0.2, 95.0 if s < 140 else 70.0) for s in range(110, 161)])
    start = "20240101235900"
    fleet = Fleet(trips, start)
    expected = fleet.detections(80)
    assert ("a", "20240101235907", "20240101235937") in expected  # sanity of the model itself
    assert len(fleet.speeding_by_day(80)) == 2
    log = tmp_path / "det.jsonl"
    s = run_replay(cli, trips, tmp_path / "data", log, "--start", start)
    assert s["stored"] == fleet.record_count
    assert_detections_match(log_detections(log), expected)
    for day, cars in fleet.speeding_by_day(80).items():
        res = cli("smartcar", "speeding", "--date", day, "--data-dir", tmp_path / "data")
        assert res.stdout.splitlines() == sorted(cars), day


def test_absurd_run_time_does_not_truncate_the_fleet(tmp_path, cli):
    trips = tmp_path / "trips"
    trips.mkdir()
    _trip(trips / "a.csv", [(0, 10.0), (1, 20.0), (1e15, 20.0), (2, 30.0)])
    _trip(trips / "b.csv", [(s, 50.0) for s in range(100)])
    s = run_replay(cli, trips, tmp_path / "data", tmp_path / "det.jsonl")
    assert s["stored"] == 100 + 3
    assert s["dead"] == 1


BOOK_RULE = """SELECT date, carNumber, speedPedal, breakPedal, steerAngle, directLight, speed, areaNumber,
       avg(speed)
FROM DriverCarInfo.win:time_batch(30 sec)
GROUP BY carNumber
HAVING avg(speed) > 80
"""


@pytest.mark.slow
def test_book_style_rule_logs_one_line_per_car_and_batch(tmp_path, cli):
    """The book's rule selects the eight fields: a row per event, yet one log line per detection."""
    trips = copy_trips(tmp_path / "trips")
    rule = tmp_path / "book.epl"
    rule.write_text(BOOK_RULE)
    log = tmp_path / "det.jsonl"
    run_replay(cli, trips, tmp_path / "d", log, "--rule", rule)
    entries = read_detection_log(log)
    got = {(e["car_number"], e["window_start"], e["window_end"]): e["avg_speed"] for e in entries}
    assert len(entries) == len(got), "one line per car and batch"
    expected = Fleet(trips).detections(80)
    assert set(got) == set(expected)
    assert all(got[k] == pytest.approx(v[0]) for k, v in expected.items())
