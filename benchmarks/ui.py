"""UI overhead: the smart-car replay's throughput with the UI served and polled vs without.

    python benchmarks/ui.py [--replay DIR] [--passes N] [--repeat N] [--poll-hz 10]

* Input: the trips of ``--replay`` (default ``examples/smartcar/data``) replayed
  ``--passes`` times back to back (default 40, about 4 s a run here; benchmarks/smartcar.py's
  spout) as fast as possible through the pipeline of ``squall smartcar run`` (parse ->
  table, dead letters; CEP -> speeding set), embedded stores in a new directory per
  run, at-least-once without checkpoints.
* "UI on": :func:`squall.ui.serve` (the UI in its own process, fed snapshots at most
  every 0.5 s) on a free loopback port with the smart-car dashboard registered, and a
  client process polling at ``--poll-hz`` (10 requests/s by default), in turn
  ``/api/v1/topology/smartcar``, ``/metrics``, ``/api/v1/topology/summary``, a load of
  the topology page (its HTML, script and style sheet) and the dashboard, as a page left
  open plus a Prometheus scraper would. "UI on, no dashboard":
  the same without the dashboard's path (the figures the UI itself serves; the
  dashboard's provider is the application's code, run in the topology's process). "UI
  off": the same run without server or poller.
* Throughput: records read / seconds from submit to the end of the input (the server is
  started before, as ``--ui`` starts it before the run). The three alternate,
  ``--repeat`` times each (default 3), in one process; each figure is the median. REST
  latency: every REST poll's answer time (ms) over all "on" runs, p50 and p99; page load:
  the page's files fetched one after the other (ms, p50).
* Costs in the topology's process, timed in one more run: a snapshot of the figures,
  and one call of the smart-car dashboard's provider (ms, medians).

The last line is JSON: ``records_per_s_ui_off``, ``records_per_s_ui_on``,
``overhead_pct`` (how much slower with the UI, in %), ``records_per_s_ui_on_no_dashboard``,
``overhead_pct_no_dashboard``, ``rest_p50_ms``, ``rest_p99_ms``, ``requests`` (polls
answered), ``page_load_p50_ms`` (the topology page's three files, one after the other), ``snapshot_ms``, ``dashboard_provider_ms``, and ``ui_process_cpu_pct`` /
``ui_process_cpu_pct_no_dashboard`` (the UI process's CPU use while polled, % of one
core, medians: on a machine without a spare core it competes with the topology).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from squall.config import MAX_SPOUT_PENDING, MESSAGE_TIMEOUT_SECS
from squall.runtime import LocalCluster
from squall.ui import serve
from squall.ui.snapshot import SnapshotPublisher
from squall.ui.views import as_source
from squall_smartcar.cli import _progress
from squall_smartcar.dashboard import SmartcarDashboard
from squall_smartcar.record import date_to_ms
from squall_smartcar.topology import DEFAULT_RULE, Stores, build_topology

from smartcar import RepeatReplaySpout    # benchmarks/smartcar.py (this script's directory is on sys.path)

START_MS = date_to_ms("20240101000000")     # the command's default --start
PAGE = "page"        # the topology page as a browser loads it: its HTML, script and style sheet
PAGE_PARTS = ("/topology.html?id=smartcar", "/static/squall.js", "/static/squall.css")
PATHS = ("/api/v1/topology/smartcar", "/metrics", "/api/v1/topology/summary", PAGE, "/api/v1/dashboard/smartcar")
MODES = {"off": (), "on": PATHS, "on, no dashboard": PATHS[:4]}


def _poll(url: str, paths: tuple[str, ...], hz: float, ready, stop, results) -> None:
    """The client, in a process of its own as a browser or a scraper is: its requests'
    work must not be charged to the topology's interpreter. Sets ``ready`` once it
    polls; puts its (path, ms) list on ``results`` once ``stop`` is set."""
    latencies_ms: list[tuple[str, float]] = []
    ready.set()
    with httpx.Client(base_url=url, timeout=10) as client:
        i = 0
        next_at = time.monotonic()
        while not stop.is_set():
            path = paths[i % len(paths)]
            t0 = time.perf_counter()
            codes = {client.get(part).status_code for part in (PAGE_PARTS if path == PAGE else (path,))}
            elapsed_ms = (time.perf_counter() - t0) * 1000.0
            if codes == {200}:      # 404 / dashboard error until the run is submitted
                latencies_ms.append((path, elapsed_ms))
            i += 1
            next_at += 1.0 / hz
            stop.wait(max(0.0, next_at - time.monotonic()))
    results.put(latencies_ms)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(replay: str, passes: int, paths: tuple[str, ...], hz: float, latencies_ms: list[tuple[str, float]],
            ui_cpu: list[float]) -> tuple[int, float]:
    """One replay, the UI polled on ``paths`` (none: no UI); returns (records read,
    seconds), and appends to ``ui_cpu`` the UI process's CPU use during it (% of one core)."""
    ui = bool(paths)
    with tempfile.TemporaryDirectory() as data_dir, LocalCluster() as cluster:
        stores = Stores.embedded(data_dir)
        source = RepeatReplaySpout(replay, START_MS, passes)
        topology = build_topology(source, stores, DEFAULT_RULE.read_text(encoding="utf-8"))
        conf = {MAX_SPOUT_PENDING: 5000, MESSAGE_TIMEOUT_SECS: 30}
        running: dict = {}
        server = stop = poller = None
        if ui:
            # Started before the run, as `--ui` does, so the server's start-up is not timed.
            boards: list = []

            def board():
                if not boards:
                    boards.append(SmartcarDashboard(running["handle"], stores, source, "20240101"))
                return boards[0]()

            server = serve(cluster, port=0, token="bench", dashboards={"smartcar": board})
            spawn = multiprocessing.get_context("spawn")
            ready, stop, results = spawn.Event(), spawn.Event(), spawn.Queue()
            poller = spawn.Process(target=_poll, args=(server.url, paths, hz, ready, stop, results), daemon=True)
            poller.start()
            ready.wait(60)      # its start-up (imports) is not timed either
        t0 = time.perf_counter()
        cpu0 = _cpu_s(server.pid) if ui else 0.0
        handle = running["handle"] = cluster.submit_topology("smartcar", conf, topology, until_complete=True)
        try:
            while not handle.wait(0.05):
                pass
            elapsed = time.perf_counter() - t0
            if ui:
                ui_cpu.append((_cpu_s(server.pid) - cpu0) / elapsed * 100.0)
            read = _progress(handle.stats(), source)["read"]
        finally:
            if ui:
                stop.set()
                latencies_ms.extend(results.get(timeout=60))
                poller.join()
                server.stop()
                for b in boards:
                    b.close()
    return read, elapsed


def costs(replay: str, passes: int) -> tuple[float, float]:
    """Median ms of a snapshot of the figures and of a dashboard provider call, taken
    in the topology's process while the replay runs."""
    with tempfile.TemporaryDirectory() as data_dir, LocalCluster() as cluster:
        stores = Stores.embedded(data_dir)
        source = RepeatReplaySpout(replay, START_MS, passes)
        topology = build_topology(source, stores, DEFAULT_RULE.read_text(encoding="utf-8"))
        handle = cluster.submit_topology("smartcar", {MAX_SPOUT_PENDING: 5000}, topology, until_complete=True)
        publisher = SnapshotPublisher(as_source(cluster), None)
        board = SmartcarDashboard(handle, stores, source, "20240101")
        snapshots, boards = [], []
        while not handle.wait(0.2):
            t0 = time.perf_counter()
            publisher.snapshot()
            t1 = time.perf_counter()
            board()
            t2 = time.perf_counter()
            snapshots.append((t1 - t0) * 1000.0)
            boards.append((t2 - t1) * 1000.0)
        board.close()
    return statistics.median(snapshots), statistics.median(boards)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replay", default=str(Path(__file__).resolve().parents[1] / "examples/smartcar/data"))
    ap.add_argument("--passes", type=int, default=40, help="Times the fleet is replayed in one run.")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--poll-hz", type=float, default=10.0)
    args = ap.parse_args()
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    polls: list[tuple[str, float]] = []
    ui_cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    reads = set()
    for k in range(args.repeat):
        for mode, paths in MODES.items():
            read, elapsed = one_run(args.replay, args.passes, paths, args.poll_hz, polls, ui_cpu[mode])
            reads.add(read)
            rates[mode].append(read / elapsed)
            print(f"run {k + 1} ui {mode}: {read:,} records in {elapsed:.2f} s "
                  f"({read / elapsed:,.0f} records/s)", flush=True)
    assert len(reads) == 1, f"runs read different record counts: {sorted(reads)}"
    off, on, bare = (statistics.median(rates[m]) for m in MODES)
    snapshot_ms, board_ms = costs(args.replay, args.passes)
    for path in PATHS:
        times = [ms for p, ms in polls if p == path]
        if times:
            print(f"  {path}: median {statistics.median(times):.1f} ms over {len(times)} requests")
    latencies_ms = [ms for p, ms in polls if p != PAGE]
    page_ms = [ms for p, ms in polls if p == PAGE]
    cuts = statistics.quantiles(latencies_ms, n=100, method="inclusive") if len(latencies_ms) > 1 else None
    result = {"records_per_s_ui_off": round(off, 1), "records_per_s_ui_on": round(on, 1),
              "overhead_pct": round((off - on) / off * 100.0, 2),
              "records_per_s_ui_on_no_dashboard": round(bare, 1),
              "overhead_pct_no_dashboard": round((off - bare) / off * 100.0, 2),
              "rest_p50_ms": round(cuts[49], 2) if cuts else None,
              "rest_p99_ms": round(cuts[98], 2) if cuts else None, "requests": len(latencies_ms),
              "page_load_p50_ms": round(statistics.median(page_ms), 2) if page_ms else None,
              "snapshot_ms": round(snapshot_ms, 2), "dashboard_provider_ms": round(board_ms, 2),
              "ui_process_cpu_pct": round(statistics.median(ui_cpu["on"]), 1),
              "ui_process_cpu_pct_no_dashboard": round(statistics.median(ui_cpu["on, no dashboard"]), 1)}
    print(f"UI off {off:,.0f} records/s, UI on (polled at {args.poll_hz:g}/s) {on:,.0f} records/s: "
          f"{result['overhead_pct']} % slower; without the dashboard's path {bare:,.0f} records/s: "
          f"{result['overhead_pct_no_dashboard']} % slower; REST p50 {result['rest_p50_ms']} ms, "
          f"p99 {result['rest_p99_ms']} ms over {len(latencies_ms)} requests; topology page load (HTML, "
          f"script, style) p50 {result['page_load_p50_ms']} ms over {len(page_ms)} loads")
    print(f"in the topology's process: a snapshot of the figures {snapshot_ms:.1f} ms, a call of the "
          f"smart-car dashboard's provider {board_ms:.1f} ms (medians); the UI's process used "
          f"{result['ui_process_cpu_pct']} % of a core ({result['ui_process_cpu_pct_no_dashboard']} % without the "
          f"dashboard's path)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
