"""Drive a bolt directly: a recording collector and tuples from a named stream."""

from __future__ import annotations

from squall.component import OutputCollector, TopologyContext
from squall.tuple import Fields, Tuple, TupleSource


class Recorder(OutputCollector):
    """Records acks, fails, emits and reported errors."""

    def __init__(self) -> None:
        self.acked: list[Tuple] = []
        self.failed: list[Tuple] = []
        self.emitted: list[tuple[list, tuple]] = []
        self.errors: list[BaseException] = []

    def emit(self, values, stream="default", anchors=(), direct_task=None):
        self.emitted.append((list(values), tuple(anchors)))
        return []

    def ack(self, tup):
        self.acked.append(tup)

    def fail(self, tup):
        self.failed.append(tup)

    def report_error(self, error):
        self.errors.append(error)


def prepared(bolt):
    """Prepare ``bolt`` with a :class:`Recorder`; returns the recorder."""
    rec = Recorder()
    bolt.prepare({}, TopologyContext(topology=None, component_id="redis", task_id=1, component_tasks=(1,)), rec)
    return rec


def tuples(fields, rows, component="src"):
    src = TupleSource(component, 1, "default", Fields(fields))
    return [Tuple(list(r), src, None) for r in rows]


def reads_processed(client) -> int:
    """The server's count of read events on client sockets (one per received packet batch)."""
    return int(client.info("stats")["total_reads_processed"])
