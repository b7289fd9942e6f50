"""``squall collect``: Flume-style collection of log lines into a Kafka topic.

A topology of two components: a file source (tail a file, or drain a spooling
directory) with an optional regex filter, and a Kafka bolt. A line is acked, and the
source's position file moves past it, only once the broker confirmed it, so a restart
loses nothing; after a graceful stop it repeats nothing either.

While the brokers cannot be reached the lines wait and are retried; the outage is
reported once and its end once. With ``--once`` (a bounded run) a broker that does not
answer within ``--startup-timeout`` seconds of the start ends the command with one
error line instead.

Semantics: the book's Flume agent (``exec``/``spooldir`` source, ``regex_filter``
interceptor, Kafka sink), with Flume's Taildir and Spooling Directory sources.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import click

from squall.config import MAX_SPOUT_PENDING
from squall.connectors.urls import mask_url
from squall.runtime import LocalCluster
from squall.topology import TopologyBuilder

from .common import CliError

__all__ = ["collect"]


@click.command()
@click.option("--tail", "tail_file", type=click.Path(dir_okay=False), default=None,
              help="Follow FILE like tail -F (appends and rotation).")
@click.option("--spool-dir", type=click.Path(file_okay=False), default=None,
              help="Read files dropped into DIR; each is renamed .COMPLETED when delivered.")
@click.option("--delete", is_flag=True, help="With --spool-dir: delete delivered files instead.")
@click.option("--include", default=None, help=r"Keep only lines matching this regex, e.g. '^\d{14}'.")
@click.option("--kafka", "bootstrap", required=True, help="Kafka bootstrap servers HOST:PORT.")
@click.option("--topic", required=True, help="Topic the lines are written to.")
@click.option("--position-file", type=click.Path(dir_okay=False), default=None,
              help="Where the delivered position is kept [tail: FILE.squall-pos.json; "
                   "spool dir: DIR/.squall-spool.json].")
@click.option("--from-end", is_flag=True, help="With --tail and no saved position: start at the end.")
@click.option("--once", is_flag=True,
              help="Stop when the input is used up (spool dir empty / end of the tailed file) "
                   "instead of waiting for more.")
@click.option("--startup-timeout", "startup_timeout_s", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True,
              help="With --once: give up if the brokers do not answer (or the topic does not exist) "
                   "within this many seconds of the start.")
def collect(tail_file, spool_dir, delete, include, bootstrap, topic, position_file, from_end, once,
            startup_timeout_s):
    """Collect log lines from a file or a spooling directory into Kafka topic T."""
    if (tail_file is None) == (spool_dir is None):
        raise CliError("give exactly one of --tail FILE or --spool-dir DIR")
    from squall.connectors.files import SpoolDirSpout, TailSpout
    from squall.connectors.kafka import FieldNameBasedTupleToKafkaMapper, KafkaBolt, KafkaStartupError
    if tail_file is not None:
        spout = TailSpout(tail_file, position_file or f"{tail_file}.squall-pos.json", include=include,
                          from_end=from_end, stop_at_eof=once)
        what = f"tail -F {tail_file}"
    else:
        if not Path(spool_dir).is_dir():
            raise CliError(f"--spool-dir: directory not found: {spool_dir}")
        spout = SpoolDirSpout(spool_dir, position_file, include=include, delete=delete, stop_when_empty=once)
        what = f"spool dir {spool_dir}"
    b = TopologyBuilder()
    b.set_spout("source", spout)
    b.set_bolt("kafka", KafkaBolt(bootstrap, topic, FieldNameBasedTupleToKafkaMapper(None, "line"),
                                  startup_timeout_s=startup_timeout_s if once else None)) \
        .shuffle_grouping("source")
    click.echo(f"squall collect: {what} -> {mask_url(bootstrap)}/{topic}", err=True)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    t0 = time.monotonic()
    try:
        with LocalCluster() as cluster:
            handle = cluster.submit_topology("collect", {MAX_SPOUT_PENDING: 10_000}, b.build(),
                                             until_complete=once)
            while handle.running and not stop.is_set():
                stop.wait(1.0)
            if handle.running:
                # Deliver what is in flight, then save positions (deactivate/close do).
                cluster.kill_topology("collect", wait_secs=30)
            handle.wait(0)      # raises what ended the run, if anything did
            stats = handle.stats()
    except KafkaStartupError as exc:
        raise CliError(str(exc)) from None
    finally:
        for sig, handler in previous.items():     # in-process callers get Ctrl-C back
            signal.signal(sig, handler)
    sent, failed = stats["kafka"].acked, stats["kafka"].failed
    click.echo(f"collected {sent:,} lines into {topic} in {time.monotonic() - t0:.1f} s"
               f" ({failed:,} deliveries failed and were retried)")
