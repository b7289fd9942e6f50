"""Unit tests of squall_smartcar.record: the feed line, dates, row keys."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.errors import RecordError
from squall_smartcar.record import Record, date_to_ms, format_line, ms_to_date, parse_line, row_key

# -- strategies -----------------------------------------------------------------------

# Realistic dates (4-digit years); see test_ms_to_date_pads_years_below_1000 for the rest.
dates = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)) \
    .map(lambda d: d.strftime("%Y%m%d%H%M%S"))


def _clean(s: str) -> bool:
    # parse_line strips each field and the line's trailing CR/LF; commas split fields.
    return "," not in s and s == s.strip()


car_numbers = st.text(min_size=1, max_size=12).filter(_clean).filter(bool)
areas = st.text(max_size=6).filter(_clean)
finite = st.floats(allow_nan=False, allow_infinity=False)
speeds = st.floats(min_value=0, max_value=400, allow_nan=False)
lights = st.sampled_from([0, 1, 2])


@st.composite
def record_values(draw):
    return (draw(dates), draw(car_numbers), draw(finite), draw(finite), draw(finite), draw(lights),
            draw(speeds), draw(areas))


# Lines that look like feed lines with some fields mangled, to reach every check.
field_text = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", " ", "nan", "inf", "-inf", "-1", "-0.0", "3", "1.5", "2", "1e400", "0x10",
                     "20240101000000", "20241301000000", "20240229300000", "00000101000000",
                     "２０２４０１０１０００００"]),
    finite.map(repr),
)
mangled_lines = st.lists(field_text, min_size=0, max_size=10).map(",".join)


# -- parse_line / format_line ---------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(record_values())
def test_valid_lines_round_trip(values):
    line = format_line(*values)
    rec = parse_line(line)
    assert rec == Record(*values)
    assert isinstance(rec.direct_light, int)
    # Trailing line ends are tolerated, as read from a file.
    assert parse_line(line + "\r\n") == rec
    assert rec.event_time_ms == date_to_ms(values[0])


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), mangled_lines))
def test_arbitrary_text_raises_only_record_error(line):
    try:
        rec = parse_line(line)
    except RecordError as exc:
        assert isinstance(exc.reason, str) and exc.reason.strip(), exc
        assert exc.record == line
        return
    # Accepted: then it really is a well-formed record.
    assert len(rec.date) == 14 and rec.date.isdigit()
    assert rec.car_number and rec.speed >= 0 and math.isfinite(rec.speed)
    assert rec.direct_light in (0, 1, 2)
    for v in (rec.speed_pedal, rec.break_pedal, rec.steer_angle):
        assert math.isfinite(v)


@pytest.mark.parametrize("line, reason_word", [
    ("20240101000030,car1,1,0,0,0,50", "fields"),
    ("20240101000030,car1,1,0,0,0,50,0,9", "fields"),
    ("2024010100003,car1,1,0,0,0,50,0", "14 digits"),
    ("20241301000030,car1,1,0,0,0,50,0", "real date"),
    ("20240229300000,car1,1,0,0,0,50,0", "real date"),
    ("20240101000030,,1,0,0,0,50,0", "car_number"),
    ("20240101000030,car1,1,0,0,0,-3,0", "speed"),
    ("20240101000030,car1,1,0,0,0,nan,0", "speed"),
    ("20240101000030,car1,1,0,0,0,fast,0", "speed"),
    ("20240101000030,car1,1,0,0,3,50,0", "direct_light"),
    ("20240101000030,car1,1,0,0,0.5,50,0", "direct_light"),
    ("20240101000030,car1,x,0,0,0,50,0", "speed_pedal"),
    ("20240101000030,car1,1,inf,0,0,50,0", "break_pedal"),
    ("20240101000030,car1,1,0,?,0,50,0", "steer_angle"),
])
def test_bad_lines_name_the_problem(line, reason_word):
    with pytest.raises(RecordError) as info:
        parse_line(line)
    assert reason_word in info.value.reason
    assert info.value.record == line


def test_parse_line_values():
    r = parse_line("20240101000030,drive1,12.5,1,-7.5,2,83.0,7\n")
    assert r == Record("20240101000030", "drive1", 12.5, 1.0, -7.5, 2, 83.0, "7")
    assert r.event_time_ms == 1704067230000


# -- dates and row keys ---------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(dates)
def test_date_round_trip(date):
    ms = date_to_ms(date)
    assert ms % 1000 == 0
    expected = int(datetime.strptime(date, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc).timestamp()) * 1000
    assert ms == expected
    assert ms_to_date(ms) == date


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=253402300799) .map(lambda s: s * 1000),
       st.integers(min_value=0, max_value=999))
def test_ms_round_trip_truncates_to_the_second(ms, extra):
    assert date_to_ms(ms_to_date(ms + extra)) == ms


@pytest.mark.parametrize("bad", [
    "20241301000000",   # month 13
    "20240230000000",   # Feb 30
    "20230229000000",   # Feb 29 in a non-leap year
    "20240229300000",   # hour 30
    "20240101006000",   # minute 60
    "20240101000060",   # second 60
    "20240100000000",   # day 0
    "00000101000000",   # year 0
    "2024010100000",    # 13 digits
    "202401010000000",  # 15 digits
    "2024-01-01T0000",  # not digits
    "２０２４０１０１０００００",  # non-ASCII digits
    "",
])
def test_invalid_dates_rejected(bad):
    with pytest.raises(ValueError):
        date_to_ms(bad)
    with pytest.raises(RecordError):
        parse_line(f"{bad},car1,0,0,0,0,50,0")


def test_leap_day_accepted():
    assert ms_to_date(date_to_ms("20240229235959")) == "20240229235959"


def test_ms_to_date_pads_years_below_1000():
    assert ms_to_date(date_to_ms("09990101000000")) == "09990101000000"


def test_row_key():
    assert row_key("20240101000030", "drive1") == "03000010104202-drive1"
    assert row_key("20240101123456", "x") == "65432110104202-x"
