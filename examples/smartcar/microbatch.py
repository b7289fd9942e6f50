"""The smart-car pipeline's pieces in micro-batch mode: the OBD replay source and the speeding rule.

:func:`read_fleet_frame` reads the carOBD trip CSVs with polars' CSV reader and applies
the record rules of ``squall_smartcar.obd`` (examples/smartcar/obd.py) as column
expressions, with no Python object per row:

* one car per file, ``car_number`` = the file stem with commas and white space as ``_``;
* one record per car per engine-run-time second: the last valid reading of that second;
  event time = ``start_ms + second * 1000``;
* a row whose run time or speed does not parse as a finite number, is negative, lies
  past year 9999, or whose run time runs backwards, is rejected with its origin
  (``file.csv:line``) and reason; blank lines are ignored;
* fields the log lacks: ``break_pedal`` 0, ``steer_angle`` 0, ``direct_light`` 0,
  ``area_number`` ``"0"``; ``speed_pedal`` = ``PEDAL_D ()``, 0 when absent or not finite.

Its records equal ``squall_smartcar.obd.read_fleet``'s valid ones, in the same order
(tested). Where it differs, only on malformed rows: numbers are parsed by polars
(Python's ``float`` also takes ``1_000``, which is rejected here), a line of only
blanks around one field is ignored as blank, a quote after blanks opens a quoted field
here (Python's ``csv`` keeps it as text), and a short row's reason does not count its
fields.

:func:`speeding_query` is the rule of ``examples/smartcar/speeding.epl`` as a DataFrame
query.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from squall.extras import require
from squall.microbatch import functions as F
from squall.microbatch.errors import PlanError
from squall.microbatch.frame import StreamingDataFrame
from squall.microbatch.plan import window
from squall.microbatch.sources import Source

from .obd import trip_files

pl = require("polars", "microbatch")

__all__ = ["RECORD_COLUMNS", "read_trip_frame", "read_fleet_frame", "ObdReplaySource", "speeding_query"]

RUN_TIME = "ENGINE_RUN_TINE ()"   # sic, as the logger spells it
SPEED = "VEHICLE_SPEED ()"
PEDAL = "PEDAL_D ()"
MAX_DATE_MS = 253402300799000      # 9999-12-31 23:59:59 UTC, as squall_smartcar.record

RECORD_COLUMNS = ("event_time_ms", "car_number", "speed_pedal", "break_pedal", "steer_angle", "direct_light",
                  "speed", "area_number")
"""Columns of a record batch: the smart-car record's fields, the date as epoch ms (Int64);
``car_number`` is Categorical (Arrow: dictionary-encoded), ``direct_light`` Int64,
``area_number`` String, the others Float64."""

_FILES_PER_SCAN = 16


def _column_key(name: str) -> str:
    return "".join(name.split()).upper()


def _car_number(stem: str) -> str:
    return "".join("_" if c == "," or c.isspace() else c for c in stem) or "_"


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        line = fh.readline()
    fields = next(csv.reader([line]), []) if '"' in line else line.rstrip("\r\n").split(",")
    return [_column_key(h) for h in fields]


def _number(raw: Any) -> Any:
    return raw.str.strip_chars().cast(pl.Float64, strict=False)


def _quoted(raw: Any) -> Any:
    return pl.concat_str(pl.lit("'"), raw.fill_null(""), pl.lit("'"))


def _empty_records() -> Any:
    return pl.DataFrame(schema={"event_time_ms": pl.Int64, "car_number": pl.Categorical, "speed_pedal": pl.Float64,
                                "break_pedal": pl.Float64, "steer_angle": pl.Float64, "direct_light": pl.Int64,
                                "speed": pl.Float64, "area_number": pl.String})


def _empty_rejects() -> Any:
    return pl.DataFrame(schema={"second": pl.Int64, "car_number": pl.String, "origin": pl.String,
                                "reason": pl.String})


def read_trip_frame(path: str | Path, start_ms: int) -> tuple[Any, Any]:
    """One trip file as (records, rejects) DataFrames.

    Args:
        path: the CSV file; its header must name the run-time and speed columns
            (matched ignoring case, blanks and a byte-order mark).
        start_ms: epoch ms at which the trip's run time 0 is placed.

    Returns:
        ``records`` with :data:`RECORD_COLUMNS` in run-time order, and ``rejects`` with
        ``second`` (the last good second before the row, as ``read_trip``), ``car_number``,
        ``origin`` (``"file.csv:line"``) and ``reason``. A file whose header lacks the
        run-time or speed column has every non-blank row rejected.
    """
    path = Path(path)
    return tuple(pl.collect_all(_trips_queries([path], _header(path), start_ms)))


def _trips_queries(paths: list[Path], header: list[str], start_ms: int) -> tuple[Any, Any]:
    """Lazy (records, rejects) of trip files sharing one header, read by one CSV scan.

    Every per-file rule (line numbers, the second being collected, the last reading
    of a second) runs ``over`` the file's path, so one query serves many small files.
    """
    rt_key, sp_key, pd_key = _column_key(RUN_TIME), _column_key(SPEED), _column_key(PEDAL)
    wanted = {1}                   # a blank line has no second field: that tells it from "  ,  "
    if rt_key in header and sp_key in header:
        rt_i, sp_i = header.index(rt_key), header.index(sp_key)
        pd_i = header.index(pd_key) if pd_key in header else None
        wanted |= {0, rt_i, sp_i} | ({pd_i} if pd_i is not None else set())
    else:
        rt_i = sp_i = pd_i = None
        wanted |= {0}
    width = max(len(header), max(wanted) + 1)
    cols = sorted(wanted)
    raw = pl.scan_csv([str(p) for p in paths], has_header=False, skip_rows=1, truncate_ragged_lines=True,
                      schema={f"c{i}": pl.String for i in range(width)}, missing_columns="insert",
                      extra_columns="ignore", encoding="utf8-lossy", raise_if_empty=False,
                      include_file_paths="path").select("path", *(f"c{i}" for i in cols))
    per_file = "path"
    car = pl.col("path").replace_strict({str(p): _car_number(p.stem) for p in paths}, return_dtype=pl.String)
    name = pl.col("path").replace_strict({str(p): p.name for p in paths}, return_dtype=pl.String)
    c = {i: pl.col(f"c{i}") for i in cols}
    blank = ((c[0].is_null() | (c[0].str.strip_chars() == "")) & c[1].is_null())
    frame = raw.with_columns(pl.int_range(pl.len()).over(per_file).alias("row")).filter(~blank)
    origin = pl.concat_str(name, pl.lit(":"), (pl.col("row") + 2).cast(pl.String)).alias("origin")
    if rt_i is None:
        rejects = frame.select(pl.lit(0, pl.Int64).alias("second"), car.alias("car_number"), origin,
                               pl.lit(f"the file's header lacks {RUN_TIME!r} or {SPEED!r}").alias("reason"))
        return _empty_records().lazy(), rejects
    max_second = (MAX_DATE_MS - start_ms) // 1000
    rt_raw, sp_raw = c[rt_i], c[sp_i]
    # Parsed once into columns: the rules below read them several times.
    frame = frame.with_columns(_number(rt_raw).alias("rt"), _number(sp_raw).alias("sp"))
    rt, sp = pl.col("rt"), pl.col("sp")
    parsed = rt.is_finite() & (rt >= 0) & (rt <= max_second) & sp.is_finite() & (sp >= 0)
    second = pl.when(parsed).then(rt.floor().cast(pl.Int64)).otherwise(-1)
    frame = frame.with_columns(second.alias("second"), parsed.alias("parsed"))
    # The second being collected when a row arrives: the largest good second before it
    # (a backwards row is below it, so including it in the maximum changes nothing).
    frame = frame.with_columns(pl.col("second").cum_max().shift(1, fill_value=-1).over(per_file).alias("current"))
    ok = pl.col("parsed") & (pl.col("second") >= pl.col("current"))
    pedal = _number(c[pd_i]) if pd_i is not None else pl.lit(None, pl.Float64)
    records = (frame.filter(ok)
               .filter(pl.col("second").is_last_distinct().over(per_file))
               .select((pl.col("second") * 1000 + start_ms).alias("event_time_ms"),
                       # Dictionary-encoded: grouping by car reads small integer codes.
                       car.cast(pl.Categorical).alias("car_number"),
                       # `or 0.0` in obd.py: not finite, absent and -0.0 all become 0.0
                       pl.when(pedal.is_finite() & (pedal != 0)).then(pedal).otherwise(0.0).alias("speed_pedal"),
                       pl.lit(0.0).alias("break_pedal"), pl.lit(0.0).alias("steer_angle"),
                       pl.lit(0, pl.Int64).alias("direct_light"), sp.alias("speed"),
                       pl.lit("0").alias("area_number")))
    reason = (pl.when(rt_raw.is_null() | sp_raw.is_null())
              .then(pl.lit(f"row lacks fields; {RUN_TIME} and {SPEED} need {max(rt_i, sp_i) + 1}"))
              .when(~rt.is_finite() | rt.is_null())
              .then(pl.concat_str(pl.lit(f"{RUN_TIME} does not parse as a finite number: "), _quoted(rt_raw)))
              .when(rt < 0).then(pl.concat_str(pl.lit(f"{RUN_TIME} is negative: "), _quoted(rt_raw)))
              .when(rt > max_second)
              .then(pl.concat_str(pl.lit(f"{RUN_TIME} is out of range (the record would be dated after year "
                                         f"9999): "), _quoted(rt_raw)))
              .when(~sp.is_finite() | sp.is_null())
              .then(pl.concat_str(pl.lit(f"{SPEED} does not parse as a finite number: "), _quoted(sp_raw)))
              .when(sp < 0).then(pl.concat_str(pl.lit(f"{SPEED} is negative: "), _quoted(sp_raw)))
              .otherwise(pl.concat_str(pl.lit(f"{RUN_TIME} runs backwards: "), rt_raw.str.strip_chars(),
                                       pl.lit(" after second "), pl.col("current").cast(pl.String))))
    rejects = frame.filter(~ok).select(pl.col("current").clip(lower_bound=0).alias("second"),
                                       car.alias("car_number"), origin, reason.alias("reason"))
    return records, rejects


def read_fleet_frame(directory: str | Path, start_ms: int, max_second: int | None = None) -> tuple[Any, Any]:
    """Every trip of ``directory`` (its ``*.csv``, by name), all starting at ``start_ms``.

    Args:
        directory: the replay directory.
        start_ms: epoch ms of run time 0 for every trip.
        max_second: keep only the first ``max_second`` seconds of event time.

    Returns:
        (records, rejects) as :func:`read_trip_frame`, records ordered by event time
        then car number, as ``read_fleet`` merges them.

    Raises:
        FileNotFoundError: the directory does not exist or holds no CSV file.
    """
    files = trip_files(directory)
    # One scan per header and up to _FILES_PER_SCAN files: the trips are small, so a
    # query per file would cost more than the parsing, while one scan of all 117 trips
    # would hold every raw text column at once (about +60 MB peak RSS).
    by_header: dict[tuple[str, ...], list[Path]] = {}
    for p in files:
        by_header.setdefault(tuple(_header(p)), []).append(p)
    parts = [pl.collect_all(_trips_queries(group[i:i + _FILES_PER_SCAN], list(h), start_ms))
             for h, group in by_header.items() for i in range(0, len(group), _FILES_PER_SCAN)]
    records = pl.concat([r for r, _ in parts]).sort(["event_time_ms", "car_number"], maintain_order=True)
    rejects = pl.concat([r for _, r in parts])
    if max_second is not None:
        records = records.filter(pl.col("event_time_ms") < start_ms + max_second * 1000)
        rejects = rejects.filter(pl.col("second") < max_second)
    return records, rejects


class ObdReplaySource(Source):
    """The OBD fleet replay as record batches of ``batch_ms`` of event time each.

    Args:
        directory: the replay directory (one CSV per car).
        start_ms: epoch ms at which every trip starts.
        batch_ms: event time covered by one batch (the micro-batch interval). The driver
            costs about a millisecond per batch: for a replay run as fast as possible,
            batches of tens of thousands of records amortize it. The 117-car fleet gives
            about 25 records per second of event time (60 s: about 1,500 records).
        max_second: stop after this many seconds of event time.

    Attributes:
        rejected: after :meth:`batches` has read the files, the rejected rows
            (``second``, ``car_number``, ``origin``, ``reason``), for a dead-letter sink.
    """

    def __init__(self, directory: str | Path, start_ms: int, batch_ms: int = 60_000,
                 max_second: int | None = None) -> None:
        if batch_ms <= 0:
            raise PlanError(f"ObdReplaySource: batch_ms must be positive, got {batch_ms}")
        self.directory, self.start_ms, self.batch_ms, self.max_second = directory, start_ms, batch_ms, max_second
        self.rejected: Any = None

    def batches(self) -> Iterator[Any]:
        records, self.rejected = read_fleet_frame(self.directory, self.start_ms, self.max_second)
        if records.height == 0:
            return
        bucket = (pl.col("event_time_ms") - self.start_ms) // self.batch_ms
        yield from records.with_columns(bucket.alias("__b")).partition_by("__b", maintain_order=True,
                                                                            include_key=False)


def speeding_query(source: Source, start_ms: int = 0, threshold_kmh: float = 80.0,
                   window_ms: int = 30_000) -> StreamingDataFrame:
    """Per car, ``window_ms`` tumbling event-time windows whose average speed is above the threshold.

    Args:
        source: batches with :data:`RECORD_COLUMNS` (at least ``event_time_ms``,
            ``car_number``, ``speed``).
        start_ms: the replay's start; windows start at ``start_ms + k * window_ms``,
            which is where Esper's ``#time_batch(30 sec)`` puts its batches when the first
            event comes at ``start_ms`` and the clock is the events' time.
        threshold_kmh: the average speed (km/h) a window must exceed.
        window_ms: the window length.

    Returns:
        A query whose rows are ``window_start``, ``window_end``, ``car_number``,
        ``avg_speed`` (km/h), ``events``; run it in append mode. The watermark has no
        delay: the replay is in event-time order.

    Semantics: the rule of ``examples/smartcar/speeding.epl`` (Esper 8 reference, 14.3.8
    "Time batch window" with ``group by``/``having``); as a query, Spark Structured
    Streaming programming guide, "Window Operations on Event Time". Esper's batches are
    aligned to its first event; these windows are aligned to ``start_ms``: the same when
    the first event comes at ``start_ms`` (every replay trip has a second 0).
    """
    return (StreamingDataFrame(source)
            .with_watermark("event_time_ms", 0)
            .group_by(window("event_time_ms", window_ms, start=start_ms % window_ms), "car_number")
            # count(speed) is count(*) here (a record always has a speed) and shares
            # avg's count partial: one aggregation fewer per record.
            .agg(F.avg("speed").alias("avg_speed"), F.count("speed").alias("events"))
            .filter(pl.col("avg_speed") > threshold_kmh))
