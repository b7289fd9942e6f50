"""The speeding rule alone: EPLEngine vs a hand-written bare-Python loop vs Esper on the JVM.

Rule (the smart-car rule of issue 5)::

    select carNumber, avg(speed) from DriverCarInfo#time_batch(30 sec)
    group by carNumber having avg(speed) > 80

Input: every trip CSV of ``--replay`` (default: the sibling ``shared/data/carobd``)
read as the smart-car replay does (``read_fleet``: one car per file, one record per
second, all trips from 2024-01-01 00:00:00 UTC), each record as the ``DriverCarInfo``
event dict ``CepBolt`` builds (8 properties). That fleet pass (65,880 events over 2,682
s of event time) is repeated back to back, each pass shifted by the fleet's span so event time keeps
increasing, up to about ``--events`` (default 1.6 million: 24 passes, 1,581,120 events). Time is external: the clock
moves to each event's second before the event.

Implementations, all in one run, on the same events:

* ``EPLEngine.send_many``: the events of one second in one call, after
  ``advance_time`` to that second (the exact external-time semantics; about 25 events
  per call on this fleet);
* ``EPLEngine.send``: one call per event, ``advance_time`` when the second changes;
* bare Python: a hand-written loop over the same per-second groups (dict of car ->
  [count, sum], a batch boundary check per second, rows when a 30 s batch ends);
* Esper 8.9 (esper-common/compiler/runtime from Maven Central, fetched and cached by
  ``tests/services/maven.py``), ``EsperSpeedingBench.java`` compiled with javac into the
  same jar cache: ``sendEventMap`` per event, ``advanceTime`` when the second changes,
  in a fresh runtime per pass; the run is repeated (``--jvm-passes``, default 3) in one
  JVM and the last pass is reported (JIT warm); the first (cold) pass is printed too.

Two more statements run on the same events, each through ``EPLEngine.send_many``, a
bare-Python loop and Esper (the same harness, given the rule file and the column to sum):

* ``keyed_context``: the speeding rule per car in a keyed segmented context
  (``examples/smartcar/speeding_per_car.epl``: ``create context PerCar partition by
  carNumber ...; context PerCar select ... #time_batch(30 sec) having avg(speed) > 80``),
  each car's batches from its own first event; the bare loop keeps per car the batch
  end, count and sum and closes a batch when that car's next event is past its end
  (or at the end of input);
* ``match_recognize``: per car, a stretch above 80 km/h between two records at or
  below it (``pattern (A B+ C)``, ``count(B.speed)``); the bare loop is a three-state
  machine per car.

Detections must agree (same number of rows and the same sum of the averages or counts;
for the engine also the same (time, car) of every row), else the script exits non-zero. Timings exclude reading the logs and building the event dicts.

    python benchmarks/epl.py [--replay DIR] [--events N] [--no-esper] [--profile]

Prints a table per statement (events/s and ratios to bare Python and to Esper) and one
JSON line: the speeding rule's figures at the top level (as before), the two others
under ``keyed_context`` and ``match_recognize``.
``--profile`` also prints the top of a cProfile of one ``send_many`` pass.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:            # tests.services.maven, run from anywhere
    sys.path.insert(0, str(ROOT))

from squall.cep import EPLEngine, ExternalClock  # noqa: E402
from squall_smartcar.obd import read_fleet  # noqa: E402
from squall_smartcar.record import EVENT_PROPERTIES, FIELDS, date_to_ms, parse_line  # noqa: E402
from tests.services.maven import jar_cache, resolve_jars  # noqa: E402

from _report import DEFAULT_REPLAY  # noqa: E402  (benchmarks/ is on sys.path)

START_MS = date_to_ms("20240101000000")
RULE = ("select carNumber, avg(speed) from DriverCarInfo#time_batch(30 sec) "
        "group by carNumber having avg(speed) > 80")
BATCH_MS = 30_000
THRESHOLD = 80.0
ESPER_VERSION = "8.9.0"      # as the differential tests (tests/cep/esper/conftest.py)
ESPER = [f"com.espertech:{a}:{ESPER_VERSION}" for a in ("esper-common", "esper-compiler", "esper-runtime")]
JAVA_SOURCE = Path(__file__).with_name("EsperSpeedingBench.java")
CONTEXT_RULE = ("create context PerCar partition by carNumber from DriverCarInfo;\n"
                "context PerCar select carNumber, avg(speed) as avgSpeed "
                "from DriverCarInfo#time_batch(30 sec) having avg(speed) > 80")
MATCH_RULE = ("select * from DriverCarInfo match_recognize (\n"
              "  partition by carNumber\n"
              "  measures A.carNumber as carNumber, count(B.speed) as n\n"
              "  pattern (A B+ C)\n"
              "  define A as A.speed <= 80, B as B.speed > 80, C as C.speed <= 80\n)")


# ------------------------------------------------------------------ input

def load_fleet(replay: Path):
    """One fleet pass: [(second, [event dict, ...]), ...] in time order, and its span in s."""
    names = [EVENT_PROPERTIES[f] for f in FIELDS]
    groups: list = []
    last = None
    for r in read_fleet(replay, START_MS):
        if r.error is not None:
            continue
        event = dict(zip(names, parse_line(r.line)))
        if r.second != last:
            groups.append((r.second, []))
            last = r.second
        groups[-1][1].append(event)
    return groups, groups[-1][0] + 1


def timeline(groups, span_s: int, repeat: int):
    """[(ts_ms, events), ...] for ``repeat`` passes (the event dicts are shared)."""
    return [(START_MS + (p * span_s + sec) * 1000, evs) for p in range(repeat) for sec, evs in groups]


# ------------------------------------------------------------------ implementations

def run_send_many(tl, rule: str = RULE, column: str = "avg(speed)"):
    """``rule``'s last statement's rows as (time, car, ``column``)."""
    engine = EPLEngine(ExternalClock(0))
    st = engine.compile(rule)[-1]
    rows = []
    st.add_listener(lambda new, old: rows.extend((engine.current_time_ms, r["carNumber"], r[column])
                                                 for r in new))
    advance, send_many = engine.advance_time, engine.send_many
    t0 = time.perf_counter()
    for ts, evs in tl:
        advance(ts)
        send_many("DriverCarInfo", evs)
    engine.advance_time(engine.current_time_ms + 10 * 86_400_000)
    return time.perf_counter() - t0, rows


def run_send(tl):
    engine = EPLEngine(ExternalClock(0))
    [st] = engine.compile(RULE)
    rows = []
    st.add_listener(lambda new, old: rows.extend((engine.current_time_ms, r["carNumber"], r["avg(speed)"])
                                                 for r in new))
    advance, send = engine.advance_time, engine.send
    t0 = time.perf_counter()
    for ts, evs in tl:
        advance(ts)
        for ev in evs:
            send("DriverCarInfo", ev)
    engine.advance_time(engine.current_time_ms + 10 * 86_400_000)
    return time.perf_counter() - t0, rows


def run_bare(tl):
    """The rule by hand: 30 s batches from the first event's time, per car count and sum,
    a row (batch end, car, avg) when the batch ends and the average is above 80."""
    rows = []
    t0 = time.perf_counter()
    ref = tl[0][0]
    end = ref + BATCH_MS
    cur: dict = {}
    for ts, evs in tl:
        if ts >= end:
            for car, (n, s) in cur.items():
                if s / n > THRESHOLD:
                    rows.append((end, car, s / n))
            cur = {}
            end = ref + ((ts - ref) // BATCH_MS + 1) * BATCH_MS
        get = cur.get
        for ev in evs:
            car = ev["carNumber"]
            acc = get(car)
            if acc is None:
                cur[car] = [1, ev["speed"]]
            else:
                acc[0] += 1
                acc[1] += ev["speed"]
    for car, (n, s) in cur.items():
        if s / n > THRESHOLD:
            rows.append((end, car, s / n))
    return time.perf_counter() - t0, rows


def run_bare_context(tl):
    """The speeding rule per car (a keyed context): per car the end of its open batch
    (on the grid of its first event's time), count and sum; a car's batch closes when
    its next event is at or past the end, and at the end of input."""
    rows = []
    t0 = time.perf_counter()
    cars: dict = {}
    for ts, evs in tl:
        get = cars.get
        for ev in evs:
            car = ev["carNumber"]
            acc = get(car)
            if acc is None:
                cars[car] = [ts + BATCH_MS, 1, ev["speed"]]
            elif ts < acc[0]:
                acc[1] += 1
                acc[2] += ev["speed"]
            else:
                end, n, s = acc
                if s / n > THRESHOLD:
                    rows.append((end, car, s / n))
                acc[0] = end + ((ts - end) // BATCH_MS + 1) * BATCH_MS
                acc[1] = 1
                acc[2] = ev["speed"]
    for car, (end, n, s) in cars.items():
        if s / n > THRESHOLD:
            rows.append((end, car, s / n))
    return time.perf_counter() - t0, rows


def run_bare_match(tl):
    """``A B+ C`` per car (A, C at or below 80 km/h, B above; skip past the match): state
    0 = no A yet (also right after a match: C cannot start the next one), 1 = an A, 2 =
    in the B run; a row (time, car, B count) at C."""
    rows = []
    t0 = time.perf_counter()
    cars: dict = {}
    for ts, evs in tl:
        get = cars.get
        for ev in evs:
            car = ev["carNumber"]
            st = get(car)
            if st is None:
                st = cars[car] = [0, 0]
            if ev["speed"] > THRESHOLD:
                if st[0] == 2:
                    st[1] += 1
                elif st[0] == 1:
                    st[0], st[1] = 2, 1
            elif st[0] == 2:
                rows.append((ts, car, st[1]))
                st[0] = 0
            else:
                st[0] = 1
    return time.perf_counter() - t0, rows


EXTRA = (
    # (JSON key, title, rule, column summed, bare-Python implementation)
    ("keyed_context", "speeding per car in a keyed context", CONTEXT_RULE, "avgSpeed", run_bare_context),
    ("match_recognize", "match_recognize (A B+ C) per car", MATCH_RULE, "n", run_bare_match),
)


def build_esper() -> tuple[str, str]:
    """(java, classpath) with EsperSpeedingBench compiled into the jar cache."""
    java, javac = shutil.which("java"), shutil.which("javac")
    if not (java and javac and shutil.which("mvn")):
        raise RuntimeError("java, javac and mvn are needed on PATH")
    cp = os.pathsep.join(str(p) for p in resolve_jars(ESPER))
    digest = hashlib.sha1(JAVA_SOURCE.read_bytes() + ESPER_VERSION.encode()).hexdigest()[:16]
    classes = jar_cache() / f"esper-bench-{digest}"
    if not (classes / ".complete").exists():
        classes.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([javac, "-nowarn", "-d", str(classes), "-cp", cp, str(JAVA_SOURCE)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"javac failed:\n{proc.stdout}{proc.stderr}")
        (classes / ".complete").touch()
    return java, os.pathsep.join([str(classes), cp])


def run_esper(groups, span_s: int, repeat: int, passes: int, rule: str | None = None,
              column: str | None = None) -> list[dict]:
    """The harness's JSON line per pass; ``rule`` (default: the harness's speeding rule)
    with its last statement's ``column`` summed."""
    java, cp = build_esper()
    with tempfile.TemporaryDirectory() as tmp:
        extra = []
        if rule is not None:
            (Path(tmp) / "rule.epl").write_text(rule, encoding="utf-8")
            extra = [str(Path(tmp) / "rule.epl"), column]
        csv = Path(tmp) / "events.csv"
        with open(csv, "w", encoding="utf-8") as fh:
            for sec, evs in groups:
                for ev in evs:
                    fh.write(f"{sec},{ev['carNumber']},{ev['speed']!r},{ev['speedPedal']!r}\n")
        proc = subprocess.run([java, "-Xms1g", "-Xmx1g", "-cp", cp, "EsperSpeedingBench", str(csv), str(repeat),
                               str(span_s), str(START_MS), str(passes), *extra], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"EsperSpeedingBench failed:\n{proc.stdout}{proc.stderr[-4000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


# ------------------------------------------------------------------ report

def _checksum(rows) -> float:
    return round(sum(a for _, _, a in rows), 6)


def measure(impls, tl, esper, tag: str) -> tuple[dict, bool]:
    """Time each ``(label, fn)`` of ``impls`` on ``tl`` (the first is the bare-Python
    reference), add Esper's figures from ``esper()`` (its last pass; skipped with a
    message when it cannot run), and check every result against the reference: the same
    number of rows and checksum, and for the engine runs (labels starting with
    ``EPLEngine``) the same (time, car) rows. ``tag`` goes into the mismatch messages.
    Returns ({label: figures}, whether everything agreed)."""
    results = {}
    for label, fn in impls:
        secs, rows = fn(tl)
        results[label] = {"seconds": secs, "rows": len(rows), "checksum": _checksum(rows), "detail": rows}
    if esper is not None:
        try:
            last = esper()[-1]
            results["Esper 8.9 (JVM)"] = {"seconds": last["seconds"], "rows": last["rows"],
                                          "checksum": round(last["checksum"], 6)}
        except RuntimeError as exc:
            print(f"Esper skipped: {exc}", file=sys.stderr)
    bare = results[impls[0][0]]
    ok = True
    for label, r in results.items():
        if r["rows"] != bare["rows"] or abs(r["checksum"] - bare["checksum"]) > 1e-6 * max(1.0, bare["checksum"]):
            print(f"MISMATCH{tag}: {label} gave {r['rows']} rows (checksum {r['checksum']}), bare Python "
                  f"{bare['rows']} ({bare['checksum']})", file=sys.stderr)
            ok = False
    exact = sorted((t, c) for t, c, _ in bare["detail"])
    for label in results:
        if label.startswith("EPLEngine") and sorted((t, c) for t, c, _ in results[label]["detail"]) != exact:
            print(f"MISMATCH{tag}: {label} rows differ from bare Python's", file=sys.stderr)
            ok = False
    return results, ok


def print_table(results: dict, n: int, figures: dict) -> tuple[float, float | None, float]:
    """Print one row per implementation (after the header) and put its events/s into
    ``figures``; returns (bare Python's, Esper's or None, send_many's) events/s."""
    b_rate = n / results["bare Python"]["seconds"]
    e_rate = n / results["Esper 8.9 (JVM)"]["seconds"] if "Esper 8.9 (JVM)" in results else None
    print(f"{'implementation':<22} {'seconds':>8} {'events/s':>12} {'vs bare Python':>15} {'vs Esper':>9}"
          f" {'rows':>7}")
    for label, r in results.items():
        rate = n / r["seconds"]
        vs_e = f"{rate / e_rate:8.2f}x" if e_rate else "     n/a"
        print(f"{label:<22} {r['seconds']:8.3f} {rate:12,.0f} {rate / b_rate:14.2f}x {vs_e} {r['rows']:>7,}")
        figures[label] = round(rate)
    return b_rate, e_rate, n / results["EPLEngine.send_many"]["seconds"]


def run_extra(title: str, rule: str, column: str, bare_fn, tl, groups, span_s: int, repeat: int,
              args) -> tuple[dict, bool]:
    """One more statement through bare Python, ``send_many`` and Esper: prints its table
    and target line; returns (its JSON figures, whether the rows agree)."""
    n = sum(len(evs) for _, evs in tl)
    esper = None if args.no_esper else (
        lambda: run_esper(groups, span_s, repeat, args.jvm_passes, rule, column))
    results, ok = measure((("bare Python", bare_fn),
                           ("EPLEngine.send_many", lambda t: run_send_many(t, rule, column))),
                          tl, esper, f" ({title})")
    print(f"\n{title}: {n:,} events")
    figures = {"rows": results["bare Python"]["rows"]}
    b_rate, e_rate, eng = print_table(results, n, figures)
    within, ahead = b_rate / eng <= 3, e_rate is None or eng > e_rate
    print(f"target: within 3x of bare Python and ahead of Esper -> send_many {b_rate / eng:.2f}x slower than "
          f"bare Python, {'n/a' if e_rate is None else f'{eng / e_rate:.2f}x Esper'}: "
          f"{'met' if within and ahead and e_rate else 'MISSED' if not (within and ahead) else 'n/a (no Esper)'}")
    return figures, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replay", type=Path, default=DEFAULT_REPLAY)
    ap.add_argument("--events", type=int, default=1_600_000, help="about this many events in total")
    ap.add_argument("--jvm-passes", type=int, default=3)
    ap.add_argument("--no-esper", action="store_true")
    ap.add_argument("--profile", action="store_true", help="cProfile one send_many pass of the fleet")
    args = ap.parse_args()

    groups, span_s = load_fleet(args.replay)
    per_pass = sum(len(evs) for _, evs in groups)
    repeat = max(1, round(args.events / per_pass))
    tl = timeline(groups, span_s, repeat)
    n = per_pass * repeat
    print(f"speeding rule: {n:,} events ({repeat} x {per_pass:,}-event fleet pass spanning {span_s} s, "
          f"{per_pass / len(groups):.1f} events per second that has events), external time")

    passes: list = []

    def esper():
        passes.extend(run_esper(groups, span_s, repeat, args.jvm_passes))
        return passes

    results, ok = measure((("bare Python", run_bare), ("EPLEngine.send_many", run_send_many),
                           ("EPLEngine.send", run_send)), tl, None if args.no_esper else esper, "")
    print()
    summary = {"events": n, "rows": results["bare Python"]["rows"]}
    b_rate, _, eng = print_table(results, n, summary)
    if "Esper 8.9 (JVM)" in results:
        cold = passes[0]
        print(f"(Esper: pass {len(passes)} of {len(passes)} in one JVM; the first, cold pass ran "
              f"{cold['events'] / cold['seconds']:,.0f} events/s)")
    print(f"\ntarget: >= 500,000 events/s and within 3x of bare Python -> send_many {eng:,.0f} events/s, "
          f"{b_rate / eng:.2f}x slower than bare Python: {'met' if eng >= 500_000 and b_rate / eng <= 3 else 'MISSED'}")
    for key, title, rule, column, bare_fn in EXTRA:
        figures, fine = run_extra(title, rule, column, bare_fn, tl, groups, span_s, repeat, args)
        summary[key] = figures
        ok = ok and fine
    print(json.dumps(summary))

    if args.profile:
        prof = cProfile.Profile()
        one = timeline(groups, span_s, 1)
        prof.enable()
        run_send_many(one)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
