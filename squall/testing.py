"""A testing kit: a list spout, a list sink, a clock the test advances, and a collector
that records what one bolt does when a test drives it directly.

Components are built once per task, maybe in another process (the Ray runtime), so
the kit keeps what it sees in a journal file under a name the test chooses: a private
directory of the process that made the component (``SQUALL_TESTKIT_DIR`` to choose
it), whose path travels with the component. Any process on the machine appends to it.

>>> from squall.topology import TopologyBuilder
>>> from squall.runtime import run_topology
>>> b = TopologyBuilder()
>>> b.set_spout("src", ListSpout([["a"], ["b"]], ["w"], name="kit-doc"))
>>> _ = b.set_bolt("sink", ListSink("kit-doc")).shuffle_grouping("src")
>>> run_topology(b.build()).completed
True
>>> sorted(ListSink.values("kit-doc")), sorted(ListSpout.acked("kit-doc"))
([['a'], ['b']], [0, 1])
"""

from __future__ import annotations

import atexit
import os
import pickle
import shutil
import struct
import tempfile
import threading
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .component import Bolt, OutputCollector, OutputFieldsDeclarer, Spout, Stateful
from .tuple import DEFAULT_STREAM, Tuple, is_tick

__all__ = ["ListSpout", "ListSink", "ManualClock", "RecordingCollector"]

_lock = threading.Lock()
_dir: Path | None = None
_FRAME = struct.Struct("<I")


def _kit_dir() -> Path:
    """This process's journal directory (created on first use, removed at exit)."""
    global _dir
    with _lock:
        if _dir is None:
            chosen = os.environ.get("SQUALL_TESTKIT_DIR")
            if chosen:
                _dir = Path(chosen)
                _dir.mkdir(parents=True, exist_ok=True)
            else:
                _dir = Path(tempfile.mkdtemp(prefix="squall-testkit-"))
                atexit.register(shutil.rmtree, _dir, True)
        return _dir


def _journal(kind: str, name: str) -> str:
    # The name is the test's; hex keeps any name a single safe file name.
    return str(_kit_dir() / f"{kind}-{name.encode().hex()}")


def _append(path: str, record: Any) -> None:
    # One write per record on an O_APPEND descriptor: records of concurrent writers
    # (tasks in several processes) never interleave, and the file order is arrival order.
    data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, _FRAME.pack(len(data)) + data)
    finally:
        os.close(fd)


def _read(path: str) -> list[Any]:
    # Only files this kit wrote, in a directory private to the test's process tree, are
    # unpickled here.
    try:
        with open(path, "rb") as fh:
            blob = fh.read()
    except FileNotFoundError:
        return []
    out, pos = [], 0
    while pos + _FRAME.size <= len(blob):
        (n,) = _FRAME.unpack_from(blob, pos)
        end = pos + _FRAME.size + n
        if end > len(blob):
            break                       # a record still being written
        out.append(pickle.loads(blob[pos + _FRAME.size:end]))
        pos = end
    return out


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class ListSpout(Stateful, Spout):
    """Emits the given rows once each, reliably, and replays a row when it fails.

    Args:
        rows: the values of each tuple, in order.
        fields: the declared output fields.
        name: registry key for ``acked``/``failed`` (optional).
        reliable: emit with a message id (the row index) so trees are tracked.
        max_replays: replays per row before it is given up (None: forever).

    With several tasks, task *i* of *n* emits rows ``i, i+n, ...``. ``exhausted()`` is
    True once every row was emitted and none awaits its ack.

    Checkpointed (with a state backend), its position is the rows not yet acked: a
    restored spout emits exactly those again.
    """

    def __init__(self, rows: Iterable[Sequence[Any]], fields: Sequence[str], name: str | None = None,
                 reliable: bool = True, stream: str = DEFAULT_STREAM, max_replays: int | None = None) -> None:
        self.rows = [list(r) for r in rows]
        self.fields = list(fields)
        self.name = name
        self.reliable = reliable
        self.stream = stream
        self.max_replays = max_replays
        self.journal = _journal("spout", name) if name else None

    def declare_output_fields(self, declarer: OutputFieldsDeclarer) -> None:
        declarer.declare_stream(self.stream, self.fields) if self.stream != DEFAULT_STREAM \
            else declarer.declare(self.fields)

    def open(self, config, context, collector):
        self.collector = collector
        n = len(context.component_tasks)
        self._mine = range(context.task_index, len(self.rows), n)
        self._todo = deque(self._mine)
        self._pending: set[int] = set()
        self._replays: dict[int, int] = defaultdict(int)

    def init_state(self, state):
        self.state = state
        self._todo = deque(state.get("left", self._mine))
        self._pending.clear()

    def pre_prepare(self, txid):
        self.state.put("left", sorted({*self._pending, *self._todo}))

    def next_tuple(self):
        if not self._todo:
            return
        i = self._todo.popleft()
        if self.reliable:
            self._pending.add(i)
            self.collector.emit(self.rows[i], self.stream, message_id=i)
        else:
            self.collector.emit(self.rows[i], self.stream)

    def ack(self, msg_id):
        self._pending.discard(msg_id)
        if self.journal:
            _append(self.journal, ("acked", msg_id))

    def fail(self, msg_id):
        if self.journal:
            _append(self.journal, ("failed", msg_id))
        self._replays[msg_id] += 1
        if self.max_replays is not None and self._replays[msg_id] > self.max_replays:
            self._pending.discard(msg_id)
            return
        self._todo.append(msg_id)

    def exhausted(self):
        return not self._todo and not self._pending

    def emitted_all(self):
        return not self._todo

    @staticmethod
    def acked(name: str) -> list[Any]:
        return [m for kind, m in _read(_journal("spout", name)) if kind == "acked"]

    @staticmethod
    def failed(name: str) -> list[Any]:
        return [m for kind, m in _read(_journal("spout", name)) if kind == "failed"]

    @staticmethod
    def reset(name: str) -> None:
        _remove(_journal("spout", name))


class ListSink(Bolt):
    """Records every tuple it receives under ``name`` and acks it (ticks are skipped).

    ``ListSink.values(name)`` gives the values, ``ListSink.received(name)`` gives
    ``(source component, stream, values)`` triples, in arrival order.
    """

    def __init__(self, name: str, ack: bool = True) -> None:
        self.name = name
        self.ack = ack
        self.journal = _journal("sink", name)
        ListSink.reset(name)

    def process(self, tup: Tuple) -> None:
        if is_tick(tup):
            return
        _append(self.journal, (tup.source_component, tup.stream, list(tup.values)))
        if self.ack:
            self.collector.ack(tup)

    @staticmethod
    def record(name: str, values: Sequence[Any], source: str = "", stream: str = DEFAULT_STREAM) -> None:
        """Record ``values`` under ``name`` as if received: for test bolts of your own
        (in this process's journal: call it from a bolt run by the local runtime)."""
        _append(_journal("sink", name), (source, stream, list(values)))

    @staticmethod
    def values(name: str) -> list[list[Any]]:
        return [v for _, _, v in _read(_journal("sink", name))]

    @staticmethod
    def received(name: str) -> list[tuple[str, str, list[Any]]]:
        return [tuple(r) for r in _read(_journal("sink", name))]

    @staticmethod
    def reset(name: str) -> None:
        _remove(_journal("sink", name))


class ManualClock:
    """A clock that moves only when the test says so; ``clock()`` returns seconds.

    >>> c = ManualClock(100.0); c.advance(2.5); c()
    102.5
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self.now_s += seconds


class RecordingCollector(OutputCollector):
    """An output collector that records what a bolt does, for a test that calls the
    bolt's ``prepare``/``process`` itself (no runtime, no acker).

    Attributes:
        emitted: ``(values, anchors)`` per emit, both lists, in order.
        acked, failed: the input tuples acked or failed, in order.
        errors: what the bolt passed to ``report_error``.

    >>> rec = RecordingCollector()
    >>> rec.emit(["a", 1], anchors=("t",))
    []
    >>> rec.ack("t"); rec.emitted, rec.acked
    ([(['a', 1], ['t'])], ['t'])
    """

    def __init__(self) -> None:
        self.emitted: list[tuple[list[Any], list[Any]]] = []
        self.acked: list[Any] = []
        self.failed: list[Any] = []
        self.errors: list[BaseException] = []

    def emit(self, values, stream=DEFAULT_STREAM, anchors=(), direct_task=None) -> list[int]:
        self.emitted.append((list(values), list(anchors)))
        return []

    def ack(self, tup) -> None:
        self.acked.append(tup)

    def fail(self, tup) -> None:
        self.failed.append(tup)

    def report_error(self, error: BaseException) -> None:
        self.errors.append(error)
