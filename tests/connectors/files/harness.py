"""Drive a file source by hand, without a cluster: every emitted line is acked at once,
and nothing depends on wall-clock time (poll and save intervals of zero)."""

from __future__ import annotations

import os
from pathlib import Path


class Collector:
    """Records what a spout emits; the driver acks it."""

    def __init__(self) -> None:
        self.emitted: list[tuple[object, list]] = []

    def emit(self, values, stream="default", anchors=(), direct_task=None, message_id=None):
        self.emitted.append((message_id, list(values)))
        return []


def open_spout(spout, state=None) -> Collector:
    collector = Collector()
    spout.open({}, None, collector)
    if state is not None:
        spout.init_state(state)
    return collector


def drain(spout, collector: Collector, steps: int = 400) -> list[bytes]:
    """Call ``next_tuple`` up to ``steps`` times (until exhausted), acking every line;
    returns the lines emitted."""
    acked = 0
    for _ in range(steps):
        if spout.exhausted():
            break
        spout.next_tuple()
        while acked < len(collector.emitted):
            spout.ack(collector.emitted[acked][0])
            acked += 1
    return [values[0] for _, values in collector.emitted]


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed): relative path -> what it is and holds."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            elif p.is_file():
                st = p.stat()
                out[rel] = ("file", p.read_bytes(), st.st_ino, st.st_mtime_ns)
            else:
                out[rel] = ("other",)
    return out
