"""Unit tests of squall_smartcar.obd.read_trip / read_fleet on small hand-written CSVs."""

from __future__ import annotations

import pytest

from squall_smartcar.obd import read_fleet, read_trip
from squall_smartcar.record import parse_line

START_MS = 1704067200000  # 20240101000000 UTC
HEADER = "ENGINE_RUN_TINE (),ENGINE_RPM (),VEHICLE_SPEED (),PEDAL_D ()\n"


def write(tmp_path, name, body, header=HEADER, mode="w"):
    p = tmp_path / name
    if isinstance(body, bytes):
        p.write_bytes(header.encode() + body)
    else:
        p.write_text(header + body, encoding="utf-8")
    return p


def split(readings):
    good = [r for r in readings if r.error is None]
    bad = [r for r in readings if r.error is not None]
    return good, bad


def test_last_valid_reading_per_second(tmp_path):
    p = write(tmp_path, "car7.csv",
              "0.000000, 800, 0.000000, 10\n"
              "0.500000, 800, 5.000000, 11\n"
              "1.000000, 900, 7.000000, 12\n"
              "1.400000, 900, 9.000000, 13\n"
              "1.900000, 900, abc, 14\n"        # bad speed in second 1: not the last *valid*
              "3.100000, 950, 30.000000, 15\n")  # second 2 absent: no record
    good, bad = split(list(read_trip(p, START_MS)))
    recs = [parse_line(r.line) for r in good]
    assert [(r.second, rec.date, rec.speed, rec.speed_pedal) for r, rec in zip(good, recs)] == [
        (0, "20240101000000", 5.0, 11.0),
        (1, "20240101000001", 9.0, 13.0),
        (3, "20240101000003", 30.0, 15.0),
    ]
    assert all(rec.car_number == "car7" for rec in recs)
    assert all((rec.break_pedal, rec.steer_angle, rec.direct_light, rec.area_number) == (0, 0, 0, "0")
               for rec in recs)
    # origin names the line of the reading kept
    assert [r.origin for r in good] == ["car7.csv:3", "car7.csv:5", "car7.csv:7"]
    assert len(bad) == 1 and bad[0].origin == "car7.csv:6" and "VEHICLE_SPEED ()" in bad[0].error


def test_malformed_rows_yielded_with_reasons(tmp_path):
    p = write(tmp_path, "car1.csv",
              "0, 800, 10, 1\n"
              "abc, 800, 10, 1\n"
              "1, 800, , 1\n"
              "1, 800, nan, 1\n"
              "1, 800, inf, 1\n"
              "1, 800\n"
              "1, 800, -5, 1\n"
              "-2, 800, 5, 1\n"
              "2, 800, 20, notanumber\n")  # bad pedal does not reject the row
    readings = list(read_trip(p, START_MS))
    good, bad = split(readings)
    assert [parse_line(r.line).speed for r in good] == [10.0, 20.0]
    assert parse_line(good[1].line).speed_pedal == 0.0
    reasons = {r.origin: r.error for r in bad}
    assert set(reasons) == {f"car1.csv:{n}" for n in range(3, 10)}
    assert "ENGINE_RUN_TINE ()" in reasons["car1.csv:3"] and "abc" in reasons["car1.csv:3"]
    assert "VEHICLE_SPEED ()" in reasons["car1.csv:4"]
    assert "VEHICLE_SPEED ()" in reasons["car1.csv:5"] and "nan" in reasons["car1.csv:5"]
    assert "VEHICLE_SPEED ()" in reasons["car1.csv:6"]
    assert "fields" in reasons["car1.csv:7"]
    assert "VEHICLE_SPEED ()" in reasons["car1.csv:8"] and "negative" in reasons["car1.csv:8"]
    assert "ENGINE_RUN_TINE ()" in reasons["car1.csv:9"] and "negative" in reasons["car1.csv:9"]
    # the raw row is carried, and items stay ordered by second
    assert bad[0].line == "abc, 800, 10, 1"
    assert [r.second for r in readings] == sorted(r.second for r in readings)


def test_run_time_going_backwards(tmp_path):
    p = write(tmp_path, "car2.csv",
              "0, 800, 10, 0\n"
              "5, 800, 50, 0\n"
              "4.9, 800, 49, 0\n"    # back to second 4: malformed
              "5.5, 800, 55, 0\n"    # same second 5 again: fine, the last reading wins
              "6, 800, 60, 0\n")
    good, bad = split(list(read_trip(p, START_MS)))
    assert [(r.second, parse_line(r.line).speed) for r in good] == [(0, 10.0), (5, 55.0), (6, 60.0)]
    assert len(bad) == 1 and bad[0].origin == "car2.csv:4"
    assert "backwards" in bad[0].error and "ENGINE_RUN_TINE ()" in bad[0].error


def test_blank_lines_ignored_and_crlf(tmp_path):
    p = tmp_path / "car3.csv"
    p.write_bytes(b"ENGINE_RUN_TINE (),VEHICLE_SPEED ()\r\n0,1\r\n\r\n   \r\n1,2\r\n\n2,3")
    readings = list(read_trip(p, START_MS))
    assert all(r.error is None for r in readings)
    assert [parse_line(r.line).speed for r in readings] == [1.0, 2.0, 3.0]
    assert readings[-1].origin == "car3.csv:7"


def test_non_utf8_row_is_malformed_not_fatal(tmp_path):
    p = write(tmp_path, "car4.csv", b"0, 800, 10, 0\n1, 800, \xff\xfe9, 0\n2, 800, 20, 0\n")
    good, bad = split(list(read_trip(p, START_MS)))
    assert [parse_line(r.line).speed for r in good] == [10.0, 20.0]
    assert len(bad) == 1 and "VEHICLE_SPEED ()" in bad[0].error


@pytest.mark.parametrize("header", [
    "ENGINE_RPM (),VEHICLE_SPEED ()\n",
    "ENGINE_RUN_TINE (),ENGINE_RPM ()\n",
    "\n",
])
def test_a_header_without_the_columns_dead_letters_every_row(tmp_path, header):
    p = write(tmp_path, "car5.csv", "0, 10\n\n1, 20\n", header=header)
    readings = list(read_trip(p, START_MS))
    assert [(r.line, r.origin) for r in readings] == [("0, 10", "car5.csv:2"), ("1, 20", "car5.csv:4")]
    assert all("header lacks" in r.error for r in readings)


def test_header_names_match_ignoring_case_blanks_and_bom(tmp_path):
    p = tmp_path / "car8.csv"
    p.write_bytes("\ufeffengine_run_tine(),Vehicle_Speed ( )\n0,10\n1,20\n".encode("utf-8"))
    good, bad = split(list(read_trip(p, START_MS)))
    assert not bad and [parse_line(r.line).speed for r in good] == [10.0, 20.0]


def test_empty_trip_yields_nothing(tmp_path):
    p = write(tmp_path, "car6.csv", "")
    assert list(read_trip(p, START_MS)) == []


def test_read_fleet_merges_in_event_time_order(tmp_path):
    write(tmp_path, "b.csv", "0,0,1,0\n1,0,2,0\n2,0,3,0\n")
    write(tmp_path, "a.csv", "0,0,4,0\n2,0,5,0\n")
    items = [(r.second, r.car_number) for r in read_fleet(tmp_path, START_MS)]
    assert items == [(0, "a"), (0, "b"), (1, "b"), (2, "a"), (2, "b")]
    assert [(r.second, r.car_number) for r in read_fleet(tmp_path, START_MS, max_second=2)] == items[:3]


def test_absurd_run_time_is_malformed_not_an_exception(tmp_path):
    p = write(tmp_path, "car8.csv", "0, 800, 10, 0\n1e15, 800, 20, 0\n2, 800, 30, 0\n")
    readings = list(read_trip(p, START_MS))
    good, bad = split(readings)
    assert [parse_line(r.line).speed for r in good] == [10.0, 30.0]
    assert len(bad) == 1 and "ENGINE_RUN_TINE ()" in bad[0].error


def test_valid_reading_always_parses_with_stem_as_car(tmp_path):
    # The feed line is comma-separated, so a comma (or blank) in the stem becomes "_".
    p = write(tmp_path, "car,7 x.csv", "0, 800, 10, 0\n1, 800, 20, 0\n")
    good, bad = split(list(read_trip(p, START_MS)))
    assert not bad and len(good) == 2
    assert [parse_line(r.line).car_number for r in good] == ["car_7_x", "car_7_x"]
