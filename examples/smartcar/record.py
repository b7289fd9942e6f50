"""The smart-car record: the book's CSV feed line, its fields, time and row key.

A line is ``date,car_number,speed_pedal,break_pedal,steer_angle,direct_light,speed,area_number``
with ``date`` as 14 digits ``yyyyMMddHHmmss``. Dates are read as UTC; event time is
epoch milliseconds everywhere.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from functools import lru_cache
from typing import NamedTuple

from squall.errors import RecordError

MAX_DATE_MS = 253402300799000  # 9999-12-31 23:59:59 UTC, the last 14-digit date

__all__ = ["MAX_DATE_MS", "FIELDS", "EVENT_PROPERTIES", "Record", "parse_line", "format_line", "date_to_ms",
           "ms_to_date", "row_key"]

FIELDS = ("date", "car_number", "speed_pedal", "break_pedal", "steer_angle", "direct_light",
          "speed", "area_number")
# Record field -> property name of the DriverCarInfo event the EPL rule sees.
EVENT_PROPERTIES = {"date": "date", "car_number": "carNumber", "speed_pedal": "speedPedal",
                    "break_pedal": "breakPedal", "steer_angle": "steerAngle",
                    "direct_light": "directLight", "speed": "speed", "area_number": "areaNumber"}


class Record(NamedTuple):
    """One parsed record. Units: pedals in %, steer angle in degrees, speed in km/h;
    ``direct_light`` 0 = off, 1 = left, 2 = right."""

    date: str
    car_number: str
    speed_pedal: float
    break_pedal: float
    steer_angle: float
    direct_light: int
    speed: float
    area_number: str

    @property
    def event_time_ms(self) -> int:
        return date_to_ms(self.date)


# Records come a fleet at a time, every car with the same date: a small cache turns the
# date arithmetic into one dict lookup per record.
@lru_cache(maxsize=8192)
def date_to_ms(date: str) -> int:
    """``yyyyMMddHHmmss`` (UTC) -> epoch milliseconds.

    >>> date_to_ms("20240101000030")
    1704067230000

    Raises:
        ValueError: not 14 digits, or not a real date/time.
    """
    if len(date) != 14 or not date.isascii() or not date.isdigit():
        raise ValueError(f"date must be 14 digits yyyyMMddHHmmss, got {date!r}")
    try:
        dt = datetime(int(date[:4]), int(date[4:6]), int(date[6:8]), int(date[8:10]), int(date[10:12]),
                      int(date[12:]), tzinfo=timezone.utc)
    except ValueError as exc:
        raise ValueError(f"date {date!r} is not a real date/time: {exc}") from None
    return int(dt.timestamp()) * 1000


@lru_cache(maxsize=8192)
def ms_to_date(ms: int) -> str:
    """Epoch milliseconds -> ``yyyyMMddHHmmss`` (UTC).

    >>> ms_to_date(1704067230000)
    '20240101000030'
    """
    d = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    # Formatted by hand: strftime's %Y does not pad years below 1000 on glibc.
    return f"{d.year:04d}{d.month:02d}{d.day:02d}{d.hour:02d}{d.minute:02d}{d.second:02d}"


def row_key(date: str, car_number: str) -> str:
    """The table row key: the date's digits reversed, ``-``, the car number.

    Reversing spreads consecutive timestamps over the key space (the book's choice, to
    avoid a hot region in HBase).

    >>> row_key("20240101000030", "drive1")
    '03000010104202-drive1'
    """
    return date[::-1] + "-" + car_number


def _number(name: str, text: str, line: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RecordError(f"{name} is not a number: {text!r}", line) from None
    if not math.isfinite(value):
        raise RecordError(f"{name} is not finite: {text!r}", line)
    return value


def parse_line(line: str) -> Record:
    """Parse one feed line.

    >>> parse_line("20240101000030,drive1,12.5,0,0,0,83.0,0").speed
    83.0

    Raises:
        RecordError: wrong field count, bad date, empty car number, a field that is
            not a number, a negative speed, or a direct light outside 0..2; the error
            carries the line as ``record`` and the reason.
    """
    parts = line.rstrip("\r\n").split(",")
    if len(parts) != 8:
        raise RecordError(f"expected {len(FIELDS)} comma-separated fields, got {len(parts)}", line)
    date, car, pedal, brake, steer, light, speed, area = parts
    date, car, area = date.strip(), car.strip(), area.strip()
    try:
        date_to_ms(date)
    except ValueError as exc:
        raise RecordError(str(exc), line) from None
    if not car:
        raise RecordError("car_number is empty", line)
    try:
        # float() ignores surrounding blanks; the check below covers nan and inf.
        values = (float(pedal), float(brake), float(steer), float(light), float(speed))
    except ValueError:
        values = tuple(_number(n, t, line) for n, t in
                       (("speed_pedal", pedal), ("break_pedal", brake), ("steer_angle", steer),
                        ("direct_light", light), ("speed", speed)))
    if not math.isfinite(sum(values)):
        for n, t, v in zip(("speed_pedal", "break_pedal", "steer_angle", "direct_light", "speed"),
                           (pedal, brake, steer, light, speed), values):
            _number(n, t, line)
    pedal_v, brake_v, steer_v, light_v, speed_v = values
    if speed_v < 0:
        raise RecordError(f"speed is negative: {speed.strip()!r}", line)
    if light_v != 0 and light_v != 1 and light_v != 2:
        raise RecordError(f"direct_light must be 0, 1 or 2, got {light.strip()!r}", line)
    return Record(date, car, pedal_v, brake_v, steer_v, int(light_v), speed_v, area)


def format_line(date: str, car_number: str, speed_pedal: float, break_pedal: float, steer_angle: float,
                direct_light: int, speed: float, area_number: str) -> str:
    """The feed line for these values (numbers in Python's shortest repr)."""
    return (f"{date},{car_number},{speed_pedal!r},{break_pedal!r},{steer_angle!r},"
            f"{direct_light},{speed!r},{area_number}")
