"""``CepBolt``: runs EPL statements over a stream inside a topology.

Each input tuple becomes one event of ``event_type`` (its fields renamed by
``properties``). With ``time_field`` the engine runs on event time: the clock is
advanced to the tuple's timestamp (epoch ms) before the event is sent, never
backwards (an older event is processed at the current time, as Esper's external clock
does). Without it the engine runs on the wall clock and tick tuples fire due batches.

Output: one stream per statement (``default`` for the first that is not a variable,
context or schema declaration or ``on ... set``, ``<name>`` for the others),
fields = the statement's select columns + ``window_start``, ``window_end`` (epoch ms,
None for windows without bounds).

Guarantees: an input tuple is acked once the engine has taken it. With
``dedupe_field`` an event whose key was already taken within ``dedupe_horizon_ms`` of
event time is acked and dropped: a replay caused by a failure elsewhere in its tuple
tree (a store that was down) does not count the event twice. The window is held
in memory, so outputs are emitted unanchored (anchoring them to the events would
replay events into the next window on a downstream failure and double-count).
With a state backend the bolt is checkpointed (:class:`~squall.component.Stateful`):
the engine's snapshot (clock, open windows, aggregations, schedules) and the dedupe
keys, so a crash in the middle of a batch neither loses nor double-counts an event
once the spouts rewind to the same checkpoint. At end of input the
clock jumps past every open window so the last batch fires, as Esper's
``advance_time`` at end of a replay.

Live rules: with ``rules_dir`` the bolt watches that directory's ``rules.epl``
(installed by ``squall rules apply``; see :mod:`squall.cep.rules`) from its own thread
(``poll``, a stat at most every 0.5 s) and applies each new version between tuples:
unchanged statements keep their windows, changed ones restart, new ones start, removed
ones stop, and a statement that does not compile is rejected while its running version
goes on. A ``rules.epl`` already in the directory at ``prepare`` is applied at once, so
a restarted topology runs the latest rules. Variable sets (``squall rules set``, the
directory's ``variables.json``) are applied the same way, after the rules, with no
statement restarted. Each task writes
``status-<component>-<task>.json`` there (the result per statement and the counters)
for ``squall rules list``: when something changed (at most every second), at least every
``HEARTBEAT_S`` (5 s) as a heartbeat, and with ``running: false`` at ``cleanup``; with
its pid and the process's start time, so a task killed without cleanup shows as stopped. Storm fixes a component's output streams when the topology is
built, so a statement keeps the stream (and the columns) it was declared with: a new
version of a statement must select the same columns (same names, same order) or it is
rejected; a statement added live (a name not in the initial rules) emits on the
``dynamic`` stream, fields ``statement, row, window_start, window_end`` with ``row`` a
dict keyed by column.

Semantics: Esper 8 reference, "Time batch window" and external timer control;
runs the engine of :mod:`squall.cep.engine`.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from squall.component import Bolt, Stateful
from squall.config import TICK_TUPLE_FREQ_SECS
from squall.tuple import DEFAULT_STREAM, Fields, Tuple, is_tick

from .context import ContextPlan, CreateContextPlan
from .engine import EPLEngine, ExternalClock, WallClock
from .errors import EPLCompileError
from .rules import HEARTBEAT_S, RuleSet, RulesDir, RulesWatcher, VariablesWatcher, process_started
from .schema import CreateSchemaPlan
from .variables import CreateVariablePlan, OnSetPlan

__all__ = ["CepBolt"]

_END_OF_INPUT_JUMP_MS = 10 * 24 * 3600 * 1000
_STATUS_EVERY_S = 1.0   # refresh a watched directory's status file at most this often

DYNAMIC_STREAM = "dynamic"
"""The stream of statements added live (``rules_dir``): statement, row (a dict), window bounds."""


class CepBolt(Stateful, Bolt):
    """Adapts EPL statements to a bolt.

    Args:
        epl: the rule text (one or more ``;``-separated statements).
        event_type: the event type name the statements select from.
        properties: input field -> event property name (fields not named keep their name).
        time_field: input field with the event time in epoch ms, or None for wall clock.
        name: statement name prefix (stream ids of the second and later statements).
        dedupe_field: input field identifying an event (e.g. a row key); replays of an
            event already taken are dropped.
        dedupe_horizon_ms: how long (event time) a key is remembered.
        rules_dir: a directory to watch for new versions of the rules (live rules, see
            the module docs), or None.
        functions: plug-in single-row functions, EPL name -> import path
            ``"package.module:attribute"`` (a spec travels as text; the worker imports
            the callable), see :meth:`EPLEngine.register_function`.
        aggregations: plug-in aggregation functions, EPL name -> import path of the
            factory, see :meth:`EPLEngine.register_aggregation`.

    Raises (at build time):
        EPLSyntaxError / EPLCompileError: the rule does not parse or compile.
    """

    def __init__(self, epl: str, event_type: str, properties: Mapping[str, str] | None = None,
                 time_field: str | None = None, name: str = "rule", dedupe_field: str | None = None,
                 dedupe_horizon_ms: int = 600_000, rules_dir: str | os.PathLike | None = None,
                 functions: Mapping[str, str] | None = None,
                 aggregations: Mapping[str, str] | None = None) -> None:
        self.epl = epl
        self.functions = dict(functions or {})
        self.aggregations = dict(aggregations or {})
        self.rules_dir = None if rules_dir is None else os.fspath(rules_dir)
        self.dedupe_field = dedupe_field
        self.dedupe_horizon_ms = dedupe_horizon_ms
        self.event_type = event_type
        self.properties = dict(properties or {})
        self.time_field = time_field
        self.name = name
        # Compile once now: a bad rule fails the build, and the output fields are known.
        statements, self._streams = self._compile(self._with_plugins(EPLEngine(ExternalClock(0))))
        self._partitioning = _partitioning(statements, event_type, self.properties)

    def _with_plugins(self, engine: EPLEngine) -> EPLEngine:
        for name, path in self.functions.items():
            engine.register_function(name, _import_object(path, f"function '{name}'"))
        for name, path in self.aggregations.items():
            engine.register_aggregation(name, _import_object(path, f"aggregation '{name}'"))
        return engine

    def _compile(self, engine: EPLEngine):
        # Named as live rules name them (first statement: `name`, then `name#i`, unless
        # @Name), so a later version of the rule file finds its statements again.
        rule_set = RuleSet.parse(self.epl, prefix=self.name)
        if not rule_set.statements:
            raise EPLCompileError("The rule text holds no statement")
        report = rule_set.apply(engine)
        if not report.ok:
            raise report.rejected[0].exception
        statements = engine.statements
        # The default stream is the first statement's that selects rows: a rule file
        # opening with `create variable` or `create context` still feeds its rule to
        # what reads `default`.
        first = next((st for st in statements if not isinstance(
            st.plan, (CreateVariablePlan, OnSetPlan, CreateContextPlan, CreateSchemaPlan))), statements[0])
        streams = [(DEFAULT_STREAM if st is first else st.name, tuple(st.columns)) for st in statements]
        self._declared = {st.name: s for st, s in zip(statements, streams)}
        return statements, streams

    def output_columns(self, stream: str = DEFAULT_STREAM) -> tuple[str, ...]:
        """The select columns a statement's stream carries (before the window fields)."""
        return dict(self._streams)[stream]

    def declared_streams(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Per statement name, the stream it was declared on and its select columns:
        ``{name: (stream, columns)}``. A statement that a later rule file added (live
        rules) has no declared stream and is not in it (its rows go to
        ``DYNAMIC_STREAM``)."""
        return dict(self._declared)

    def partition_fields(self) -> tuple[str, ...] | None:
        """The input fields a fields grouping may split this bolt's stream by, so that N
        tasks give the rows of one engine (as a multiset; rows of different partitions
        may come in another order); None when the rule cannot be split
        (:meth:`partition_refusal` says why).

        A rule can be split when every statement that outputs rows runs in a keyed
        segmented context (``create context C partition by P from <event_type>``, or a
        nested context whose outermost level is one) over the bolt's event type, and
        does not read ``context.id`` (partition ids are numbered per engine, in order of
        arrival). The fields are those of the partition properties every such statement
        shares (the input field renamed to ``P`` by ``properties``). Each task runs its
        own clock from its own events, so the rows equal one engine's when the tuples
        arrive in event-time order (an older event is taken at its task's clock); a
        statement added live (``rules_dir``) is not checked again.

        Semantics: Esper 8 reference, 4.2 "Keyed Segmented Context" (each partition is
        independent of the others).
        """
        return self._partitioning[0]

    def partition_refusal(self) -> str | None:
        """Why :meth:`partition_fields` is None (names the statement), else None."""
        return self._partitioning[1]

    def declare_output_fields(self, declarer):
        for stream, columns in self._streams:
            declarer.declare_stream(stream, [*columns, "window_start", "window_end"]) \
                if stream != DEFAULT_STREAM else declarer.declare([*columns, "window_start", "window_end"])
        if self.rules_dir is not None:
            declarer.declare_stream(DYNAMIC_STREAM, ["statement", "row", "window_start", "window_end"])

    def component_configuration(self):
        return None if self.time_field else {TICK_TUPLE_FREQ_SECS: 1}

    def prepare(self, config, context, collector):
        self._prepare_args = (config, context, collector)
        self.collector = collector
        # An event a statement cannot evaluate (a pattern match past its time bound) is
        # reported as the bolt's error, throttled by the engine; the stream goes on.
        self.engine = self._with_plugins(EPLEngine(ExternalClock(0) if self.time_field else WallClock(),
                                                   on_error=collector.report_error))
        statements, streams = self._compile(self.engine)
        for st, (stream, columns) in zip(statements, streams):
            st.add_listener(self._listener(st, stream, columns))
        self._watcher = None
        if self.rules_dir is not None:
            self._rules = RulesDir(self.rules_dir)
            self._watcher = RulesWatcher(self._rules)
            self._variables = VariablesWatcher(self._rules)   # squall rules set
            self._component, self._task_index = context.component_id, context.task_index
            self._status_key = f"{context.component_id}-{context.task_index}"
            self._last_apply: dict[str, Any] = {"version": None, "applied_ms": None, "results": []}
            self._errors: dict[str, str] = {}      # statement name -> its last rejection
            self._next_status = 0.0
            self._next_heartbeat = 0.0
            self._counts: tuple = ()
            self._pid_started = process_started()
            self._poll_rules(force=True)
        self._started = False
        self._fresh_time = self.engine.current_time_ms
        self._layouts: dict = {}   # TupleSource -> (event property names, time getter, key getter)
        self._seen: dict = {}      # dedupe key -> event time (ms), in arrival order
        self.duplicates = 0

    def _listener(self, st, stream: str, columns: tuple[str, ...]):
        emit = self.collector.emit

        def on_output(new_rows: list[dict[str, Any]], old_rows: list[dict[str, Any]]) -> None:
            window = st.last_output_window or (None, None)
            for row in new_rows:
                emit([*(row[c] for c in columns), window[0], window[1]], stream)
        return on_output

    def _dynamic_listener(self, st):
        emit = self.collector.emit
        name = st.name

        def on_output(new_rows: list[dict[str, Any]], old_rows: list[dict[str, Any]]) -> None:
            window = st.last_output_window or (None, None)
            for row in new_rows:
                emit([name, dict(row), window[0], window[1]], DYNAMIC_STREAM)
        return on_output

    def _on_start(self, st) -> None:
        declared = self._declared.get(st.name)
        if declared is None:
            st.add_listener(self._dynamic_listener(st))
        else:
            st.add_listener(self._listener(st, *declared))

    def _check(self, name: str, columns: tuple) -> str | None:
        declared = self._declared.get(name)
        if declared is None or declared[1] == columns:
            return None
        stream, have = declared
        return (f"statement '{name}' now selects ({', '.join(columns)}) but its output stream "
                f"'{stream}' was declared with ({', '.join(have)}) when the topology was built; a "
                "running topology cannot change a stream's fields (Storm declares them at build "
                "time): select the same columns (rename with 'as'), give the statement a new "
                "@Name (it then emits on the 'dynamic' stream), or restart the topology")

    def _poll_rules(self, force: bool = False) -> None:
        text = self._watcher.changed(force)
        if text is not None:
            report = RuleSet.parse(text, prefix=self.name).apply(
                self.engine, check=self._check, on_start=self._on_start)
            for r in report.results:
                if r.action == "rejected":
                    self._errors[r.name] = r.error
                else:
                    self._errors.pop(r.name, None)
            self._last_apply = {"version": self._watcher.version, "applied_ms": int(time.time() * 1000),
                                "results": [r.to_json() for r in report.results]}
            self._variables.apply(self.engine, force=True)
            self._write_status()
            return
        if self._variables.apply(self.engine, force):
            self._write_status()
            return
        now = time.monotonic()
        if force or now >= self._next_status:
            counts = tuple((st.name, st.events_in, st.rows_out) for st in self.engine.statements)
            if force or counts != self._counts or now >= self._next_heartbeat:
                self._write_status()

    def _write_status(self, running: bool = True) -> None:
        statements = []
        for st in self.engine.statements:
            declared = self._declared.get(st.name)
            statements.append({"name": st.name, "text": st.text, "events_in": st.events_in,
                               "rows_out": st.rows_out, "stream": declared[0] if declared else DYNAMIC_STREAM,
                               "last_error": self._errors.get(st.name)})
        self._counts = tuple((s["name"], s["events_in"], s["rows_out"]) for s in statements)
        now = time.monotonic()
        self._next_status = now + _STATUS_EVERY_S
        self._next_heartbeat = now + HEARTBEAT_S
        # pid + its start time identify the process (a reader tells a stopped task from a
        # live one, pids being reused); heartbeat_s: how often a live task rewrites this
        status = {"component": self._component, "task": self._task_index,
                  "pid": os.getpid(), "pid_started": self._pid_started, "running": running,
                  "heartbeat_s": HEARTBEAT_S, "updated_ms": int(time.time() * 1000),
                  "rules_file": str(self._rules.rules_path), **self._last_apply,
                  "statements": statements, "variables": self._variables.status(self.engine)}
        try:
            self._rules.write_status(self._status_key, status)
        except OSError:
            pass   # a status that cannot be written must not stop the stream; retried later

    def poll(self) -> int:
        """Watched rules (``rules_dir``): apply a new version; refresh the status file."""
        if self._watcher is not None:
            self._poll_rules()
        return 0

    def cleanup(self) -> None:
        if getattr(self, "_watcher", None) is not None:
            self._write_status(running=False)

    def process(self, tup: Tuple) -> None:
        if is_tick(tup):
            if not self.time_field:
                self.engine.poll()
            return
        # Keyed by the source object (identity hash), not its Fields (a hash over names).
        layout = self._layouts.get(tup.source)
        if layout is None:
            layout = self._layouts[tup.source] = self._layout(tup.source.fields)
        names, time_of, key_of = layout
        values = tup.values
        if key_of is not None and self._is_duplicate(key_of(values)):
            self.collector.ack(tup)
            return
        event = dict(zip(names, values))
        if time_of is not None:
            ts = time_of(values)
            engine = self.engine
            if not self._started:
                # The external clock starts where the event time starts, so the first
                # batch begins at the first event, not at epoch 0.
                engine.advance_time(ts)
                self._started = True
            elif ts > engine.current_time_ms:
                engine.advance_time(ts)
        self.engine.send(self.event_type, event)
        self.collector.ack(tup)

    def _layout(self, fields: Fields) -> tuple:
        """Once per input stream: the event property names, and getters of the time and
        dedupe fields (None when not configured)."""
        names = tuple(self.properties.get(f, f) for f in fields)
        return (names, _getter(fields, self.time_field) if self.time_field else None,
                _getter(fields, self.dedupe_field) if self.dedupe_field is not None else None)

    def _is_duplicate(self, key: Any) -> bool:
        seen = self._seen
        if key in seen:
            self.duplicates += 1
            return True
        now = self.engine.current_time_ms
        seen[key] = now
        if len(seen) % 4096 == 0:
            # Forget keys older than the horizon; arrival order is about event order.
            cutoff = now - self.dedupe_horizon_ms
            for k in [k for k, t in seen.items() if t < cutoff]:
                del seen[k]
        return False

    # -- checkpoints: the engine's open windows, the clock and the dedupe keys are state

    def init_state(self, state) -> None:
        self.state = state
        if self._started or self.engine.current_time_ms != self._fresh_time:
            self.prepare(*self._prepare_args)      # a rollback: start from a fresh engine
        saved = state.get("cep")
        if saved is not None:
            self.engine.restore(saved["engine"])
            self._seen = dict(saved["seen"])
            self._started = saved["started"]
            if self._watcher is not None:   # sets after the checkpoint are applied again
                self._variables.rewind(saved.get("variables_seq", 0))

    def pre_prepare(self, txid: int) -> None:
        self.state.put("cep", {"engine": self.engine.snapshot(), "seen": self._seen,
                               "started": self._started, "variables_seq":
                               self._variables.applied if self._watcher is not None else 0})

    def end_of_input(self) -> None:
        if self.time_field and self._started:
            self.engine.advance_time(self.engine.current_time_ms + _END_OF_INPUT_JUMP_MS)
        elif not self.time_field:
            self.engine.poll()
        if self._watcher is not None:
            self._write_status()


def _partitioning(statements, event_type: str,
                  properties: Mapping[str, str]) -> tuple[tuple[str, ...] | None, str | None]:
    """``(input fields, None)`` when the statements can run split by those fields, else
    ``(None, reason)`` (see :meth:`CepBolt.partition_fields`)."""
    shared: list[str] | None = None
    for st in statements:
        plan = st.plan
        if isinstance(plan, (CreateContextPlan, CreateVariablePlan, CreateSchemaPlan)):
            continue     # declarations: each task holds the same copy
        if not isinstance(plan, ContextPlan):
            return None, (f"statement '{st.name}' does not run in a context: its rows depend on "
                          "every event, so one task must see them all (declare 'create context C "
                          "partition by <property> from " + event_type + "' and write 'context C "
                          "select ...')")
        if plan.store.context_kind != "keyed":
            return None, (f"statement '{st.name}' runs in context '{plan.store.name}', which is "
                          f"{plan.store.context_kind}, not keyed segmented ('partition by'): only "
                          "a keyed context splits its events by a property")
        if plan.event_type != event_type:
            return None, (f"statement '{st.name}' reads '{plan.event_type}', not the bolt's input "
                          f"'{event_type}': a stream made inside the engine is not split by the grouping")
        level, reads = plan, set()
        while isinstance(level, ContextPlan):
            reads |= level.reads
            level = level.inner
        if "id" in reads:
            return None, (f"statement '{st.name}' reads context.id, which each engine numbers in "
                          "its own order of partitions: tasks would give other ids than one engine")
        keys = plan.store.keys.get(event_type, ())
        shared = list(keys) if shared is None else [k for k in shared if k in keys]
        if not shared:
            return None, (f"statement '{st.name}' is partitioned by ({', '.join(keys)}), and the "
                          "statements before it by other properties: no property splits them all")
    if shared is None:
        return None, "the rule has no statement that outputs rows"
    fields = []
    for prop in shared:
        named = [f for f, p in properties.items() if p == prop]
        if len(named) > 1:
            return None, (f"the partition property '{prop}' is the name of input fields "
                          f"{', '.join(named)}: which one to group by is ambiguous")
        fields.append(named[0] if named else prop)
    return tuple(fields), None


def _getter(fields: Fields, name: str) -> Callable[[list], Any]:
    if name in fields:
        return itemgetter(fields.index(name))

    def missing(values):
        # The stream lacks the field: each tuple fails with Fields.index's unknown-field error.
        return values[fields.index(name)]
    return missing


def _import_object(path: str, what: str):
    """``"package.module:attribute"`` -> the object (a topology's own code, named in its
    spec; never a path read from data).

    Raises:
        ValueError: the path is malformed or does not resolve (the message names it).
    """
    module, _, attr = str(path).partition(":")
    if not module or not attr:
        raise ValueError(f"CepBolt plug-in {what}: expected 'package.module:attribute', got {path!r}")
    try:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"CepBolt plug-in {what}: cannot import {path!r}: {exc}") from exc
    return obj
