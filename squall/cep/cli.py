"""``squall epl run``: feed JSON-lines events through a rule file, print the outputs.

Each output row is one JSON line ``{"time": <engine time ms>, "statement": <index>,
"kind": "insert"|"remove", "row": {...}}``: the engine time at which it was output
(external time, from the events' time field), the statement's position in the rule
file (0-based), and the row keyed by column name.
"""

from __future__ import annotations

import json
import sys

import click

from squall.cli import CliError

from .engine import EPLEngine, ExternalClock
from .errors import EPLError

__all__ = ["epl"]

# After the last event, time moves this far so every open batch ends (as at end of input).
_END_JUMP_MS = 10 * 24 * 3600 * 1000


@click.group()
def epl() -> None:
    """EPL rules: run them over recorded events."""


@epl.command("run")
@click.argument("rule_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("events_file", type=click.File("r", encoding="utf-8"))
@click.option("--type", "type_name", required=True, help="Event type name the events are sent as.")
@click.option("--time-field", required=True, help="Event field holding its time, epoch milliseconds.")
def run(rule_file, events_file, type_name, time_field):
    """Run RULE_FILE over EVENTS_FILE (one JSON object per line, '-' for stdin).

    Time is external: before each event the engine clock advances to the event's time
    (never backwards: an older event is processed at the current time); after the last
    event it advances past every open window. A line that is not a JSON object, or
    lacks a numeric time field, is reported on stderr with its line number and skipped;
    the exit code is then 1.
    """
    with open(rule_file, encoding="utf-8") as fh:
        text = fh.read()
    engine = EPLEngine(ExternalClock(0))
    try:
        statements = engine.compile(text)
    except EPLError as exc:
        raise CliError(f"{rule_file}: {exc}") from None
    out = sys.stdout

    def listener_for(index):
        def on_output(new_rows, old_rows):
            now = engine.current_time_ms
            for kind, rows in (("insert", new_rows), ("remove", old_rows)):
                for row in rows:
                    out.write(json.dumps({"time": now, "statement": index, "kind": kind, "row": row},
                                         default=str) + "\n")
        return on_output

    for i, st in enumerate(statements):
        st.add_listener(listener_for(i))
    bad = 0
    started = False
    for line_no, line in enumerate(events_file, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            if not isinstance(event, dict):
                raise ValueError("not a JSON object")
            ts = event.get(time_field)
            if isinstance(ts, bool) or not isinstance(ts, (int, float)):
                raise ValueError(f"time field {time_field!r} is missing or not a number: {ts!r}")
        except ValueError as exc:
            bad += 1
            click.echo(f"squall epl: line {line_no} skipped: {exc}", err=True)
            continue
        ts = int(ts)
        if not started or ts > engine.current_time_ms:
            engine.advance_time(ts)
            started = True
        try:
            engine.send(type_name, event)
        except Exception as exc:  # an event the statements cannot evaluate (a type clash)
            bad += 1
            click.echo(f"squall epl: line {line_no} rejected: {type(exc).__name__}: {exc}", err=True)
    if started:
        engine.advance_time(engine.current_time_ms + _END_JUMP_MS)
    out.flush()
    if bad:
        sys.exit(1)
