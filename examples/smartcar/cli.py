"""``squall smartcar``: run the pipeline, list flagged cars."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click

from squall.cli import CliError, data_dir_option
from squall.config import MAX_SPOUT_PENDING, MESSAGE_TIMEOUT_SECS
from squall.runtime import LocalCluster
from squall.store.errors import StoreError

from .feed import SIMULATED_S, Feed, feed_options
from .sources import FeedSpout, ReplaySpout, SimulatorSpout
from .topology import DEAD_LETTER_TABLE, DEFAULT_RULE, TABLE, Stores, build_topology

__all__ = ["smartcar"]

log = logging.getLogger("squall.smartcar")


@click.group()
def smartcar() -> None:
    """The smart-car reference pipeline."""


def _rows(store, table: str) -> int | None:
    """Rows in ``table`` (0 if absent), or None when the store cannot be reached now."""
    try:
        return store.open_table(table).count() if table in store.tables() else 0
    except (StoreError, OSError) as exc:
        log.warning("cannot count %s now: %s", table, exc)
        return None


@smartcar.command()
@feed_options
@click.option("--pace", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Replay X times faster than event time (1 = real time) [default: as fast as possible].")
@click.option("--rule", "rule_file", type=click.Path(dir_okay=False, exists=True), default=str(DEFAULT_RULE),
              show_default="examples/smartcar/speeding.epl", help="EPL rule file.")
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
@click.option("--redis", "redis_url", default=None,
              help="Speeding sets in Redis at this URL (redis://host:port/db) instead of embedded.")
@click.option("--hbase", default=None,
              help="Rows in HBase through its Thrift server at HOST:PORT instead of embedded.")
@data_dir_option
def run(replay_dir, cars, seed, duration_s, start, pace, rule_file, ttl_s, speeding_log, max_pending,
        bootstrap, topic, group, follow, redis_url, hbase, data_dir):
    """Run the pipeline until the input ends; print a summary.

    Every record is stored in table DriverCarInfo (family cf1, row key = reversed
    date + "-" + car number) or, if malformed, in DeadLetters with the reason; the
    rule's detections go to a speeding set per day (SADD yyyyMMdd car) and, with
    --speeding-log, to a JSON-lines file. Embedded stores in --data-dir by default;
    --kafka, --hbase and --redis put the real services in their places.
    """
    rule = Path(rule_file).read_text(encoding="utf-8")
    if bootstrap is not None:
        if replay_dir is not None:
            raise CliError("--kafka and --replay are two sources: give one")
        from .deploy import kafka_source
        source = kafka_source(bootstrap, topic, group, follow)
        what = f"Kafka {bootstrap}/{topic} (group {group})"
    else:
        feed = Feed.from_options(replay_dir, cars, seed, duration_s, start)
        if replay_dir is not None:
            source = ReplaySpout(replay_dir, feed.start_ms, pace, duration_s)
        else:
            source = SimulatorSpout(cars, duration_s or SIMULATED_S, feed.start_ms, seed, pace)
        what = feed.description
    from .deploy import stores_for
    stores = stores_for(data_dir, redis_url, hbase) if (redis_url or hbase) else Stores.embedded(data_dir)
    try:
        topology = build_topology(source, stores, rule, ttl_s, speeding_log)
    except Exception as exc:  # a rule that does not compile: say where, no traceback
        raise CliError(f"{rule_file}: {exc}")
    rows_before = _rows(stores.table, TABLE)
    dead_before = _rows(stores.table, DEAD_LETTER_TABLE)
    conf = {MAX_SPOUT_PENDING: max_pending, MESSAGE_TIMEOUT_SECS: 30}
    where = ", ".join(x for x in (hbase and f"HBase {hbase}", redis_url and f"Redis {redis_url}") if x)
    click.echo(f"squall smartcar: {what}; data in {where or data_dir}", err=True)
    t0 = time.monotonic()
    with LocalCluster() as cluster:
        handle = cluster.submit_topology("smartcar", conf, topology, until_complete=True)
        last_read, last_t = 0, t0
        while not handle.wait(1.0):
            now = time.monotonic()
            p = _progress(handle.stats(), source)
            rate = (p["read"] - last_read) / (now - last_t)
            last_read, last_t = p["read"], now
            click.echo(f"  {now - t0:6.1f}s  {rate:10,.0f} records/s  read {p['read']:,}  stored {p['stored']:,}"
                       f"  speeding {p['speeding']:,}  errors {p['errors']:,}", err=True)
        stats = handle.stats()
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
    click.echo(f"failed trees replayed {failed:,}; complete latency "
               f"{_ms(stats['source'].complete_latency_ms)} mean")
    source_error = FeedSpout.progress.get(source.name, {}).get("source_error") \
        if isinstance(source, FeedSpout) else None
    if source_error:
        click.echo(f"INCOMPLETE: the source stopped after {p['read']:,} records: {source_error}", err=True)
        sys.exit(1)
    lost = p["read"] - p["acked"]
    if lost:
        click.echo(f"LOSS: {lost:,} records read were neither stored nor dead-lettered", err=True)
        sys.exit(1)
    if p["stored"] + p["errors"] == p["read"]:
        click.echo(f"no loss: stored + dead letters = records read ({p['read']:,})")
    else:
        click.echo(f"no loss: every record read was acked; {p['stored'] + p['errors'] - p['read']:,} "
                   f"writes were replays of failed trees (keyed writes, so no duplicate rows)")


def _n(value):
    return "?" if value is None else f"{value:,}"


def _ms(value):
    return "n/a" if value is None else f"{value:.2f} ms"


def _progress(stats, source) -> dict[str, int]:
    if isinstance(source, FeedSpout):
        read = FeedSpout.progress.get(source.name, {}).get("read", 0)
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
    kv = EmbeddedKeyValueStore(data_dir)
    for car in sorted(kv.smembers(date)):
        click.echo(car)


# `produce` needs the Kafka extra only when it runs; registering it imports nothing of it.
from .produce import produce  # noqa: E402

smartcar.add_command(produce)
