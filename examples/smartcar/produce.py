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

from .obd import read_fleet, trip_files
from .record import date_to_ms
from .sources import simulate

__all__ = ["produce"]


@click.command()
@click.option("--replay", "replay_dir", type=click.Path(file_okay=False), default=None,
              help="Replay the OBD-II trip CSVs of DIR as a fleet (one car per file).")
@click.option("--cars", type=click.IntRange(1), default=100, show_default=True,
              help="Simulated cars (when not replaying).")
@click.option("--seed", type=int, default=42, show_default=True, help="Simulator seed.")
@click.option("--duration", "duration_s", type=click.IntRange(1), default=None,
              help="Seconds of event time to produce [simulator default: 300; replay: all].")
@click.option("--start", default="20240101000000", show_default=True,
              help="Event time of second 0, yyyyMMddHHmmss (UTC).")
@click.option("--kafka", "bootstrap", required=True, metavar="HOST:PORT",
              help="Kafka bootstrap servers.")
@click.option("--topic", required=True, help="The topic to write to (must exist).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="Seconds to wait for the broker to confirm the last messages.")
def produce(replay_dir, cars, seed, duration_s, start, bootstrap, topic, timeout_s):
    """Write the smart-car feed into Kafka topic T: one message per record
    (value = CSV feed line, key = car number); print how many were confirmed."""
    from confluent_kafka import Producer

    try:
        start_ms = date_to_ms(start)
    except ValueError as exc:
        raise CliError(f"--start: {exc}")
    if replay_dir is not None:
        try:
            trip_files(replay_dir)
        except FileNotFoundError as exc:
            raise CliError(f"--replay: {exc}") from None
        readings = read_fleet(replay_dir, start_ms, duration_s)
        what = f"replay of {replay_dir}"
    else:
        readings = simulate(cars, duration_s or 300, start_ms, seed)
        what = f"simulator, {cars} cars, {duration_s or 300} s of event time"
    counts = {"delivered": 0, "failed": 0}
    errors: list[str] = []

    def delivered(err, msg):
        if err is None:
            counts["delivered"] += 1
        else:
            counts["failed"] += 1
            if len(errors) < 5:
                errors.append(str(err))

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                         "message.timeout.ms": int(timeout_s * 1000), "enable.idempotence": True})
    click.echo(f"squall smartcar produce: {what} -> {bootstrap} topic {topic}", err=True)
    t0 = time.monotonic()
    sent = malformed = 0
    for r in readings:
        value = r.line.encode("utf-8")
        key = r.car_number.encode("utf-8")
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)    # local queue full: let deliveries drain
        sent += 1
        malformed += r.error is not None
        if sent % 10000 == 0:
            producer.poll(0)
    left = producer.flush(timeout_s)
    elapsed = time.monotonic() - t0
    click.echo(f"sent {sent:,} messages ({malformed:,} malformed rows as raw lines) in {elapsed:.2f} s")
    click.echo(f"confirmed {counts['delivered']:,}; failed {counts['failed']:,}; unconfirmed {left:,}")
    if counts["failed"] or left:
        raise CliError(f"{counts['failed'] + left:,} messages were not confirmed by {bootstrap}"
                       + (f": {errors[0]}" if errors else ""))
