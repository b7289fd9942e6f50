"""``squall epl query``: fire-and-forget queries over a rule file's named windows and
tables after feeding it recorded events.

Each result row is one JSON line ``{"query": <index>, "row": {...}}``: the query's
position among the QUERY arguments (0-based) and the row keyed by column. The rule
file's own statement outputs are not printed (``squall epl run`` prints those).
"""

from __future__ import annotations

import json
import sys

import click

from squall.cli import CliError

from .engine import EPLEngine, ExternalClock
from .errors import EPLError
from .types_option import parse_types

__all__ = ["query"]

@click.command("query")
@click.argument("rule_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("events_file", type=click.File("r", encoding="utf-8"))
@click.argument("queries", nargs=-1, required=True)
@click.option("--type", "type_name", required=True, help="Event type name the events are sent as.")
@click.option("--time-field", required=True, help="Event field holding its time, epoch milliseconds.")
@click.option("--type-field", default=None,
              help="Event field naming the event's type; events without it are of --type.")
@click.option("--types", "types_json", default=None, metavar="JSON",
              help="Declare the --type event type's properties (as for 'squall epl run').")
@click.option("--at", "at_ms", type=int, default=None, metavar="MS",
              help="Advance engine time to MS (epoch milliseconds) after the last event, "
                   "before the queries run (time windows then drop what expired by MS).")
def query(rule_file, events_file, queries, type_name, time_field, type_field, types_json, at_ms):
    """Run RULE_FILE over EVENTS_FILE, then each QUERY over its named windows and tables.

    Events are fed as 'squall epl run' feeds them (external time from --time-field, never
    backwards; --type-field; {"$set": {...}} lines set variables), but time does not jump
    past the last event: the queries see what the windows and tables hold at the last
    event's time (or at --at). A QUERY is 'select ... from W ...', 'delete from W ...' or
    'update W set ...' (W a named window or table of the rule file); queries run in
    order, so a delete changes what a later select sees. Prints one JSON line
    {"query": index, "row": {...}} per result row (delete: the deleted rows; update: the
    new rows). A query that does not compile is reported with its index and exits 2;
    an event line that cannot be processed is reported on stderr and exits 1 after the
    queries.
    """
    with open(rule_file, encoding="utf-8") as fh:
        text = fh.read()
    failed = {"n": 0}

    def on_error(err):
        failed["n"] += 1
        click.echo(f"squall epl: {err}", err=True)

    engine = EPLEngine(ExternalClock(0), on_error=on_error)
    if types_json is not None:
        engine.define_event_type(type_name, parse_types(types_json))
    try:
        engine.compile(text)
    except EPLError as exc:
        raise CliError(f"{rule_file}: {exc}") from None
    started = False
    for line_no, line in enumerate(events_file, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            if not isinstance(event, dict):
                raise ValueError("not a JSON object")
            if "$set" in event:
                if not isinstance(event["$set"], dict):
                    raise ValueError('"$set" must map variable names to values')
                for name, value in event["$set"].items():
                    engine.set_variable(name, value)
                continue
            ts = event.get(time_field)
            if isinstance(ts, bool) or not isinstance(ts, (int, float)):
                raise ValueError(f"time field {time_field!r} is missing or not a number: {ts!r}")
            if not started or int(ts) > engine.current_time_ms:
                engine.advance_time(int(ts))
                started = True
            engine.send(type_name if type_field is None or event.get(type_field) is None
                        else str(event[type_field]), event)
        except (ValueError, EPLError) as exc:
            failed["n"] += 1
            click.echo(f"squall epl: line {line_no} skipped: {exc}", err=True)
    if at_ms is not None:
        if at_ms < engine.current_time_ms:
            raise CliError(f"--at {at_ms} is before the last event's time {engine.current_time_ms}")
        engine.advance_time(at_ms)
    out = sys.stdout
    for i, q in enumerate(queries):
        try:
            rows = engine.execute_query(q)
        except EPLError as exc:
            raise CliError(f"query {i}: {exc}") from None
        for row in rows:
            out.write(json.dumps({"query": i, "row": row}, default=str) + "\n")
    out.flush()
    if failed["n"]:
        sys.exit(1)
