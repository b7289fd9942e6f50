"""Read OBD-II trip logs (the carOBD CSVs) as smart-car records, one car per file.

Each file is one car (``car_number`` = the file stem, with commas and white space
replaced by ``_`` since the feed line is comma-separated). Its rows (about 2 Hz) become
one record per engine-run-time second: the last valid reading of that second. Fields
the OBD-II log lacks take neutral values: ``break_pedal`` 0, ``steer_angle`` 0,
``direct_light`` 0 (off), ``area_number`` "0"; ``speed_pedal`` is ``PEDAL_D ()``
(0 when absent or unparsable, since it does not decide anything).

A row whose run time or speed does not parse (or is not finite, or negative, or runs
backwards) is malformed: it is yielded with its reason so the pipeline can dead-letter
it. Blank lines are ignored.
"""

from __future__ import annotations

import csv
import heapq
import math
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from .record import MAX_DATE_MS, format_line, ms_to_date

__all__ = ["RUN_TIME", "SPEED", "PEDAL", "Reading", "read_trip", "read_fleet", "trip_files"]

RUN_TIME = "ENGINE_RUN_TINE ()"   # sic, as the logger spells it
SPEED = "VEHICLE_SPEED ()"
PEDAL = "PEDAL_D ()"


class Reading(NamedTuple):
    """One item of a trip: a per-second record line, or a malformed row.

    ``second`` orders items within the fleet replay; for a malformed row it is the
    second of the last good reading before it, so it keeps its place in the file.
    """

    second: int
    car_number: str
    line: str          # the feed line (valid) or the raw CSV row (malformed)
    origin: str        # "file.csv:line_number"
    error: str | None  # None when valid


def trip_files(directory: str | Path) -> list[Path]:
    """The ``*.csv`` files of ``directory``, sorted by name.

    Raises:
        FileNotFoundError: the directory does not exist or holds no CSV file.
    """
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"replay directory not found: {d}")
    files = sorted(d.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv trip files in {d}")
    return files


def _parse_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _split(line: str) -> list[str]:
    # Numeric logs have no quoting: a plain split is several times faster than the csv
    # module, which still parses any quoted line.
    if '"' in line:
        return next(csv.reader([line]), [])
    return line.rstrip("\r\n").split(",")


def read_trip(path: str | Path, start_ms: int) -> Iterator[Reading]:
    """Stream one trip file as :class:`Reading` items in run-time order.

    Args:
        path: the CSV file; its header must name the run-time and speed columns.
        start_ms: epoch ms at which the trip's run time 0 is placed.

    Header names match ignoring case, blanks and a byte-order mark. A file whose header
    lacks the run-time or speed column cannot be read as a trip: each of its rows is
    yielded as malformed with that reason (dead-lettered, not dropped, and the rest of
    the fleet goes on).
    """
    path = Path(path)
    car, name = _car_number(path.stem), path.name
    # A run time that would date the record past year 9999 cannot be a 14-digit date.
    max_second = (MAX_DATE_MS - start_ms) // 1000
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        header = [_column_key(h) for h in _split(fh.readline())]
        try:
            rt_i, sp_i = header.index(_column_key(RUN_TIME)), header.index(_column_key(SPEED))
        except ValueError:
            reason = f"the file's header lacks {RUN_TIME!r} or {SPEED!r}"
            for line_no, line in enumerate(fh, start=2):
                if line.strip():
                    yield Reading(0, car, line.rstrip("\r\n"), f"{name}:{line_no}", reason)
            return
        pd_key = _column_key(PEDAL)
        pd_i = header.index(pd_key) if pd_key in header else None
        need = max(rt_i, sp_i) + 1
        maxsplit = max(need, (pd_i or 0) + 1)
        current = -1               # the second being collected; -1 before the first
        pending = None             # (speed, row, line_no): its last valid reading so far
        inf = math.inf
        for line_no, line in enumerate(fh, start=2):
            # The per-row path: this loop is most of a replay's cost, so it is kept flat.
            if '"' in line:
                row = next(csv.reader([line]), [])
            else:
                row = line.split(",", maxsplit)
            try:
                run_time = float(row[rt_i])
                speed = float(row[sp_i])
            except (ValueError, IndexError):
                if not line.strip():
                    continue       # a blank line
                run_time = speed = -1.0
            second = int(run_time) if 0 <= run_time <= max_second else -1
            if second < current or second < 0 or not 0 <= speed < inf:
                yield Reading(max(current, 0), car, line.rstrip("\r\n"), f"{name}:{line_no}",
                              _reason(row, rt_i, sp_i, need, current if current >= 0 else None, max_second))
                continue
            if second != current and pending is not None:
                yield _record(car, current, pending, start_ms, name, pd_i)
            current, pending = second, (speed, row, line_no)
        if pending is not None:
            yield _record(car, current, pending, start_ms, name, pd_i)


def _column_key(name: str) -> str:
    return "".join(name.split()).upper()


def _car_number(stem: str) -> str:
    return "".join("_" if c == "," or c.isspace() else c for c in stem) or "_"


def _reason(row: list[str], rt_i: int, sp_i: int, need: int, current: int | None, max_second: int) -> str:
    """Why a row was rejected, naming the column and the text found."""
    if len(row) < need:
        return f"row has {len(row)} fields; {RUN_TIME} and {SPEED} need {need}"
    run_time = _parse_number(row[rt_i])
    if run_time is None:
        return f"{RUN_TIME} does not parse as a finite number: {row[rt_i]!r}"
    if run_time < 0:
        return f"{RUN_TIME} is negative: {row[rt_i]!r}"
    if run_time > max_second:
        return f"{RUN_TIME} is out of range (the record would be dated after year 9999): {row[rt_i]!r}"
    speed = _parse_number(row[sp_i])
    if speed is None:
        return f"{SPEED} does not parse as a finite number: {row[sp_i]!r}"
    if speed < 0:
        return f"{SPEED} is negative: {row[sp_i]!r}"
    return f"{RUN_TIME} runs backwards: {row[rt_i].strip()} after second {current}"


def _record(car: str, second: int, reading: tuple[float, list[str], int], start_ms: int, name: str,
            pd_i: int | None) -> Reading:
    speed, row, line_no = reading
    pedal = 0.0
    if pd_i is not None and pd_i < len(row):
        pedal = _parse_number(row[pd_i]) or 0.0
    date = ms_to_date(start_ms + second * 1000)
    return Reading(second, car, format_line(date, car, pedal, 0.0, 0.0, 0, speed, "0"), f"{name}:{line_no}", None)


def read_fleet(directory: str | Path, start_ms: int, max_second: int | None = None) -> Iterator[Reading]:
    """Every trip of ``directory`` replayed together, merged in event-time order.

    All trips start at ``start_ms``; items come ordered by (second, car number), each
    file read lazily, so memory does not grow with the length of the logs.
    ``max_second`` stops the replay after that many seconds of event time.
    """
    streams = [read_trip(p, start_ms) for p in trip_files(directory)]
    # Readings are tuples starting (second, car_number, ...): they merge in that order.
    for reading in heapq.merge(*streams):
        if max_second is not None and reading.second >= max_second:
            return
        yield reading
