"""Window bookkeeping without a runtime: buffer items, advance a watermark, fire windows.

Items are opaque (the executor stores tuples). Event time is epoch milliseconds.

Rules (Storm docs: Windowing Support in Core Storm, "Tuple timestamp and out of order
tuples", "Watermarks"):

- Duration windows cover ``(end - length, end]``; window ends are multiples of the
  slide; the first end is the ceiling of the earliest timestamp, and empty windows are
  skipped (the next end is the ceiling of the next timestamp), as Storm's
  ``WatermarkTimeTriggerPolicy``; the ceiling of a timestamp on a slide boundary is
  itself (Storm adds a slide there, which puts such a tuple in no tumbling window).
  A window fires once ``end < watermark``.
- An item is late when ``ts < watermark`` at arrival (Storm's
  ``WaterMarkEventGenerator.track``). Because windows fire only when ``end <
  watermark``, an item at exactly the watermark (within the lag) still lands in every
  window it belongs to. (Storm fires at ``end <= watermark``, which can miss such an
  item; this is the one deliberate difference.)
- Count windows on event time take items in timestamp order as the watermark passes
  them; every ``slide`` items the last ``length`` items fire. On processing time items
  are taken on arrival.
- ``flush()`` (end of input) takes everything and fires every remaining window; a
  partial count window holds the last ``length - slide + k`` items, k being the items
  taken since the last firing (so a tumbling one holds just those k).
- An item is *expired* in the first window fired after it left every future window;
  ``flush`` returns what is still held after the last window so the caller can settle it.

>>> m = WindowManager(Duration(10), Duration(10))
>>> [m.add(ts, ts) for ts in (3, 7, 12, 25)]
[True, True, True, True]
>>> [(w.get(), w.get_expired(), w.end_ms) for w in m.advance(21)]
[([3, 7], [], 10), ([12], [3, 7], 20)]
>>> m.add(15, 15)     # 15 < watermark 21: late
False
>>> fired, left = m.flush()
>>> [(w.get(), w.get_new(), w.get_expired()) for w in fired], left
([([25], [25], [12])], [25])
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import deque
from collections.abc import Callable
from typing import Any

from .spec import Count, Duration
from .window import TupleWindow

__all__ = ["WindowManager"]

_NO_WATERMARK = -(1 << 62)
_END_OF_TIME = 1 << 62


class WindowManager:
    """Buffers items by event time and yields :class:`TupleWindow` firings.

    Args:
        length, slide: both :class:`Count` or both :class:`Duration`.
        event_time: False takes items in arrival order on ``add`` (count windows only
            care); duration windows always need ``advance`` to fire.

    Threading: not thread-safe; one instance per bolt task.
    """

    def __init__(self, length: Count | Duration, slide: Count | Duration, event_time: bool = True) -> None:
        self.count = isinstance(length, Count)
        self.length = length.n if self.count else length.ms
        self.slide = slide.n if self.count else slide.ms
        self.event_time = event_time
        self.watermark_ms = _NO_WATERMARK
        self._seq = 0
        # Sorted (ts, seq, item): duration windows keep every item not yet expired here;
        # count windows keep items not yet taken (ts >= watermark).
        self._buffer: list[tuple[int, int, Any]] = []
        # Duration windows.
        self._prev_end: int | None = None
        # Count windows.
        self._win: deque[Any] = deque()
        self._new: list[Any] = []
        self._expired: list[Any] = []
        self._ready: list[TupleWindow] = []

    # -- input ----------------------------------------------------------------------

    def add(self, ts_ms: int, item: Any) -> bool:
        """Buffer ``item``; False (and nothing buffered) when it is late."""
        if ts_ms < self.watermark_ms:
            return False
        if self.count and not self.event_time:
            self._take(item, self._ready)
            return True
        self._seq += 1
        entry = (ts_ms, self._seq, item)
        buf = self._buffer
        if not buf or buf[-1][:2] < entry[:2]:
            buf.append(entry)
        else:
            insort(buf, entry, key=lambda e: e[:2])
        return True

    def ready(self) -> list[TupleWindow]:
        """Windows fired by ``add`` itself (count windows on processing time)."""
        fired, self._ready = self._ready, []
        return fired

    # -- time -----------------------------------------------------------------------

    def advance(self, watermark_ms: int) -> list[TupleWindow]:
        """Move the watermark forward (never back) and return the windows it fires."""
        if watermark_ms > self.watermark_ms:
            self.watermark_ms = watermark_ms
        fired: list[TupleWindow] = []
        if self.count:
            self._release(self.watermark_ms, fired)
        else:
            self._fire_durations(self.watermark_ms, fired)
        return fired

    def flush(self) -> tuple[list[TupleWindow], list[Any]]:
        """End of input: fire every remaining window.

        Returns:
            ``(windows, held)``: the windows fired, in order, and the items still held
            by the last of them (they expire with the input).
        """
        fired: list[TupleWindow] = self.ready()
        if self.count:
            self._release(_END_OF_TIME, fired)
            if self._new:
                # The partial window is what the next trigger would have held, minus
                # the items that never came: the last length - slide + len(new) items.
                keep = self.length - self.slide + len(self._new)
                while len(self._win) > keep:
                    self._expired.append(self._win.popleft())
                self._fire_count(fired)
            held = list(self._win)
            self._win.clear()
        else:
            self._fire_durations(_END_OF_TIME, fired)
            held = [e[2] for e in self._buffer]
            self._buffer.clear()
        return fired, held

    # -- checkpoints ----------------------------------------------------------------

    def snapshot(self, encode: Callable[[Any], Any]) -> dict:
        """Everything held, as plain data, each item passed through ``encode``."""
        return {"watermark_ms": self.watermark_ms, "seq": self._seq, "prev_end": self._prev_end,
                "buffer": [(ts, seq, encode(item)) for ts, seq, item in self._buffer],
                "win": [encode(i) for i in self._win], "new": [encode(i) for i in self._new],
                "expired": [encode(i) for i in self._expired]}

    def restore(self, data: dict, decode: Callable[[Any], Any]) -> None:
        """Load a :meth:`snapshot`, each item passed through ``decode``."""
        self.watermark_ms = data["watermark_ms"]
        self._seq = data["seq"]
        self._prev_end = data["prev_end"]
        self._buffer = [(ts, seq, decode(item)) for ts, seq, item in data["buffer"]]
        self._win = deque(decode(i) for i in data["win"])
        self._new = [decode(i) for i in data["new"]]
        self._expired = [decode(i) for i in data["expired"]]
        self._ready = []

    def map_items(self, fn: Callable[[Any], Any]) -> None:
        """Replace every held item ``x`` by ``fn(x)`` (same order, same timestamps)."""
        self._buffer = [(ts, seq, fn(item)) for ts, seq, item in self._buffer]
        self._win = deque(fn(i) for i in self._win)
        self._new = [fn(i) for i in self._new]
        self._expired = [fn(i) for i in self._expired]

    # -- count windows --------------------------------------------------------------

    def _release(self, watermark_ms: int, fired: list[TupleWindow]) -> None:
        buf = self._buffer
        i = 0
        n = len(buf)
        while i < n and buf[i][0] < watermark_ms:
            self._take(buf[i][2], fired)
            i += 1
        if i:
            del buf[:i]

    def _take(self, item: Any, fired: list[TupleWindow]) -> None:
        win = self._win
        win.append(item)
        self._new.append(item)
        if len(win) > self.length:
            self._expired.append(win.popleft())
        if len(self._new) == self.slide:
            self._fire_count(fired)

    def _fire_count(self, fired: list[TupleWindow]) -> None:
        fired.append(TupleWindow(list(self._win), self._new, self._expired))
        self._new = []
        self._expired = []

    # -- duration windows -----------------------------------------------------------

    def _ceil(self, ts: int) -> int:
        return -(-ts // self.slide) * self.slide

    def _fire_durations(self, watermark_ms: int, fired: list[TupleWindow]) -> None:
        buf = self._buffer
        if not buf:
            return
        length = self.length
        # Recomputed on every advance, never carried over: an item that arrives later
        # (ts >= watermark) may belong to a window before one the last jump aimed at.
        prev = self._prev_end
        end = self._ceil(buf[0][0]) if prev is None else prev + self.slide
        while end < watermark_ms:
            start = end - length
            lo = bisect_right(buf, start, key=lambda e: e[0])
            hi = bisect_right(buf, end, key=lambda e: e[0])
            if lo == hi:   # empty window: jump to the first one holding the next item
                if hi == len(buf):
                    break
                end = self._ceil(buf[hi][0])
                continue
            prev_end = self._prev_end
            new_from = lo if prev_end is None else max(lo, bisect_right(buf, prev_end, key=lambda e: e[0]))
            fired.append(TupleWindow([e[2] for e in buf[lo:hi]], [e[2] for e in buf[new_from:hi]],
                                     [e[2] for e in buf[:lo]], start, end))
            del buf[:lo]
            self._prev_end = end
            end += self.slide
