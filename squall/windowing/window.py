"""The view a windowed bolt gets of one window: current, new and expired tuples.

Semantics: Storm docs: Windowing Support in Core Storm (``TupleWindow``: ``get``,
``getNew``, ``getExpired``, ``getStartTimestamp``, ``getEndTimestamp``).
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["TupleWindow"]

T = TypeVar("T")


class TupleWindow(Generic[T]):
    """One fired window.

    Attributes:
        start_ms, end_ms: the window covers event times ``start_ms < ts <= end_ms``
            (epoch ms); None for count windows.

    The lists are in event-time order (arrival order on processing time); the same
    tuple objects appear in successive windows of a sliding window.

    >>> w = TupleWindow(["b", "c"], ["c"], ["a"], 0, 10)
    >>> w.get(), w.get_new(), w.get_expired(), w.start_ms, w.end_ms, len(w)
    (['b', 'c'], ['c'], ['a'], 0, 10, 2)
    """

    __slots__ = ("_current", "_new", "_expired", "start_ms", "end_ms")

    def __init__(self, current: list[T], new: list[T], expired: list[T],
                 start_ms: int | None = None, end_ms: int | None = None) -> None:
        self._current = current
        self._new = new
        self._expired = expired
        self.start_ms = start_ms
        self.end_ms = end_ms

    def get(self) -> list[T]:
        """Every tuple in this window."""
        return self._current

    def get_new(self) -> list[T]:
        """Tuples in this window that were in no earlier fired window."""
        return self._new

    def get_expired(self) -> list[T]:
        """Tuples of earlier windows that are in neither this window nor any later one."""
        return self._expired

    def __len__(self) -> int:
        return len(self._current)

    def __repr__(self) -> str:
        span = "" if self.end_ms is None else f" ({self.start_ms}, {self.end_ms}]"
        return (f"TupleWindow{span} current={len(self._current)} new={len(self._new)} "
                f"expired={len(self._expired)}")
