"""``CepBolt``: runs EPL statements over a stream inside a topology.

Each input tuple becomes one event of ``event_type`` (its fields renamed by
``properties``). With ``time_field`` the engine runs on event time: the clock is
advanced to the tuple's timestamp (epoch ms) before the event is sent, never
backwards (an older event is processed at the current time, as Esper's external clock
does). Without it the engine runs on the wall clock and tick tuples fire due batches.

Output: one stream per statement (``default`` for the first, ``<name>`` for others),
fields = the statement's select columns + ``window_start``, ``window_end`` (epoch ms,
None for windows without bounds).

Guarantees: an input tuple is acked once the engine has taken it. With
``dedupe_field`` an event whose key was already taken within ``dedupe_horizon_ms`` of
event time is acked and dropped: a replay caused by a failure elsewhere in its tuple
tree (a store that was down) does not count the event twice. The window is held
in memory, so outputs are emitted unanchored (anchoring them to the events would
replay events into the next window on a downstream failure and double-count).
Exactly-once windows need checkpointed state (a later milestone). At end of input the
clock jumps past every open window so the last batch fires, as Esper's
``advance_time`` at end of a replay.

Semantics: Esper 8 reference, "Time batch window" and external timer control;
runs the engine of :mod:`squall.cep.engine`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from squall.component import Bolt
from squall.config import TICK_TUPLE_FREQ_SECS
from squall.tuple import DEFAULT_STREAM, Tuple, is_tick

from .engine import EPLEngine, ExternalClock, WallClock

__all__ = ["CepBolt"]

_END_OF_INPUT_JUMP_MS = 10 * 24 * 3600 * 1000


class CepBolt(Bolt):
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

    Raises (at build time):
        EPLSyntaxError / EPLCompileError: the rule does not parse or compile.
    """

    def __init__(self, epl: str, event_type: str, properties: Mapping[str, str] | None = None,
                 time_field: str | None = None, name: str = "rule", dedupe_field: str | None = None,
                 dedupe_horizon_ms: int = 600_000) -> None:
        self.epl = epl
        self.dedupe_field = dedupe_field
        self.dedupe_horizon_ms = dedupe_horizon_ms
        self.event_type = event_type
        self.properties = dict(properties or {})
        self.time_field = time_field
        self.name = name
        # Compile once now: a bad rule fails the build, and the output fields are known.
        self._streams = self._compile(EPLEngine(ExternalClock(0)))[1]

    def _compile(self, engine: EPLEngine):
        statements = engine.compile(self.epl, name=self.name)
        streams = []
        for i, st in enumerate(statements):
            streams.append((DEFAULT_STREAM if i == 0 else st.name, tuple(st.columns)))
        return statements, streams

    def output_columns(self, stream: str = DEFAULT_STREAM) -> tuple[str, ...]:
        """The select columns a statement's stream carries (before the window fields)."""
        return dict(self._streams)[stream]

    def declare_output_fields(self, declarer):
        for stream, columns in self._streams:
            declarer.declare_stream(stream, [*columns, "window_start", "window_end"]) \
                if stream != DEFAULT_STREAM else declarer.declare([*columns, "window_start", "window_end"])

    def component_configuration(self):
        return None if self.time_field else {TICK_TUPLE_FREQ_SECS: 1}

    def prepare(self, config, context, collector):
        self.collector = collector
        self.engine = EPLEngine(ExternalClock(0) if self.time_field else WallClock())
        statements, streams = self._compile(self.engine)
        for st, (stream, columns) in zip(statements, streams):
            st.add_listener(self._listener(st, stream, columns))
        self._started = False
        self._names: dict = {}
        self._seen: dict = {}      # dedupe key -> event time (ms), in arrival order
        self.duplicates = 0

    def _listener(self, st, stream: str, columns: tuple[str, ...]):
        emit = self.collector.emit

        def on_output(new_rows: list[dict[str, Any]], old_rows: list[dict[str, Any]]) -> None:
            window = st.last_output_window or (None, None)
            for row in new_rows:
                emit([*(row[c] for c in columns), window[0], window[1]], stream)
        return on_output

    def process(self, tup: Tuple) -> None:
        if is_tick(tup):
            if not self.time_field:
                self.engine.poll()
            return
        fields = tup.source.fields
        names = self._names.get(fields)
        if names is None:  # once per input stream: field names -> event property names
            names = self._names[fields] = tuple(self.properties.get(f, f) for f in fields)
        if self.dedupe_field is not None and self._is_duplicate(tup, fields):
            self.collector.ack(tup)
            return
        event = dict(zip(names, tup.values))
        if self.time_field:
            ts = tup.values[fields.index(self.time_field)]
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

    def _is_duplicate(self, tup: Tuple, fields) -> bool:
        key = tup.values[fields.index(self.dedupe_field)]
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

    def end_of_input(self) -> None:
        if self.time_field and self._started:
            self.engine.advance_time(self.engine.current_time_ms + _END_OF_INPUT_JUMP_MS)
        elif not self.time_field:
            self.engine.poll()
