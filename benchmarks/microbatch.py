"""Micro-batch mode: W1, W2 and the smart-car replay in Trident, DataFrame and SQL vs the bare-Python loop.

W2 is the rule of benchmarks/epl.py (per car, a 30-second batch whose average speed is
above 80 km/h) on the same input: every trip of ``--replay`` (default: the sibling
``shared/data/carobd``) replayed as a fleet from 2024-01-01 00:00:00 UTC, one record per
car per second, the pass repeated back to back (shifted by the fleet's span) up to about
``--events`` (default 1.6 million).

* bare Python: ``benchmarks/epl.py``'s hand-written loop (dict of car -> [count, sum]
  over per-second groups of event dicts);
* DataFrame: ``squall_smartcar.microbatch.speeding_query`` (30 s tumbling event-time
  windows aligned to the replay start, watermark delay 0, append mode) over record
  batches of ``--batch-rows`` rows from the polars OBD reader, run by the local driver;
* Trident: the same rule as a ``TridentTopology`` (``group_by(car).tumbling_window(30 s,
  Avg, Count, time_field=...)``, a filter) over the same batches, run as a topology on
  the local runtime (the batches travel as tuples, acked per batch); its time includes
  building and running the topology (``trident_records_per_s``, also ``w2_trident``).

* SQL: the rule as Flink SQL (``GROUP BY TUMBLE(event_time_ms, INTERVAL '30' SECOND),
  car_number HAVING AVG(speed) > 80``) over the same batches (``w2_sql``).

W1 (WordCount over ``benchmarks/wordcount.py``'s 2,000,000 Zipf words): its bare loop
against Trident's WordCount (``Split`` kernel, ``persistent_aggregate(MemoryMapState(),
Count())``), the streaming DataFrame (split, explode, ``group_by("word").agg(count)``)
and SQL (``CROSS JOIN UNNEST(SPLIT(line, ' '))``, ``GROUP BY word``), all over batches of
``--w1-lines-per-batch`` lines (headline; default 100,000 lines = 1,000,000 words, and a
sweep of 200,000 to 1,000,000 words per batch); counts must be equal.

Smart-car replay (``smartcar_records_per_s``): ``squall_smartcar.microbatch.run_microbatch``
over ``--replay`` into fresh embedded stores: read the trips, store every record in the
table (and rejects in the dead letters), apply the rule, write the speeding sets and the
detection log, on the local runtime; records/s = records read / wall time of the call
(reading included). Also with a RocksDB state backend (checkpoints every second):
``smartcar_checkpointed_records_per_s``.

Bytewax, when importable (``pip install bytewax``), runs on the same inputs, one worker
(``run_main``), its ``TestingSource`` giving batches of 10,000 items: W1 as
``flat_map(str.split)`` and ``count_final``; W2 as ``key_on(car)``, ``fold_window`` of
count and sum over 30 s ``TumblingWindower`` windows aligned to the replay start on an
``EventClock`` of the record's time (no wait), and a ``filter_map`` of the average above
80 from (event time, car, speed) tuples. Printed beside the others; ``bytewax_w1``
(words/s) and ``bytewax_w2`` (records/s) in the JSON (null when not installed); its
counts and detections must equal the bare loop's.

Timings exclude reading the logs and building the inputs (event dicts for the loop,
record batches for the query), as in benchmarks/epl.py; reading the logs is timed
apart (polars reader vs ``read_fleet``). Each figure is the best of ``--repeat`` runs
(the machine is shared). Detections must agree (same windows and cars, averages within
1e-9), else the script exits non-zero. The DataFrame query also runs for a sweep of
batch sizes: the driver costs about two polars calls per batch (a fixed cost of the
order of a millisecond), so small batches pay it more often.

``peak_rss_mb`` and ``startup_s`` come from child processes running only the micro-batch
job: the whole W2 job (read the logs, run the query over one fleet pass) and an empty
job (interpreter start, imports, build and run a query over no batches), wall time.
``startup_trident_s``: the same for an empty Trident topology on the local runtime, and
``smartcar_peak_rss_mb`` the smart-car replay's child process.

    python benchmarks/microbatch.py [--replay DIR] [--events N] [--batch-rows N] [--repeat N]
                                    [--w1-words N] [--w1-lines-per-batch N]

Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _report import DEFAULT_REPLAY  # noqa: E402  (benchmarks/ is on sys.path)

SWEEP = (16_384, 65_536, 262_144, 1_048_576)
W1_SWEEP = (20_000, 50_000, 100_000)       # lines (10 words each) per W1 batch
EMPTY_JOB = """
import polars as pl
from squall.microbatch import ListSink, ListSource
from squall_smartcar.microbatch import speeding_query
speeding_query(ListSource([]), 0).write_stream(ListSink()).run()
"""
EMPTY_TRIDENT_JOB = """
from squall.microbatch import Count, ListSource, MemoryMapState, TridentTopology
topo = TridentTopology()
topo.new_stream("s", ListSource([]), fields=["w"]).group_by(["w"]).persistent_aggregate(MemoryMapState(), Count(), ["n"])
assert topo.run().completed
"""
W2_SQL = ("SELECT TUMBLE_END(event_time_ms, INTERVAL '30' SECOND) AS we, car_number, AVG(speed) AS avg_speed "
          "FROM obd GROUP BY TUMBLE(event_time_ms, INTERVAL '30' SECOND), car_number HAVING AVG(speed) > 80")
W1_SQL = ("SELECT word, COUNT(*) AS n FROM lines CROSS JOIN UNNEST(SPLIT(line, ' ')) AS t(word) "
          "WHERE word <> '' GROUP BY word")


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: ru_maxrss would carry the parent's across exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dataframe_input(replay: Path, start_ms: int, span_s: int, repeat: int):
    """All passes as one record frame (event time shifted per pass), and the read time."""
    import polars as pl
    from squall_smartcar.microbatch import read_fleet_frame
    t0 = time.perf_counter()
    records, _ = read_fleet_frame(replay, start_ms)
    read_s = time.perf_counter() - t0
    passes = [records.with_columns(pl.col("event_time_ms") + p * span_s * 1000) for p in range(repeat)]
    return pl.concat(passes, rechunk=True), read_s


def run_dataframe(frame, batch_rows: int, start_ms: int):
    from squall.microbatch import ListSink, ListSource
    from squall_smartcar.microbatch import speeding_query
    batches = [frame.slice(i, batch_rows) for i in range(0, frame.height, batch_rows)]
    sink = ListSink()
    query = speeding_query(ListSource(batches), start_ms=start_ms).write_stream(sink)
    t0 = time.perf_counter()
    query.run()
    secs = time.perf_counter() - t0
    return secs, [(we, str(car), avg) for _, we, car, avg, _ in sink.rows()], len(batches)


def run_sql(frame, batch_rows: int):
    """W2 as SQL (the query compiles to the DataFrame plan; windows aligned to the epoch,
    which START_MS, a multiple of 30 s, is)."""
    from squall.microbatch import ListSink, ListSource
    from squall.microbatch.sql import sql
    batches = [frame.slice(i, batch_rows) for i in range(0, frame.height, batch_rows)]
    sink = ListSink()
    t0 = time.perf_counter()
    sql(W2_SQL, {"obd": ListSource(batches)}).write_stream(sink).run()
    secs = time.perf_counter() - t0
    return secs, [(we, str(car), avg) for we, car, avg in sink.rows()], len(batches)


def run_trident(frame, batch_rows: int, start_ms: int):
    """W2 as a Trident topology on the local runtime: the batches travel as tuples from the
    coordinator spout to a window bolt (per car, 30 s event-time windows) and a filter."""
    import polars as pl
    from squall.microbatch import ListSource
    from squall.microbatch.trident import Avg, Count, TridentTopology
    from squall_smartcar.microbatch import RECORD_COLUMNS
    batches = [frame.slice(i, batch_rows) for i in range(0, frame.height, batch_rows)]
    rows = []
    t0 = time.perf_counter()
    topo = TridentTopology()
    (topo.new_stream("obd", ListSource(batches), fields=RECORD_COLUMNS)
     .group_by(["car_number"])
     .tumbling_window(30_000, [Avg("speed"), Count("speed")], ["avg_speed", "events"], time_field="event_time_ms")
     .filter(pl.col("avg_speed") > 80)
     .peek(lambda b: rows.extend(b.rows())))
    result = topo.run()
    secs = time.perf_counter() - t0
    if not result.completed or result.errors():
        raise RuntimeError(f"the Trident W2 run failed: {result.errors()}")
    return secs, [(we, str(car), avg) for _, we, car, avg, _ in rows], len(batches)


def run_w1_bare_counts(lines: list[str]):
    from wordcount import bare
    return bare(lines)[1]


def run_w1(words: int, lines_per_batch: int):
    """W1: benchmarks/wordcount.py's input counted by its bare loop, by Trident's WordCount
    (Split kernel, persistent_aggregate of Count in a memory map state), by the streaming
    DataFrame and by SQL. Returns the seconds of each and whether every count agrees."""
    import polars as pl
    from squall.microbatch import ListSink, ListSource, StreamingDataFrame
    from squall.microbatch import functions as F
    from squall.microbatch.sql import sql
    from squall.microbatch.trident import Count, MemoryMapState, Split, TridentTopology
    from wordcount import bare, make_lines
    lines = make_lines(words)
    bare_s, want = bare(lines)
    want = dict(want)
    batches = [pl.DataFrame({"line": lines[i:i + lines_per_batch]}) for i in range(0, len(lines), lines_per_batch)]
    final: dict[str, int] = {}
    t0 = time.perf_counter()
    topo = TridentTopology()
    (topo.new_stream("lines", ListSource(batches), fields=["line"])
     .each(["line"], Split(), ["word"])
     .group_by(["word"])
     .persistent_aggregate(MemoryMapState(), Count(), ["count"])
     .new_values_stream()
     .peek(lambda b: final.update(zip(b["word"].to_list(), b["count"].to_list()))))
    result = topo.run()
    tri_s = time.perf_counter() - t0
    if not result.completed or result.errors():
        raise RuntimeError(f"the Trident W1 run failed: {result.errors()}")
    df_sink = ListSink()
    t0 = time.perf_counter()
    (StreamingDataFrame(ListSource(batches))
     .select(pl.col("line").str.split(" ").explode().alias("word"))
     .filter(pl.col("word") != "")
     .group_by("word").agg(F.count().alias("n"))
     .write_stream(df_sink).run())
    df_s = time.perf_counter() - t0
    sql_sink = ListSink()
    t0 = time.perf_counter()
    sql(W1_SQL, {"lines": ListSource(batches)}).write_stream(sql_sink).run()
    sql_s = time.perf_counter() - t0
    same = final == want and dict(df_sink.rows()) == want and dict(sql_sink.rows()) == want
    return {"bare": bare_s, "trident": tri_s, "dataframe": df_s, "sql": sql_s, "same": same,
            "batches": len(batches)}


BYTEWAX_BATCH = 10_000      # items per TestingSource batch (1,000 ran W1 1.6x slower)


def bytewax_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("bytewax") is not None


def run_bytewax_w1(lines: list[str]) -> tuple[float, dict]:
    """W1 in Bytewax (one worker, ``run_main``): ``flat_map(str.split)`` then ``count_final``."""
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, run_main
    out: list = []
    flow = Dataflow("w1")
    words = op.flat_map("split", op.input("lines", flow, TestingSource(lines, batch_size=BYTEWAX_BATCH)), str.split)
    op.output("out", op.count_final("count", words, lambda w: w), TestingSink(out))
    t0 = time.perf_counter()
    run_main(flow)
    return time.perf_counter() - t0, dict(out)


def run_bytewax_w2(events: list[tuple[int, str, float]], start_ms: int):
    """W2 in Bytewax (one worker): per car, 30 s tumbling event-time windows aligned to the
    start (``EventClock`` on the record's time, no wait), ``fold_window`` of count and sum,
    then the average above 80. ``events``: (event time ms, car, speed) in time order."""
    from datetime import datetime, timedelta, timezone

    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window
    from bytewax.testing import TestingSink, TestingSource, run_main
    from epl import BATCH_MS, THRESHOLD
    utc = timezone.utc
    epoch = datetime(1970, 1, 1, tzinfo=utc)
    out: list = []
    flow = Dataflow("w2")
    keyed = op.key_on("car", op.input("obd", flow, TestingSource(events, batch_size=BYTEWAX_BATCH)),
                      lambda e: e[1])
    clock = EventClock(lambda e: epoch + timedelta(milliseconds=e[0]), wait_for_system_duration=timedelta(0))
    windower = TumblingWindower(length=timedelta(milliseconds=BATCH_MS),
                                align_to=epoch + timedelta(milliseconds=start_ms))

    def fold(acc, e):
        acc[0] += 1
        acc[1] += e[2]
        return acc
    sums = fold_window("sums", keyed, clock, windower, lambda: [0, 0.0], fold,
                       lambda a, b: [a[0] + b[0], a[1] + b[1]])
    fast = op.filter_map("speeding", sums.down, lambda kv: (
        (start_ms + (kv[1][0] + 1) * BATCH_MS, kv[0], kv[1][1][1] / kv[1][1][0])
        if kv[1][1][1] / kv[1][1][0] > THRESHOLD else None))
    op.output("out", fast, TestingSink(out))
    t0 = time.perf_counter()
    run_main(flow)
    return time.perf_counter() - t0, out


def smartcar_job(replay: Path, start_ms: int, checkpointed: bool) -> None:
    """The smart-car replay in micro-batch mode into fresh embedded stores: prints records
    read, seconds and peak RSS (run in a child process)."""
    import tempfile

    from squall_smartcar.microbatch import run_microbatch
    with tempfile.TemporaryDirectory() as d:
        backend = None
        if checkpointed:
            from squall.state import RocksDBStateBackend
            backend = RocksDBStateBackend(Path(d) / "state")
        run = run_microbatch(replay, Path(d) / "data", Path(d) / "detections.jsonl", start_ms=start_ms,
                             state_backend=backend)
        if not (run.completed and run.no_loss and run.stored + run.dead_letters == run.read):
            raise SystemExit(f"the smart-car run lost records or did not complete: {run.summary_lines()}")
        print(json.dumps({"read": run.read, "seconds": run.elapsed_s, "speeding": run.speeding,
                          "peak_rss_mb": round(_peak_rss_mb(), 1)}))


def child_job(replay: Path, start_ms: int) -> None:
    """The micro-batch W2 job alone (read + one fleet pass): prints its peak RSS."""
    from squall.microbatch import ListSink
    from squall_smartcar.microbatch import ObdReplaySource, speeding_query
    sink = ListSink()
    speeding_query(ObdReplaySource(replay, start_ms, batch_ms=3_600_000), start_ms).write_stream(sink).run()
    print(json.dumps({"peak_rss_mb": round(_peak_rss_mb(), 1), "rows": len(sink.rows())}))


def startup_s(job: str = EMPTY_JOB) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", job], check=True)
    return time.perf_counter() - t0


def _same(a, b) -> bool:
    a, b = sorted(a), sorted(b)
    return ([(t, c) for t, c, _ in a] == [(t, c) for t, c, _ in b]
            and all(abs(x - y) <= 1e-9 * max(1.0, abs(y)) for (_, _, x), (_, _, y) in zip(a, b)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replay", type=Path, default=DEFAULT_REPLAY)
    ap.add_argument("--events", type=int, default=1_600_000, help="about this many records in total")
    ap.add_argument("--batch-rows", type=int, default=262_144, help="rows per micro-batch (the headline figure)")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs per figure")
    ap.add_argument("--w1-words", type=int, default=2_000_000, help="W1: words (benchmarks/wordcount.py's input)")
    ap.add_argument("--w1-lines-per-batch", type=int, default=100_000,
                    help="W1: lines (10 words) per batch (the headline figure)")
    ap.add_argument("--child-job", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--smartcar-job", choices=["plain", "checkpointed"], help=argparse.SUPPRESS)
    args = ap.parse_args()

    # The children measure peak memory: they load neither benchmarks/epl.py nor its CEP engine.
    from squall_smartcar.record import date_to_ms
    start_ms = date_to_ms("20240101000000")     # benchmarks/epl.py's START_MS
    if args.child_job:
        child_job(args.replay, start_ms)
        return 0
    if args.smartcar_job:
        smartcar_job(args.replay, start_ms, args.smartcar_job == "checkpointed")
        return 0
    from epl import START_MS, load_fleet, run_bare, timeline  # the same input and loop as benchmarks/epl.py
    from squall_smartcar.obd import read_fleet

    t0 = time.perf_counter()
    groups, span_s = load_fleet(args.replay)
    python_read_s = time.perf_counter() - t0
    per_pass = sum(len(evs) for _, evs in groups)
    repeat = max(1, round(args.events / per_pass))
    n = per_pass * repeat
    tl = timeline(groups, span_s, repeat)
    frame, polars_read_s = dataframe_input(args.replay, START_MS, span_s, repeat)
    assert frame.height == n, (frame.height, n)
    t0 = time.perf_counter()
    sum(1 for _ in read_fleet(args.replay, START_MS))
    read_fleet_s = time.perf_counter() - t0
    import polars as pl
    print(f"W2: {n:,} records ({repeat} x {per_pass:,}-record fleet pass spanning {span_s} s), "
          f"polars {pl.__version__} on {pl.thread_pool_size()} threads, best of {args.repeat}")

    bare_s, bare_rows = min((run_bare(tl) for _ in range(args.repeat)), key=lambda r: r[0])
    ok = True
    sweep = {}
    for rows in sorted({*SWEEP, args.batch_rows}):
        secs, got, nb = min((run_dataframe(frame, rows, START_MS) for _ in range(args.repeat)),
                            key=lambda r: r[0])
        if not _same(got, bare_rows):
            print(f"MISMATCH: the DataFrame query with {rows}-row batches gave {len(got)} detections, "
                  f"bare Python {len(bare_rows)}", file=sys.stderr)
            ok = False
        sweep[rows] = (secs, nb)

    tri_s, tri_rows, tri_nb = min((run_trident(frame, args.batch_rows, START_MS) for _ in range(args.repeat)),
                                  key=lambda r: r[0])
    if not _same(tri_rows, bare_rows):
        print(f"MISMATCH: the Trident topology gave {len(tri_rows)} detections, bare Python {len(bare_rows)}",
              file=sys.stderr)
        ok = False
    sql_s, sql_rows, _ = min((run_sql(frame, args.batch_rows) for _ in range(args.repeat)), key=lambda r: r[0])
    if not _same(sql_rows, bare_rows):
        print(f"MISMATCH: the SQL query gave {len(sql_rows)} detections, bare Python {len(bare_rows)}",
              file=sys.stderr)
        ok = False
    w1_sweep = {}
    for lines_per_batch in sorted({*W1_SWEEP, args.w1_lines_per_batch}):
        runs = [run_w1(args.w1_words, lines_per_batch) for _ in range(args.repeat)]
        if not all(r["same"] for r in runs):
            print(f"MISMATCH: a micro-batch WordCount's counts differ from the bare loop's "
                  f"({lines_per_batch} lines per batch)", file=sys.stderr)
            ok = False
        w1_sweep[lines_per_batch] = runs
    w1 = w1_sweep[args.w1_lines_per_batch]
    bytewax = None
    if bytewax_available():
        # The peer on the same inputs (its batch size does not follow Squall's).
        import importlib.metadata

        from wordcount import make_lines
        lines = make_lines(args.w1_words)
        want_w1 = dict(run_w1_bare_counts(lines))
        bw1 = [run_bytewax_w1(lines) for _ in range(args.repeat)]
        events = [(ts, ev["carNumber"], ev["speed"]) for ts, evs in tl for ev in evs]
        bw2 = [run_bytewax_w2(events, START_MS) for _ in range(args.repeat)]
        del lines, events
        if not all(got == want_w1 for _, got in bw1):
            print("MISMATCH: Bytewax's WordCount differs from the bare loop's", file=sys.stderr)
            ok = False
        if not all(_same(got, bare_rows) for _, got in bw2):
            print("MISMATCH: Bytewax's W2 detections differ from the bare loop's", file=sys.stderr)
            ok = False
        bytewax = {"version": importlib.metadata.version("bytewax"), "w1_s": min(t for t, _ in bw1),
                   "w2_s": min(t for t, _ in bw2)}
    # The bare loop runs with every configuration: its best over all of them.
    bare_w1_s = min(r["bare"] for runs in w1_sweep.values() for r in runs)
    w1_best = {"bare": bare_w1_s, **{k: min(r[k] for r in w1) for k in ("trident", "dataframe", "sql")}}

    b_rate = n / bare_s
    print(f"\n{'implementation':<34} {'seconds':>8} {'records/s':>12} {'vs bare':>8} {'detections':>11}")
    print(f"{'bare Python loop':<34} {bare_s:8.3f} {b_rate:12,.0f} {1:7.2f}x {len(bare_rows):>11}")
    for rows, (secs, nb) in sweep.items():
        label = f"DataFrame, {rows:,}-row batches ({nb})"
        mark = "  <- headline" if rows == args.batch_rows else ""
        print(f"{label:<34} {secs:8.3f} {n / secs:12,.0f} {n / secs / b_rate:7.2f}x {len(bare_rows):>11}{mark}")
    label = f"SQL, {args.batch_rows:,}-row batches"
    print(f"{label:<34} {sql_s:8.3f} {n / sql_s:12,.0f} {n / sql_s / b_rate:7.2f}x {len(sql_rows):>11}")
    label = f"Trident topology, {args.batch_rows:,}-row batches ({tri_nb})"
    print(f"{label:<34} {tri_s:8.3f} {n / tri_s:12,.0f} {n / tri_s / b_rate:7.2f}x {len(tri_rows):>11}")
    if bytewax is not None:
        label = f"Bytewax {bytewax['version']} (one worker)"
        bs = bytewax["w2_s"]
        print(f"{label:<34} {bs:8.3f} {n / bs:12,.0f} {n / bs / b_rate:7.2f}x {len(bare_rows):>11}")
    else:
        print("Bytewax: not installed (pip install bytewax), no peer figures")
    w1_rates = {k: args.w1_words / v for k, v in w1_best.items()}
    print(f"\nW1 WordCount, {args.w1_words:,} words (benchmarks/wordcount.py's input), "
          f"{args.w1_lines_per_batch * 10:,}-word batches ({w1[0]['batches']}), best of {args.repeat}:")
    for key, label in (("bare", "bare Python loop"), ("trident", "Trident"), ("dataframe", "DataFrame"),
                       ("sql", "SQL")):
        print(f"{label:<34} {w1_best[key]:8.3f} {w1_rates[key]:12,.0f} {w1_rates[key] / w1_rates['bare']:7.2f}x")
    if bytewax is not None:
        rate = args.w1_words / bytewax["w1_s"]
        label = f"Bytewax {bytewax['version']} (one worker)"
        print(f"{label:<34} {bytewax['w1_s']:8.3f} {rate:12,.0f} {rate / w1_rates['bare']:7.2f}x")
    print("W1 by batch size (words per batch: Trident / DataFrame / SQL vs bare):")
    for lines_per_batch, runs in w1_sweep.items():
        ratios = " / ".join(f"{bare_w1_s / min(r[k] for r in runs):.2f}x" for k in ("trident", "dataframe", "sql"))
        mark = "  <- headline" if lines_per_batch == args.w1_lines_per_batch else ""
        print(f"  {lines_per_batch * 10:>9,} ({runs[0]['batches']} batches): {ratios}{mark}")
    print(f"\nreading one fleet pass ({per_pass:,} records): polars reader {polars_read_s:.3f} s, "
          f"read_fleet {read_fleet_s:.3f} s (read_fleet + event dicts {python_read_s:.3f} s)")

    child = subprocess.run([sys.executable, __file__, "--child-job", "--replay", str(args.replay)],
                           capture_output=True, text=True, check=True)
    job = json.loads(child.stdout.strip().splitlines()[-1])
    start = min(startup_s() for _ in range(args.repeat))
    start_tri = min(startup_s(EMPTY_TRIDENT_JOB) for _ in range(args.repeat))
    car = {}
    for mode in ("plain", "checkpointed"):
        runs = [json.loads(subprocess.run([sys.executable, __file__, "--smartcar-job", mode, "--replay",
                                           str(args.replay)], capture_output=True, text=True,
                                          check=True).stdout.strip().splitlines()[-1])
                for _ in range(args.repeat)]
        car[mode] = min(runs, key=lambda r: r["seconds"])
    car_rate = car["plain"]["read"] / car["plain"]["seconds"]
    car_cp_rate = car["checkpointed"]["read"] / car["checkpointed"]["seconds"]
    print(f"\nsmart-car replay, micro-batch mode (run_microbatch: read {car['plain']['read']:,} records, store "
          f"every one, rule, sets, log): {car_rate:,.0f} records/s ({car['plain']['seconds']:.3f} s), "
          f"with RocksDB checkpoints {car_cp_rate:,.0f} records/s; peak RSS {car['plain']['peak_rss_mb']:.1f} MB")
    df_rate = n / sweep[args.batch_rows][0]
    print(f"micro-batch W2 job (read + query, one pass): peak RSS {job['peak_rss_mb']:.1f} MB; "
          f"empty job start-up {start:.3f} s, empty Trident topology {start_tri:.3f} s (interpreter included)")

    def verdict(ok_: bool) -> str:
        return "met" if ok_ else "MISSED"
    w1_ratios = {k: w1_rates[k] / w1_rates["bare"] for k in ("trident", "dataframe", "sql")}
    w2_ratios = {"dataframe": df_rate / b_rate, "sql": n / sql_s / b_rate, "trident": n / tri_s / b_rate}
    print("targets: " + "; ".join([
        "W1 >= 3x bare: " + ", ".join(f"{k} {v:.2f}x {verdict(v >= 3)}" for k, v in w1_ratios.items()),
        "W2 >= 3x bare: " + ", ".join(f"{k} {v:.2f}x {verdict(v >= 3)}" for k, v in w2_ratios.items()),
        f"smart-car >= 100,000 records/s: {car_rate:,.0f} {verdict(car_rate >= 100_000)}",
        f"start-up < 0.5 s: {start:.3f} s {verdict(start < 0.5)}",
        f"peak RSS < 150 MB: W2 job {job['peak_rss_mb']:.1f} MB {verdict(job['peak_rss_mb'] < 150)}, smart-car job "
        f"{car['plain']['peak_rss_mb']:.1f} MB {verdict(car['plain']['peak_rss_mb'] < 150)}"]))
    summary = {"records": n, "detections": len(bare_rows),
               "bare_w1": round(w1_rates["bare"]), "w1_trident": round(w1_rates["trident"]),
               "w1_dataframe": round(w1_rates["dataframe"]), "w1_sql": round(w1_rates["sql"]),
               "bare_w2": round(b_rate), "w2_dataframe": round(df_rate), "w2_sql": round(n / sql_s),
               "w2_trident": round(n / tri_s), "smartcar_records_per_s": round(car_rate),
               "startup_s": round(start, 3), "peak_rss_mb": job["peak_rss_mb"],
               "w2_dataframe_batch_rows": args.batch_rows,
               "w2_dataframe_by_batch_rows": {str(r): round(n / s) for r, (s, _) in sweep.items()},
               "smartcar_records": car["plain"]["read"],
               "smartcar_checkpointed_records_per_s": round(car_cp_rate),
               "smartcar_peak_rss_mb": car["plain"]["peak_rss_mb"], "startup_trident_s": round(start_tri, 3),
               "obd_read_polars_s": round(polars_read_s, 3), "obd_read_python_s": round(read_fleet_s, 3),
               "bench_process_peak_rss_mb": round(_peak_rss_mb(), 1), "polars_threads": pl.thread_pool_size(),
               "trident_records_per_s": round(n / tri_s), "w1_words": args.w1_words,
               "bytewax_w1": round(args.w1_words / bytewax["w1_s"]) if bytewax else None,
               "bytewax_w2": round(n / bytewax["w2_s"]) if bytewax else None,
               "bytewax_version": bytewax["version"] if bytewax else None,
               "w1_words_per_batch": args.w1_lines_per_batch * 10,
               "w1_by_words_per_batch": {str(lpb * 10): {k: round(args.w1_words / min(r[k] for r in runs))
                                                         for k in ("trident", "dataframe", "sql")}
                                         for lpb, runs in w1_sweep.items()}}
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
