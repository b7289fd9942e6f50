"""``squall smartcar``: run the pipeline, list flagged cars."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from squall.cli import CliError, data_dir_option
from squall.cli.cluster import ui_options
from squall.connectors.urls import mask_url
from squall.errors import SquallError
from squall.config import (AT_LEAST_ONCE, CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE,
                           MAX_SPOUT_PENDING, MESSAGE_TIMEOUT_SECS, ConfigError)
from squall.runtime import LocalCluster
from squall.store.errors import StoreError

from .feed import SIMULATED_S, Feed, feed_options, given_options
from .record import ms_to_date
from .sources import ReplaySpout, SimulatorSpout
from .topology import DEAD_LETTER_TABLE, DEFAULT_RULE, TABLE, Stores, build_topology

__all__ = ["smartcar"]

log = logging.getLogger("squall.smartcar")

STOP_DRAIN_S = 10.0
"""Seconds a stopped run waits for records in flight before its final checkpoint."""


@click.group()
def smartcar() -> None:
    """The smart-car reference pipeline: run it, list flagged cars."""


def _rows(store, table: str) -> int | None:
    """Rows in ``table`` (0 if absent), or None when the store cannot be reached now."""
    try:
        # Opened and closed here: the run's table writer, maybe another process, opens it next.
        with store.open() as tables:
            return tables.open_table(table).count() if table in tables.tables() else 0
    except (StoreError, OSError) as exc:
        log.warning("cannot count %s now: %s", table, exc)
        return None


@smartcar.command()
@feed_options
@click.option("--pace", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Replay X times faster than event time (1 = real time) [default: as fast as possible].")
@click.option("--rule", "rule_file", type=click.Path(dir_okay=False, exists=True), default=str(DEFAULT_RULE),
              show_default="examples/smartcar/speeding.epl", help="EPL rule file.")
@click.option("--rules-dir", type=click.Path(file_okay=False), default=None,
              help="Watch this directory for rule changes while running (`squall rules apply FILE "
                   "--rules-dir DIR`); a rule file already there replaces --rule.")
@click.option("--speeding-ttl", "ttl_s", type=click.IntRange(1), default=604800, show_default=True,
              help="Seconds a day's speeding set lives after its last detection.")
@click.option("--speeding-log", type=click.Path(dir_okay=False), default=None,
              help="Append one JSON line per (car, batch) detection to this file.")
@click.option("--max-pending", type=click.IntRange(1), default=5000, show_default=True,
              help="topology.max.spout.pending: records in flight at most.")
@click.option("--kafka", "bootstrap", default=None, help="Read the feed from Kafka at HOST:PORT.")
@click.option("--topic", default="smartcar", show_default=True, help="With --kafka: the feed topic.")
@click.option("--group", default="squall-smartcar", show_default=True,
              help="With --kafka: the consumer group (a restart resumes from its committed offsets).")
@click.option("--follow", is_flag=True, help="With --kafka: keep running at the end of the topic.")
@click.option("--startup-timeout", "startup_timeout_s", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True,
              help="With --kafka (without --follow): seconds to wait for the brokers and the topic before "
                   "failing.")
@click.option("--redis", "redis_url", default=None,
              help="Speeding sets in Redis at this URL (redis://host:port/db) instead of embedded.")
@click.option("--hbase", default=None,
              help="Rows in HBase through its Thrift server at HOST:PORT instead of embedded.")
@click.option("--guarantee", type=click.Choice([AT_LEAST_ONCE, EXACTLY_ONCE]), default=AT_LEAST_ONCE,
              show_default=True,
              help="exactly-once: the speeding log is written on checkpoint completion and a failed "
                   "record rolls the pipeline back to the last checkpoint; at-least-once: written at "
                   "once, failed records replayed.")
@click.option("--checkpoint-interval", "checkpoint_ms", type=click.IntRange(0), default=1000, show_default=True,
              help="Milliseconds between checkpoints (0: only at the end of the input).")
@click.option("--state-backend", type=click.Choice(["rocksdb", "redis", "memory", "none"]), default="rocksdb",
              show_default=True,
              help="Where checkpoints live: RocksDB in --data-dir, Redis at --redis, memory (no "
                   "resume after the process ends), or none (no checkpoints: at-least-once only).")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="Worker processes (topology.workers). Above 1 the pipeline runs on Ray (the 'ray' "
                   "extra), started in this process unless --address names a cluster; the outputs "
                   "equal a 1-worker run's.")
@click.option("--address", default=None,
              help="Run on the Ray cluster at this address (started with 'ray start --head').")
@click.option("--mode", type=click.Choice(["per-tuple", "micro-batch"]), default="per-tuple", show_default=True,
              help="micro-batch: the replay in columnar batches on Trident (the 'microbatch' extra; --replay "
                   "only, rules of the shipped form), with the same stores and log as per-tuple.")
@ui_options("the web UI, REST API and /metrics for the run there, with the smart-car dashboard")
@data_dir_option
def run(replay_dir, cars, seed, duration_s, start, pace, rule_file, rules_dir, ttl_s, speeding_log, max_pending,
        bootstrap, topic, group, follow, startup_timeout_s, redis_url, hbase, guarantee, checkpoint_ms, state_backend,
        workers, address, mode, ui_address, ui_token, data_dir):
    """Run the pipeline until the input ends; print a summary.

    Every record is stored in table DriverCarInfo (family cf1, row key = reversed
    date + "-" + car number) or, if malformed, in DeadLetters with the reason; the
    rule's detections go to a speeding set per day (SADD yyyyMMdd car) and, with
    --speeding-log, to a JSON-lines file. Embedded stores in --data-dir by default;
    --kafka, --hbase and --redis put the real services in their places.

    The source position and the rule's open windows are checkpointed every
    --checkpoint-interval: after a crash (even kill -9) the same command resumes from
    the last checkpoint and exits 0 at the end of the input. Checkpoints are kept per
    input (replay directory, simulator settings or Kafka topic and group) in the state
    backend.
    """
    rule = Path(rule_file).read_text(encoding="utf-8")
    if mode == "micro-batch":
        if ui_address is not None:
            raise CliError("--ui: applies to --mode per-tuple only")
        _run_microbatch(replay_dir, cars, seed, duration_s, start, rule, rule_file, ttl_s, speeding_log, redis_url,
                        hbase, checkpoint_ms, state_backend, data_dir)
        return
    startup_errors: tuple[type[Exception], ...] = ()
    if bootstrap is None and (kafka_only := given_options("topic", "group", "follow", "startup_timeout_s")):
        raise CliError(f"{', '.join(kafka_only)}: apply only with --kafka HOST:PORT")
    if bootstrap is not None:
        if replay_dir is not None:
            raise CliError("--kafka and --replay name two sources: give one")
        if feed_only := given_options("cars", "seed", "duration_s", "start", "pace"):
            raise CliError(f"{', '.join(feed_only)}: apply to a replay or the simulator, not to --kafka "
                           f"(the records come from the topic as they are)")
        from squall.connectors.kafka import KafkaStartupError

        from .kafka_feed import kafka_source
        source = kafka_source(bootstrap, topic, group, follow, startup_timeout_s)
        startup_errors = (KafkaStartupError,)
        what = f"Kafka {mask_url(bootstrap)}/{topic} (group {group})"
        job = ("kafka", bootstrap, topic, group)
        day = time.strftime("%Y%m%d", time.gmtime())
    else:
        feed = Feed.from_options(replay_dir, cars, seed, duration_s, start)
        if replay_dir is not None:
            source = ReplaySpout(replay_dir, feed.start_ms, pace, duration_s)
        else:
            source = SimulatorSpout(cars, duration_s or SIMULATED_S, feed.start_ms, seed, pace)
        what = feed.description
        day = ms_to_date(feed.start_ms)[:8]
        job = ("replay", str(Path(replay_dir).resolve()), feed.start_ms, duration_s) if replay_dir is not None \
            else ("simulator", cars, seed, duration_s or SIMULATED_S, feed.start_ms)
    from .deploy import stores_for
    stores = stores_for(data_dir, redis_url, hbase) if (redis_url or hbase) else Stores.embedded(data_dir)
    try:
        topology = build_topology(source, stores, rule, ttl_s, speeding_log, rules_dir=rules_dir)
    except Exception as exc:  # a rule that does not compile: say where, no traceback
        raise CliError(f"{rule_file}: {exc}")
    rows_before = _rows(stores.table, TABLE)
    dead_before = _rows(stores.table, DEAD_LETTER_TABLE)
    conf = {MAX_SPOUT_PENDING: max_pending, MESSAGE_TIMEOUT_SECS: 30, CHECKPOINT_MODE: guarantee,
            CHECKPOINT_INTERVAL_MS: checkpoint_ms}
    on_cluster = workers > 1 or address is not None
    backend = _state_backend(state_backend, data_dir, redis_url, job) if not on_cluster else \
        (None if state_backend == "none" else
         functools.partial(_partition_state_backend, state_backend, str(data_dir), redis_url, job))
    if backend is None and guarantee == EXACTLY_ONCE:
        raise CliError("--guarantee exactly-once needs checkpoints: choose a --state-backend other than none")
    where = ", ".join(x for x in (hbase and f"HBase {mask_url(hbase)}",
                                  redis_url and f"Redis {mask_url(redis_url)}") if x)
    click.echo(f"squall smartcar: {what}; data in {where or data_dir}", err=True)
    ui = _UIRun(*ui_address, ui_token, stores, source, day, speeding_log) if ui_address is not None else None
    t0 = time.monotonic()
    try:
        if on_cluster:
            stats, checkpoints, completed, stop_report, stopped_by = _run_on_cluster(
                topology, conf, workers, address, backend, source, t0, ui)
        else:
            with LocalCluster() as cluster:
                try:
                    handle = cluster.submit_topology("smartcar", conf, topology, until_complete=True,
                                                     state_backend=backend)
                except ConfigError as exc:
                    raise CliError(f"--guarantee {guarantee}: {exc}")
                with _stop_on_signals(handle) as stopped_by, _serving_ui(cluster, handle, ui):
                    stats = _watch(handle, source, t0)
                checkpoints = handle.worker.checkpoint_stats
                completed = handle.worker.completed
                stop_report = handle.stop_report
    except startup_errors as exc:  # the source never answered: one line, no traceback
        raise CliError(str(exc)) from None
    except SquallError as exc:     # what ended the run (a state value that cannot be stored, ...)
        log.debug("the run ended with an error", exc_info=True)
        raise CliError(f"the run stopped: {exc}") from exc
    elapsed = time.monotonic() - t0
    p = _progress(stats, source)
    rows_after = _rows(stores.table, TABLE)
    dead_after = _rows(stores.table, DEAD_LETTER_TABLE)
    new_rows = None if None in (rows_after, rows_before) else rows_after - rows_before
    new_dead = None if None in (dead_after, dead_before) else dead_after - dead_before
    failed = stats["source"].failed
    click.echo(f"read {p['read']:,} records in {elapsed:.2f} s ({p['read'] / max(elapsed, 1e-9):,.0f} records/s)")
    click.echo(f"stored {p['stored']:,} rows in {TABLE} ({_n(new_rows)} new; the table holds {_n(rows_after)})")
    click.echo(f"dead letters {p['errors']:,} in {DEAD_LETTER_TABLE} ({_n(new_dead)} new)")
    click.echo(f"speeding rows from the rule {p['speeding']:,}")
    click.echo(f"failed trees {failed:,}; complete latency {_ms(stats['source'].complete_latency_ms)} mean")
    if checkpoints is not None:
        resumed = "" if checkpoints.recovered_txid is None else (
            f"; resumed from checkpoint {checkpoints.recovered_txid} at record "
            f"{_n(stats['source'].metrics.get('resumed_at'))} "
            f"(state restored in {checkpoints.recovery_s * 1000:.0f} ms, "
            f"{_since_process_start(checkpoints.restored_at)} after the process started)")
        mean = checkpoints.total_s / checkpoints.completed * 1000 if checkpoints.completed else 0.0
        click.echo(f"{guarantee}: {checkpoints.completed:,} checkpoints (mean {mean:.1f} ms, max "
                   f"{checkpoints.max_s * 1000:.1f} ms), {checkpoints.rollbacks:,} rollbacks{resumed}")
    if stop_report is not None and stopped_by:
        _report_stop(stop_report, stopped_by[0], p, backend is not None)
    if not completed:
        click.echo("INCOMPLETE: the last checkpoint could not be taken; run the command again to "
                   "resume from the one before", err=True)
        sys.exit(1)
    source_error = stats["source"].metrics.get("source_error")
    if source_error:
        click.echo(f"INCOMPLETE: the source stopped after {p['read']:,} records: {source_error}", err=True)
        sys.exit(1)
    # A rollback drops trees in flight and emits their records again from the checkpoint,
    # so read and acked then differ by design; exactly-once is checked by the state.
    lost = p["read"] - p["acked"] if checkpoints is None or not checkpoints.rollbacks else 0
    if lost:
        click.echo(f"LOSS: {lost:,} records read were neither stored nor dead-lettered", err=True)
        sys.exit(1)
    if p["stored"] + p["errors"] == p["read"]:
        click.echo(f"no loss: stored + dead letters = records read ({p['read']:,})")
    else:
        click.echo(f"no loss: every record read was acked; {p['stored'] + p['errors'] - p['read']:,} "
                   f"writes were replays of failed trees (keyed writes, so no duplicate rows)")


def _state_backend(kind: str, data_dir, redis_url: str | None, job: tuple):
    """The state backend of this input's checkpoints (a namespace per input)."""
    job_id = hashlib.sha1(repr(job).encode()).hexdigest()[:12]
    if kind == "none":
        return None
    if kind == "memory":
        from squall.state import MemoryStateBackend
        return MemoryStateBackend()
    if kind == "redis":
        if not redis_url:
            raise CliError("--state-backend redis needs --redis URL")
        from squall.state import RedisStateBackend
        return RedisStateBackend(redis_url, key_prefix=f"squall:state:{job_id}")
    from squall.state import RocksDBStateBackend
    return RocksDBStateBackend(Path(data_dir) / "state" / job_id)


def _run_microbatch(replay_dir, cars, seed, duration_s, start, rule, rule_file, ttl_s, speeding_log, redis_url,
                    hbase, checkpoint_ms, state_backend, data_dir) -> None:
    """``--mode micro-batch``: the replay on Trident (see squall_smartcar.microbatch); exits."""
    if replay_dir is None:
        raise CliError("--mode micro-batch replays a directory: give --replay DIR")
    if per_tuple_only := given_options("pace", "rules_dir", "workers", "address", "max_pending", "bootstrap",
                                       "cars", "seed"):
        raise CliError(f"{', '.join(per_tuple_only)}: apply to --mode per-tuple only")
    from squall.microbatch.errors import PlanError

    from .deploy import stores_for
    from .microbatch import run_microbatch
    feed = Feed.from_options(replay_dir, cars, seed, duration_s, start)
    stores = stores_for(data_dir, redis_url, hbase) if (redis_url or hbase) else Stores.embedded(data_dir)
    # Its own checkpoint namespace: the checkpointed components differ from per-tuple's.
    job = ("replay-microbatch", str(Path(replay_dir).resolve()), feed.start_ms, duration_s)
    backend = _state_backend(state_backend, data_dir, redis_url, job)
    rows_before, dead_before = _rows(stores.table, TABLE), _rows(stores.table, DEAD_LETTER_TABLE)
    try:
        result = run_microbatch(replay_dir, data_dir, speeding_log, rule, start_ms=feed.start_ms,
                                duration_s=duration_s, ttl_s=ttl_s, state_backend=backend, stores=stores,
                                checkpoint_ms=checkpoint_ms)
    except PlanError as exc:
        raise CliError(f"{rule_file}: {exc}")
    rows_after, dead_after = _rows(stores.table, TABLE), _rows(stores.table, DEAD_LETTER_TABLE)
    new_rows = None if None in (rows_after, rows_before) else rows_after - rows_before
    new_dead = None if None in (dead_after, dead_before) else dead_after - dead_before
    for line in result.summary_lines(new_rows, rows_after, new_dead):
        click.echo(line, err=line.startswith(("LOSS", "INCOMPLETE")))
    sys.exit(0 if result.completed and result.no_loss else 1)


def _partition_state_backend(kind: str, data_dir: str, redis_url: str | None, job: tuple, partition: str):
    """One partition of this input's checkpoints on the cluster (a task's state, or a
    worker's record): its own namespace, so a task's state follows the task."""
    return _state_backend(kind, Path(data_dir), redis_url, (*job, partition))


def _run_on_cluster(topology, conf, workers: int, address: str | None, backend, source, t0: float, ui=None):
    """Run the pipeline on Ray workers; returns (stats, checkpoints, completed, stop_report, signals)."""
    from squall.cluster import RayCluster
    from squall.runtime.checkpoint import CheckpointStats

    with RayCluster(address) as cluster:
        handle = cluster.submit_topology("smartcar", conf, topology, workers=workers, until_complete=True,
                                         state_backend=backend)
        with _stop_on_signals(handle) as stopped_by, _serving_ui(cluster, handle, ui):
            stats = _watch(handle, source, t0)
        summary = handle.summary()
        parts = [c for c in handle.checkpoint_stats() if c is not None]
    checkpoints = None
    if parts:
        recovered = [c.recovered_txid for c in parts if c.recovered_txid is not None]
        checkpoints = CheckpointStats(
            recovered_txid=max(recovered) if recovered else None,
            recovery_s=max(c.recovery_s for c in parts),
            restored_at=min((c.restored_at for c in parts if c.restored_at is not None), default=None),
            completed=sum(c.completed for c in parts), failed=sum(c.failed for c in parts),
            declined=sum(c.declined for c in parts), rollbacks=sum(c.rollbacks for c in parts),
            total_s=sum(c.total_s for c in parts), max_s=max(c.max_s for c in parts))
    if summary["restarts"]:
        click.echo(f"{summary['restarts']} worker restart(s) during the run", err=True)
    return stats, checkpoints, summary["completed"], None, stopped_by


class _UIRun:
    """``--ui``: where the run's UI serves, its actions' token, and what the dashboard reads."""

    def __init__(self, host: str, port: int, token: str | None, stores, source, day: str,
                 speeding_log: str | None) -> None:
        self.host, self.port, self.token = host, port, token
        self.stores, self.source, self.day, self.speeding_log = stores, source, day, speeding_log


@contextmanager
def _serving_ui(cluster, handle, ui: _UIRun | None):
    """The UI for ``cluster`` with the smart-car dashboard of ``handle`` while the block runs."""
    if ui is None:
        yield
        return
    from squall.ui.cli import start_ui

    from .dashboard import SmartcarDashboard
    board = SmartcarDashboard(handle, ui.stores, ui.source, ui.day, ui.speeding_log)
    server = start_ui(cluster, ui.host, ui.port, ui.token, dashboards={"smartcar": board})
    try:
        yield
    finally:
        server.stop()
        board.close()


@contextmanager
def _stop_on_signals(handle) -> Iterator[list[int]]:
    """Ctrl-C / SIGTERM stop the run gracefully; a second one exits at once.

    The first signal asks the topology to stop (spouts stop, trees in flight get up to
    ``STOP_DRAIN_S`` to finish, a final checkpoint is taken) and the summary is printed
    as usual. A second one exits with 128 + the signal number without waiting for a
    bolt or a checkpoint under way: the next run resumes from the last checkpoint, as
    after ``kill -9``. Yields the list the signals received are appended to; the
    previous handlers are back after the ``with`` block.
    """
    received: list[int] = []

    def on_signal(signum, _frame):
        received.append(signum)
        if len(received) == 1:
            click.echo(f"squall smartcar: {signal.Signals(signum).name}: stopping (spouts stopped, "
                       f"up to {STOP_DRAIN_S:.0f} s for records in flight, then a final checkpoint); "
                       f"again to exit at once", err=True)
            handle.stop(drain_timeout_s=STOP_DRAIN_S)
        else:
            click.echo("squall smartcar: exiting now; the next run resumes from the last checkpoint",
                       err=True)
            os._exit(128 + signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        # Run in-process (a test's CliRunner), the caller gets its own Ctrl-C back.
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _report_stop(report, signum: int, p: dict[str, int], checkpointed: bool) -> None:
    """The end of a run stopped by a signal: what is safe, what the next run does; exits."""
    pending = p["read"] - p["acked"]
    if not checkpointed:
        resume = "no state backend: the next run starts from the beginning"
    elif report.final_checkpoint is not None:
        resume = f"the next run resumes from checkpoint {report.final_checkpoint}"
    else:
        resume = "the next run resumes from the checkpoint before"
    click.echo(f"stopped by {signal.Signals(signum).name}: {report.in_flight:,} records were still in flight"
               f" ({pending:,} read but not acked); {resume}")
    sys.exit(128 + signum)


def _since_process_start(at_monotonic: float) -> str:
    """Seconds from this process's start to ``at_monotonic`` (Linux /proc), as text."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime_s = float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return "?"
    age_now = uptime_s - start_ticks / os.sysconf("SC_CLK_TCK")
    return f"{age_now - (time.monotonic() - at_monotonic):.2f} s"


def _watch(handle, source, t0: float):
    """Print progress every second until the run ends; return its stats."""
    last_read, last_t = 0, t0
    while not handle.wait(1.0):
        now = time.monotonic()
        p = _progress(handle.stats(), source)
        rate = (p["read"] - last_read) / (now - last_t)
        last_read, last_t = p["read"], now
        click.echo(f"  {now - t0:6.1f}s  {rate:10,.0f} records/s  read {p['read']:,}  stored {p['stored']:,}"
                   f"  speeding {p['speeding']:,}  errors {p['errors']:,}", err=True)
    return handle.stats()


def _n(value):
    return "?" if value is None else f"{value:,}"


def _ms(value):
    return "n/a" if value is None else f"{value:.2f} ms"


def _progress(stats, source) -> dict[str, int]:
    if "read" in stats["source"].metrics:
        read = stats["source"].metrics["read"]
    else:
        # A Kafka record is read once per offset; replays re-emit, so count completed trees
        # plus those in flight.
        read = stats["source"].acked + max(0, stats["source"].emitted - stats["source"].acked
                                           - stats["source"].failed)
    return {
        "read": read,
        "acked": stats["source"].acked,
        "stored": stats["table"].acked,
        "errors": stats["deadletter"].acked,
        "speeding": stats["speeding"].acked,
    }


@smartcar.command()
@click.option("--date", required=True, help="The day, yyyyMMdd.")
@data_dir_option
def speeding(date, data_dir):
    """List the cars flagged as speeding on DATE, one per line."""
    if len(date) != 8 or not date.isdigit():
        raise CliError(f"--date must be yyyyMMdd, got {date!r}")
    from squall.store import EmbeddedKeyValueStore
    if not Path(data_dir).exists():
        raise CliError(f"data dir not found: {data_dir}")
    # Read-only: works while a running pipeline holds the store, and sees its latest sets.
    with EmbeddedKeyValueStore(data_dir, read_only=True).open() as kv:
        cars = kv.smembers(date)
    for car in sorted(cars):
        click.echo(car)


# `produce` needs the Kafka extra only when it runs; registering it imports nothing of it.
from .produce import produce  # noqa: E402

smartcar.add_command(produce)
