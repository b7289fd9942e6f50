"""``squall smartcar produce``: write the smart-car feed into a Kafka topic.

One message per record: value = the CSV feed line (UTF-8), key = the car number. A
malformed replay row is written as its raw row, so the pipeline's parse bolt
dead-letters it with its reason, as it would from any source. The topic must exist
(brokers usually do not auto-create topics).
"""

from __future__ import annotations

import time

import click

from squall.cli import CliError
from squall.connectors.urls import mask_url

from .feed import Feed, feed_options

__all__ = ["produce"]


@click.command()
@feed_options
@click.option("--kafka", "bootstrap", required=True, metavar="HOST:PORT",
              help="Kafka bootstrap servers.")
@click.option("--topic", required=True, help="The topic to write to (must exist).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="Seconds to wait for the broker to confirm the last messages.")
def produce(replay_dir, cars, seed, duration_s, start, bootstrap, topic, timeout_s):
    """Write the smart-car feed into Kafka topic T: one message per record
    (value = CSV feed line, key = car number); print how many were confirmed."""
    from squall.connectors.kafka.producer import send_all

    feed = Feed.from_options(replay_dir, cars, seed, duration_s, start)
    click.echo(f"squall smartcar produce: {feed.description} -> {mask_url(bootstrap)} topic {topic}", err=True)
    t0 = time.monotonic()
    malformed = 0

    def messages():
        nonlocal malformed
        for r in feed.readings():
            malformed += r.error is not None
            yield r.car_number.encode("utf-8"), r.line.encode("utf-8")

    from squall.connectors.kafka import KafkaStartupError
    try:
        report = send_all(bootstrap, topic, messages(), timeout_s)
    except KafkaStartupError as exc:
        raise CliError(str(exc)) from None
    elapsed = time.monotonic() - t0
    click.echo(f"sent {report.sent:,} messages ({malformed:,} malformed rows as raw lines) in {elapsed:.2f} s")
    click.echo(f"confirmed {report.delivered:,}; failed {report.failed:,}; unconfirmed {report.unconfirmed:,}")
    if report.failed or report.unconfirmed:
        raise CliError(f"{report.failed + report.unconfirmed:,} messages were not confirmed by {mask_url(bootstrap)}"
                       + (f": {report.errors[0]}" if report.errors else ""))
