"""Drive a bolt directly: a recording collector and tuples from a named stream."""

from __future__ import annotations

from squall.component import TopologyContext
from squall.testing import RecordingCollector as Recorder
from squall.tuple import Fields, Tuple, TupleSource


def prepared(bolt):
    """Prepare ``bolt`` with a recording collector; returns it."""
    rec = Recorder()
    bolt.prepare({}, TopologyContext(topology=None, component_id="redis", task_id=1, component_tasks=(1,)), rec)
    return rec


def tuples(fields, rows, component="src"):
    src = TupleSource(component, 1, "default", Fields(fields))
    return [Tuple(list(r), src, None) for r in rows]


def reads_processed(client) -> int:
    """The server's count of read events on client sockets (one per received packet batch)."""
    return int(client.info("stats")["total_reads_processed"])
