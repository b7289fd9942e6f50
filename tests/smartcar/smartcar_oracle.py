"""An independent model of the smart-car pipeline's documented output, in plain Python.

Deliberately imports nothing from ``squall_smartcar``: it re-implements the documented
semantics (DESIGN.md "Reference data", the obd/cli docstrings, Esper's time batch) so
the tests compare the pipeline against a second implementation, not against itself.

* one car per CSV file, ``car_number`` = the file stem;
* every trip's run time 0 is placed at ``start`` (default 2024-01-01 00:00:00 UTC);
* one record per car per engine-run-time second: the LAST valid reading of that second
  (valid = run time and speed parse as finite numbers, neither negative, and the run
  time's second does not go below the second of the previous valid reading);
* row key = the 14-digit date reversed + "-" + car number;
* rule ``avg(speed) > threshold`` per car over ``time_batch(30 sec)``: batches are
  ``[t0 + 30k, t0 + 30(k+1))`` where t0 is the earliest record of the whole fleet.
"""

from __future__ import annotations

import calendar
import csv
import io
import math
import time
from collections import defaultdict
from pathlib import Path

RUN_TIME_COL = "ENGINE_RUN_TINE ()"
SPEED_COL = "VEHICLE_SPEED ()"
DEFAULT_START = "20240101000000"
BATCH_S = 30


def date_to_epoch_s(date: str) -> int:
    """14-digit UTC date -> epoch seconds (via time.strptime/calendar.timegm)."""
    return calendar.timegm(time.strptime(date, "%Y%m%d%H%M%S"))


def epoch_s_to_date(epoch_s: int) -> str:
    t = time.gmtime(epoch_s)
    return (f"{t.tm_year:04d}{t.tm_mon:02d}{t.tm_mday:02d}"
            f"{t.tm_hour:02d}{t.tm_min:02d}{t.tm_sec:02d}")


def _finite(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def trip_seconds(path: Path) -> tuple[dict[int, float], int]:
    """``{second: speed}`` (last valid reading per second) and the number of bad rows."""
    raw = Path(path).read_bytes().decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    header = [h.strip() for h in rows[0]]
    rt_i, sp_i = header.index(RUN_TIME_COL), header.index(SPEED_COL)
    seconds: dict[int, float] = {}
    bad = 0
    last: int | None = None
    for row in rows[1:]:
        if not row or all(not c.strip() for c in row):
            continue  # blank line
        rt = _finite(row[rt_i]) if len(row) > rt_i else None
        sp = _finite(row[sp_i]) if len(row) > sp_i else None
        if rt is None or sp is None or rt < 0 or sp < 0 or (last is not None and math.floor(rt) < last):
            bad += 1
            continue
        last = math.floor(rt)
        seconds[last] = sp
    return seconds, bad


class Fleet:
    """The expected pipeline output for a directory of trip CSVs."""

    def __init__(self, directory: Path | None, start: str = DEFAULT_START) -> None:
        self.start_s = date_to_epoch_s(start)
        self.cars: dict[str, dict[int, float]] = {}
        self.bad_rows = 0
        for p in sorted(Path(directory).glob("*.csv")) if directory is not None else ():
            secs, bad = trip_seconds(p)
            self.cars[p.stem] = secs
            self.bad_rows += bad

    @classmethod
    def from_records(cls, records, start: str = DEFAULT_START) -> Fleet:
        """A fleet from ``(date, car, speed)`` records (e.g. read back from the table)."""
        fleet = cls(None, start)
        for date, car, speed in records:
            fleet.cars.setdefault(car, {})[date_to_epoch_s(date) - fleet.start_s] = speed
        return fleet

    @property
    def record_count(self) -> int:
        return sum(len(s) for s in self.cars.values())

    def rows(self) -> dict[str, tuple[str, float]]:
        """Expected table rows: row key -> (car, speed)."""
        out = {}
        for car, secs in self.cars.items():
            for sec, speed in secs.items():
                date = epoch_s_to_date(self.start_s + sec)
                out[date[::-1] + "-" + car] = (car, speed)
        return out

    def detections(self, threshold: float = 80.0) -> dict[tuple[str, str, str], tuple[float, int]]:
        """(car, window_start, window_end) -> (avg_speed, events) for batches avg > threshold."""
        firsts = [min(s) for s in self.cars.values() if s]
        if not firsts:
            return {}
        t0 = min(firsts)
        out = {}
        for car, secs in self.cars.items():
            batches: dict[int, list[float]] = defaultdict(list)
            for sec, speed in secs.items():
                batches[(sec - t0) // BATCH_S].append(speed)
            for k, speeds in batches.items():
                avg = sum(speeds) / len(speeds)
                if avg > threshold:
                    ws = self.start_s + t0 + k * BATCH_S
                    out[(car, epoch_s_to_date(ws), epoch_s_to_date(ws + BATCH_S))] = (avg, len(speeds))
        return out

    def speeding_by_day(self, threshold: float = 80.0) -> dict[str, set[str]]:
        days: dict[str, set[str]] = defaultdict(set)
        for car, ws, _ in self.detections(threshold):
            days[ws[:8]].add(car)
        return dict(days)
