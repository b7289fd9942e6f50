"""``squall epl run``: feed JSON-lines events through a rule file, print the outputs.

Each output row is one JSON line ``{"time": <engine time ms>, "statement": <index>,
"kind": "insert"|"remove", "row": {...}}``: the engine time at which it was output
(external time, from the events' time field), the statement's position in the rule
file (0-based), and the row keyed by column name.
"""

from __future__ import annotations

import json
import sys
import time

import click

from squall.cli import CliError

from .engine import EPLEngine, ExternalClock
from .errors import EPLError, EPLVariableError
from .query_cli import query
from .types_option import parse_types

__all__ = ["epl", "rules"]

# After the last event, time moves this far so every open batch ends (as at end of input).
_END_JUMP_MS = 10 * 24 * 3600 * 1000


@click.group()
def epl() -> None:
    """EPL rules: run them over recorded events."""


epl.add_command(query)


@epl.command("run")
@click.argument("rule_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("events_file", type=click.File("r", encoding="utf-8"))
@click.option("--type", "type_name", required=True, help="Event type name the events are sent as.")
@click.option("--time-field", required=True, help="Event field holding its time, epoch milliseconds.")
@click.option("--type-field", default=None,
              help="Event field naming the event's type (several types in one file, e.g. for "
                   "patterns and joins); events without it are of --type.")
@click.option("--types", "types_json", default=None, metavar="JSON",
              help="Declare the --type event type's properties, e.g. "
                   "'{\"speed\":\"double\",\"carNumber\":\"string\"}' (long, int, double, "
                   "float, string, boolean): statements are then checked for unknown properties "
                   "and type mismatches.")
def run(rule_file, events_file, type_name, time_field, type_field, types_json):
    """Run RULE_FILE over EVENTS_FILE (one JSON object per line, '-' for stdin).

    Time is external: before each event the engine clock advances to the event's time
    (never backwards: an older event is processed at the current time); after the last
    event it advances past every open window. With --type-field, each event is sent as the
    type its FIELD names (a string), or as --type when the field is missing or null. A line
    that is not a JSON object, or lacks a numeric time field, is reported on stderr with
    its line number and skipped; the exit code is then 1. So is an event a statement could
    not evaluate as written (a like/regexp match past its time bound, a bad pattern from
    the event: the expression is null), reported with its line number (at most 5 reports
    per 10 s, then counts).

    A line {"$set": {"NAME": VALUE, ...}} sets those variables at that point, at the current
    engine time, as EPLEngine.set_variable does (no time field needed); a variable that
    does not exist, is a constant or cannot take the value's type is reported with the
    line number (exit code 1).
    """
    with open(rule_file, encoding="utf-8") as fh:
        text = fh.read()
    sending = {"line": None}   # the events file's line being sent, None while time moves

    def on_error(err):
        at = f"line {sending['line']}" if sending["line"] is not None else "on a timer"
        click.echo(f"squall epl: {at}: {err}", err=True)

    engine = EPLEngine(ExternalClock(0), on_error=on_error)
    if types_json is not None:
        engine.define_event_type(type_name, parse_types(types_json))
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
            if "$set" in event:
                _set_variables(engine, event["$set"], line_no)
                continue
            ts = event.get(time_field)
            if isinstance(ts, bool) or not isinstance(ts, (int, float)):
                raise ValueError(f"time field {time_field!r} is missing or not a number: {ts!r}")
        except EPLVariableError as exc:
            bad += 1
            click.echo(f"squall epl: line {line_no} rejected: {exc}", err=True)
            continue
        except ValueError as exc:
            bad += 1
            click.echo(f"squall epl: line {line_no} skipped: {exc}", err=True)
            continue
        ts = int(ts)
        if not started or ts > engine.current_time_ms:
            engine.advance_time(ts)
            started = True
        sending["line"] = line_no
        try:
            engine.send(type_name if type_field is None or event.get(type_field) is None
                        else str(event[type_field]), event)
        except Exception as exc:  # an event the statements cannot evaluate (a type clash)
            bad += 1
            click.echo(f"squall epl: line {line_no} rejected: {type(exc).__name__}: {exc}", err=True)
        sending["line"] = None
    if started:
        engine.advance_time(engine.current_time_ms + _END_JUMP_MS)
    out.flush()
    if bad or any(st.errors for st in statements):
        sys.exit(1)


def _set_variables(engine: EPLEngine, values, line_no: int) -> None:
    if not isinstance(values, dict):
        raise ValueError('"$set" must map variable names to values')
    for name, value in values.items():
        engine.set_variable(name, value)


# -- squall rules: live rules in a running topology ------------------------------------

@click.group()
def rules() -> None:
    """Live rules: change the EPL of a running topology (a CepBolt with a rules dir)."""


def _rules_dir_option(func):
    return click.option("--rules-dir", required=True, type=click.Path(file_okay=False),
                        help="The directory the topology's CEP bolt watches (its --rules-dir).")(func)


@rules.command("apply")
@click.argument("rule_file", type=click.Path(exists=True, dir_okay=False))
@_rules_dir_option
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds to wait for the running bolt tasks to apply the new version.")
def rules_apply(rule_file, rules_dir, timeout_s):
    """Install RULE_FILE into the rules dir; report what the running topology did with it.

    The file is compiled first: a file that does not compile (or holds no statement) is
    refused, with the line and column of its first error, and not installed (exit 2),
    whether or not a topology runs. Otherwise it is installed atomically as
    RULES_DIR/rules.epl. Each running CEP bolt task watching the directory applies it
    within about half a second: unchanged statements keep their state, changed ones
    restart, new ones start, removed ones stop, and a statement the bolt cannot take (a
    new version selecting other columns than its stream was declared with) is rejected
    (its running version goes on). The command prints one line per statement and task;
    exit code 1 when the bolt rejected a statement, 2 when no task answered within
    --timeout. Without a running topology it only installs the file; the next topology
    started with this rules dir loads it.
    """
    from .rules import RuleSet, RulesDir

    with open(rule_file, encoding="utf-8") as fh:
        text = fh.read()
    rule_set = RuleSet.parse(text)
    if not rule_set.statements:
        raise CliError(f"{rule_file} holds no statement; not installed (installing it would stop "
                       "every statement: stop the topology instead)")
    problems = rule_set.compile_errors()
    if problems:
        first = problems[0]
        more = (f" (and {len(problems) - 1} more statement(s) that do not compile)"
                if len(problems) > 1 else "")
        raise CliError(f"{rule_file}:{first.line}:{first.column}: statement '{first.name}': "
                       f"{' '.join(first.error.split())}{more}; not installed")
    rd = RulesDir(rules_dir)
    live = rd.live_statuses()
    version = rd.install(text)
    if not live:
        click.echo(f"installed {rule_file} as {rd.rules_path} (version {version}); no running topology "
                   "watches this directory: the next one started with it loads the file")
        return
    done = _wait_for_tasks(rd, live, lambda s: s.get("version") == version, timeout_s,
                           f"installed version {version}")
    rejected = 0
    for key in sorted(done):
        s = done[key]
        prefix = f"{key[0]}[{key[1]}] " if len(done) > 1 else ""
        for r in s.get("results", []):
            name, action = r["name"], r["action"]
            if action == "rejected":
                rejected += 1
                what = "the running version goes on" if r.get("kept") else "not started"
                click.echo(f"{prefix}{name}: rejected ({what}): {r['error']}")
            else:
                click.echo(f"{prefix}{name}: {action}, accepted" if action != "removed" else
                           f"{prefix}{name}: removed")
    click.echo(f"version {version} applied by {len(done)} task(s)", err=True)
    if rejected:
        sys.exit(1)


def _parse_value(text: str):
    """A variable value from the command line: JSON (100, 100.5, true, null, "text"), or
    the text itself as a string."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, (dict, list)):
        raise CliError(f"VALUE {text!r} is a JSON {type(value).__name__}; variables hold a number, "
                       "a string, true/false or null")
    return value


def _check_set(rd, name: str, value) -> None:
    """Set the variable in a scratch engine that runs what the topology runs (the live
    tasks' statements, else the directory's rules.epl): an unknown variable, a constant
    or a value of another type is refused before it is recorded."""
    from .rules import RuleSet

    live = rd.live_statuses()
    if live:
        texts = [st["text"] for s in live for st in s.get("statements", [])]
        where = "the running topology"
    elif rd.rules_path.exists():
        texts = [rs.text for rs in RuleSet.parse(rd.rules_path.read_text(encoding="utf-8")).statements]
        where = str(rd.rules_path)
    else:
        raise CliError(f"no running topology watches {rd.path} and it holds no {rd.rules_path.name}: "
                       f"nothing declares variable {name!r}; not recorded")
    scratch = EPLEngine(ExternalClock(0))
    for text in texts:
        try:
            scratch.compile(text)
        except EPLError:
            continue   # not this command's business: rules apply / list report it
    try:
        scratch.set_variable(name, value)
    except EPLVariableError as exc:
        raise CliError(f"{where}: {exc}; not recorded") from None


@rules.command("set")
@click.argument("name")
@click.argument("value")
@_rules_dir_option
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds to wait for the running bolt tasks to apply the set.")
def rules_set(name, value, rules_dir, timeout_s):
    """Set variable NAME to VALUE in the topology watching RULES_DIR, without a restart.

    NAME is a variable a 'create variable' statement of the rules declares. VALUE is JSON
    (100, 100.5, true, null, '"text"') or else taken as a string; it must fit the
    variable's type as Esper's runtime API requires (an int fits a double variable, 1.5
    does not fit an int one; constants cannot be set). The set is checked against what
    the running topology runs (without one, against RULES_DIR/rules.epl) and refused
    with exit 2 when it does not fit; otherwise it is recorded in
    RULES_DIR/variables.json and each running CEP bolt task applies it within about half
    a second: statements read the new value from their next evaluation, with their
    windows and aggregates kept. Prints one line per task (old -> new value); exit 1
    when a task refused it, 2 when no task answered within --timeout. Without a running
    topology the set is only recorded; the next topology started with this rules dir
    applies the recorded sets, in order, after loading the rules.
    """
    from .rules import RulesDir

    rd = RulesDir(rules_dir)
    parsed = _parse_value(value)
    _check_set(rd, name, parsed)
    live = rd.live_statuses()
    seq = rd.set_variable(name, parsed)
    shown = json.dumps(parsed)
    if not live:
        click.echo(f"recorded {name} = {shown} (set {seq}) in {rd.variables_path}; no running topology "
                   "watches this directory: the next one started with it applies it")
        return
    done = _wait_for_tasks(rd, live, lambda s: (s.get("variables") or {}).get("seq", 0) >= seq, timeout_s,
                           f"recorded set {seq} of {name}")
    refused = 0
    for key in sorted(done):
        prefix = f"{key[0]}[{key[1]}] " if len(done) > 1 else ""
        result = next((r for r in done[key]["variables"].get("results", []) if r.get("seq") == seq), None)
        if result is None:
            click.echo(f"{prefix}{name}: applied (set {seq})")
        elif result.get("error"):
            refused += 1
            click.echo(f"{prefix}{name}: refused: {result['error']}")
        else:
            click.echo(f"{prefix}{name}: {json.dumps(result.get('old'))} -> {json.dumps(result.get('value'))}")
    click.echo(f"set {seq} applied by {len(done)} task(s)", err=True)
    if refused:
        sys.exit(1)


def _wait_for_tasks(rd, live: list[dict], applied, timeout_s: float, what: str) -> dict:
    """Poll the status files until every live task's status satisfies ``applied``.

    Returns ``{(component, task): status}``. Raises :class:`CliError` naming the tasks
    that did not apply ``what`` within ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    waiting = {(s["component"], s["task"]) for s in live}
    done: dict = {}
    while True:
        for s in rd.statuses():
            key = (s.get("component"), s.get("task"))
            if key in waiting and applied(s):
                done[key] = s
        pending = waiting - done.keys()
        if not pending:
            return done
        if time.monotonic() >= deadline:
            names = ", ".join(f"{c}[{t}]" for c, t in sorted(pending))
            raise CliError(f"{what}, but {names} did not apply it within {timeout_s:g} s "
                           f"(is the topology stalled?)")
        time.sleep(0.05)


def _short(text: str, width: int) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[:width - 3] + "..."


@rules.command("list")
@_rules_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the status files as JSON lines instead.")
def rules_list(rules_dir, as_json):
    """Show each statement of the topology watching RULES_DIR: events in, rows out, status.

    Counters are as of the task's last status write (at most about a second old while it
    runs). A statement whose last new version was rejected shows the rejection; a new
    statement that was rejected shows as 'rejected' with no counters. Statements of a
    task that stopped (closed, or its process is gone) show as 'stopped' with their last
    counters; of a task whose process lives but has not written its status for three
    heartbeats (15 s), as 'not responding'. The variables' current values follow each
    task's line on stderr. --json adds the task's "state".
    """
    from .rules import RulesDir, task_state

    rd = RulesDir(rules_dir)
    if not rd.path.is_dir():
        raise CliError(f"rules dir not found: {rules_dir}")
    statuses = rd.statuses()
    states = [task_state(s) for s in statuses]
    if as_json:
        for s, state in zip(statuses, states):
            click.echo(json.dumps({**s, "state": state}, default=str))
        return
    if not statuses:
        click.echo(f"no CEP bolt has reported in {rules_dir} yet")
        return
    several = len(statuses) > 1
    header = (["TASK"] if several else []) + ["STATEMENT", "STREAM", "EVENTS IN", "ROWS OUT", "STATUS", "TEXT"]
    rows = []
    notes = []
    for s, state in zip(statuses, states):
        task = f"{s.get('component')}[{s.get('task')}]"
        for st in s.get("statements", []):
            status = state if st.get("last_error") is None else f"{state}; new version rejected"
            rows.append(([task] if several else []) + [st["name"], st.get("stream", ""), f"{st['events_in']:,}",
                                                        f"{st['rows_out']:,}", status, _short(st["text"], 60)])
            if st.get("last_error"):
                notes.append(f"{st['name']}: {st['last_error']}")
        for r in s.get("results", []):
            if r["action"] == "rejected" and not r.get("kept"):
                rows.append(([task] if several else []) + [r["name"], "", "-", "-", "rejected", ""])
                notes.append(f"{r['name']}: {r['error']}")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    numeric = {"EVENTS IN", "ROWS OUT"}
    for line in [header, *rows]:
        click.echo("  ".join(str(v).rjust(w) if h in numeric else str(v).ljust(w)
                             for v, w, h in zip(line, widths, header)).rstrip())
    for s, state in zip(statuses, states):
        click.echo(f"{s.get('component')}[{s.get('task')}] {state}, pid {s.get('pid')}; rules version "
                   f"{s.get('version') or '(initial rules)'}", err=True)
        values = (s.get("variables") or {}).get("values") or {}
        if values:
            click.echo(f"{s.get('component')}[{s.get('task')}] variables: "
                       + ", ".join(f"{n} = {json.dumps(v)}" for n, v in values.items()), err=True)
    for n in notes:
        click.echo(f"rejected: {n}")
