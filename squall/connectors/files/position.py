"""Position files: where a file source has read up to, saved atomically.

A source only saves offsets up to which every line was acked, so a restart resumes at
the first line not yet delivered: nothing is lost, and after a graceful stop nothing is
repeated. After a crash, lines acked since the last save are read again
(at-least-once), as Flume's TAILDIR and spooling-directory sources document.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["PositionFile", "AckedOffsets"]


class PositionFile:
    """A small JSON document replaced atomically (write to a temp file, fsync, rename)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any]:
        """The saved document, or ``{}`` when there is none yet.

        Raises:
            ValueError: the file exists but is not a JSON object (names the file).
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"position file {self.path} is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise ValueError(f"position file {self.path} must hold a JSON object")
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


class AckedOffsets:
    """Tracks the lines of one file in flight; ``committed`` is the end offset of the
    longest prefix of lines that are all acked.

    Lines are registered in file order by their end offset; acks may come in any order.

    >>> a = AckedOffsets(0)
    >>> for end in (10, 20, 30): a.emitted(end)
    >>> a.acked(20); a.committed
    0
    >>> a.acked(10); a.committed
    20
    """

    __slots__ = ("committed", "_order", "_done")

    def __init__(self, committed: int) -> None:
        self.committed = committed
        self._order: list[int] = []   # end offsets in emission order, not yet committed
        self._done: set[int] = set()

    def emitted(self, end: int) -> None:
        self._order.append(end)

    def acked(self, end: int) -> None:
        self._done.add(end)
        order, done = self._order, self._done
        i = 0
        while i < len(order) and order[i] in done:
            done.discard(order[i])
            i += 1
        if i:
            self.committed = order[i - 1]
            del order[:i]

    @property
    def in_flight(self) -> int:
        return len(self._order)

    def snapshot(self) -> tuple[int, list[int], list[int]]:
        """Plain data to checkpoint: ``(committed, in-flight end offsets in emission
        order, end offsets among them already acked)``; :meth:`restore` takes it back.

        >>> a = AckedOffsets(0)
        >>> for end in (10, 20, 30): a.emitted(end)
        >>> a.acked(20); a.snapshot()
        (0, [10, 20, 30], [20])
        >>> b = AckedOffsets.restore(a.snapshot()); b.acked(10); b.committed
        20
        """
        return self.committed, list(self._order), sorted(self._done)

    @classmethod
    def restore(cls, snapshot: tuple[int, list[int], list[int]]) -> AckedOffsets:
        committed, order, done = snapshot
        acked = cls(committed)
        acked._order = list(order)
        acked._done = set(done)
        return acked
