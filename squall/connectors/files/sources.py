"""File sources in the manner of Flume: follow a file (``tail -F``), or drain a spooling
directory. Both are reliable spouts that keep a position file.

Each emits ``(line, origin)`` on the default stream: ``line`` as bytes without its line
ending (a source does not guess encodings; the regex filter matches bytes), ``origin``
as ``"path:offset"``. The message id is ``(file identity, end offset)``; a failed line
is emitted again; the position file advances only over lines all acked, so a restart
neither loses nor, after a graceful stop, repeats a line.

Semantics: Flume User Guide, "Taildir Source" (position file, inode tracking) and
"Spooling Directory Source" (immutable files, ``.COMPLETED`` suffix or delete), and the
"Regex Filtering Interceptor"; ``tail -F`` for rotation (the name is followed, not the
file handle: after a rename or truncation the new file is read from its start).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import deque
from pathlib import Path
from typing import Any

from squall.component import Spout

from .position import AckedOffsets, PositionFile

__all__ = ["TailSpout", "SpoolDirSpout"]

log = logging.getLogger("squall.connectors.files")


class _LineSpout(Spout):
    """Lines from one open file at a time, with replay and per-file ack bookkeeping."""

    def __init__(self, position_file: str, include: str | None, save_interval_s: float,
                 poll_interval_s: float, max_line_bytes: int) -> None:
        self.position_file = str(position_file)
        self.include = include
        self.save_interval_s = save_interval_s
        self.poll_interval_s = poll_interval_s
        self.max_line_bytes = max_line_bytes

    def declare_output_fields(self, declarer):
        declarer.declare(["line", "origin"])

    def open(self, config, context, collector):
        self.collector = collector
        self._positions = PositionFile(self.position_file)
        self._match = re.compile(self.include.encode()).search if self.include else None
        self._pending: dict[tuple[Any, int], list[Any]] = {}
        self._replay: deque[tuple[Any, int]] = deque()
        self._files: dict[Any, AckedOffsets] = {}   # file identity -> acked prefix
        self._fh = None
        self._ident: Any = None
        self._name = ""
        self._offset = 0
        self._next_save = time.monotonic() + self.save_interval_s
        self._next_poll = 0.0
        self.filtered = 0

    # -- reading ----------------------------------------------------------------------

    def _read_line(self, final: bool = False) -> bool:
        """Emit the next complete line of the open file; False at (current) end of file.

        With ``final`` an unterminated last line counts as complete (the file will not
        grow any more)."""
        fh = self._fh
        line = fh.readline(self.max_line_bytes)
        if not line:
            return False
        if not final and not line.endswith(b"\n") and len(line) < self.max_line_bytes:
            fh.seek(self._offset)      # a partial line: wait for the writer to finish it
            return False
        start, end = self._offset, fh.tell()
        self._offset = end
        text = line.rstrip(b"\r\n")
        acked = self._files[self._ident]
        acked.emitted(end)
        if self._match is not None and not self._match(text):
            self.filtered += 1
            acked.acked(end)           # filtered out, as Flume's interceptor drops it
            return True
        msg_id = (self._ident, end)
        values = [text, f"{self._name}:{start}"]
        self._pending[msg_id] = values
        self.collector.emit(values, message_id=msg_id)
        return True

    def next_tuple(self):
        if self._replay:
            msg_id = self._replay.popleft()
            values = self._pending.get(msg_id)
            if values is not None:
                self.collector.emit(values, message_id=msg_id)
            return
        now = time.monotonic()
        if now >= self._next_save:
            self._next_save = now + self.save_interval_s
            self._save()
        if self._fh is not None and self._read_line():
            return
        if now >= self._next_poll:
            self._next_poll = now + self.poll_interval_s
            self._advance()

    def _advance(self) -> None:
        """At end of the open file: switch file if the source says so."""
        raise NotImplementedError

    def _read_rest_as_line(self) -> None:
        while self._read_line(final=True):
            pass

    def _open_file(self, path: Path, ident: Any, offset: int) -> None:
        if self._fh is not None:
            self._fh.close()
        self._fh = open(path, "rb")
        self._fh.seek(offset)
        self._ident, self._name, self._offset = ident, str(path), offset
        self._files.setdefault(ident, AckedOffsets(offset))

    # -- acking -----------------------------------------------------------------------

    def ack(self, msg_id):
        if self._pending.pop(msg_id, None) is None:
            return
        ident, end = msg_id
        acked = self._files.get(ident)
        if acked is not None:
            acked.acked(end)
            self._file_acked(ident, acked)

    def _file_acked(self, ident: Any, acked: AckedOffsets) -> None:
        """A line of ``ident`` was acked; subclasses retire finished files here."""

    def fail(self, msg_id):
        if msg_id in self._pending:
            self._replay.append(msg_id)

    def deactivate(self):
        self._save()

    def close(self):
        self._save()
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _save(self) -> None:
        raise NotImplementedError


class TailSpout(_LineSpout):
    """Follows ``path`` like ``tail -F``: appended lines as they are written; after a
    rotation (the name now points at another file) or a truncation, reads the new file
    from its start once the old one is read to its end.

    Args:
        path: the file to follow; it may not exist yet.
        position_file: where the acked position is kept (JSON: inode and offset).
        include: a regular expression; only lines it matches are emitted (others are
            skipped and count as delivered), e.g. ``r"^\\d{14}"``.
        from_end: with no saved position, start at the end of the current file
            (``tail -F`` default) instead of its start.
        save_interval_s: how often the position is saved while running (always on
            deactivate and close).
        poll_interval_s: how often the name is checked for rotation at end of file.
        max_line_bytes: longer lines are split at this size.
        stop_at_eof: exhausted once the end of the file is reached and every line is
            acked (for bounded runs); by default it waits for more, as ``tail -F``.

    A saved position whose inode no longer matches the file (it was rotated while the
    source was down) cannot be resumed; the new file is read from its start and a
    warning names the lost remainder.
    """

    def __init__(self, path: str, position_file: str, include: str | None = None,
                 from_end: bool = False, save_interval_s: float = 1.0, poll_interval_s: float = 0.25,
                 max_line_bytes: int = 1 << 20, stop_at_eof: bool = False) -> None:
        super().__init__(position_file, include, save_interval_s, poll_interval_s, max_line_bytes)
        self.path = str(path)
        self.from_end = from_end
        self.stop_at_eof = stop_at_eof

    def open(self, config, context, collector):
        super().open(config, context, collector)
        saved = self._positions.load()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        offset = 0
        if saved.get("inode") == st.st_ino and saved.get("offset", 0) <= st.st_size:
            offset = saved["offset"]
        elif saved:
            log.warning("%s was replaced while the source was down (saved inode %s at offset %s); "
                        "reading the new file from its start", self.path, saved.get("inode"),
                        saved.get("offset"))
        elif self.from_end:
            offset = st.st_size
        self._open_file(Path(self.path), st.st_ino, offset)

    def _advance(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return                      # rotated away and not yet recreated: keep waiting
        if self._fh is None:
            self._open_file(Path(self.path), st.st_ino, 0)
        elif st.st_ino != self._ident:
            # Rotated: the old file will not grow any more, so an unfinished last line
            # is complete as it is.
            self._read_rest_as_line()
            self._open_file(Path(self.path), st.st_ino, 0)
        elif st.st_size < self._offset:
            log.warning("%s was truncated; reading it again from its start", self.path)
            self._files[self._ident] = AckedOffsets(0)
            self._open_file(Path(self.path), st.st_ino, 0)

    def _file_acked(self, ident, acked):
        if ident != self._ident and acked.in_flight == 0:
            del self._files[ident]      # a rotated file whose lines are all delivered

    def exhausted(self):
        if not self.stop_at_eof or self._pending or self._replay:
            return False
        if self._fh is None:
            return True
        if self._read_line(final=True):   # more arrived, or an unterminated last line
            return False
        return True

    def _save(self) -> None:
        if self._ident is None:
            return
        acked = self._files.get(self._ident)
        if acked is not None:
            self._positions.save({"path": self.path, "inode": self._ident, "offset": acked.committed})


class SpoolDirSpout(_LineSpout):
    """Reads every file dropped into ``directory``, oldest first; once all of a file's
    lines are acked it is renamed ``<name>.COMPLETED`` (or deleted with ``delete=True``).

    Files must be complete and unchanging once in the directory (Flume's rule). Hidden
    files and files already carrying the suffix are ignored. The position file (by
    default ``<directory>/.squall-spool.json``) holds the file being read and the acked
    offset, so a restart resumes inside it.

    With ``stop_when_empty`` the spout is exhausted once the directory holds no file
    to read and everything was acked (for bounded runs).
    """

    def __init__(self, directory: str, position_file: str | None = None, include: str | None = None,
                 completed_suffix: str = ".COMPLETED", delete: bool = False, stop_when_empty: bool = False,
                 save_interval_s: float = 1.0, poll_interval_s: float = 0.25,
                 max_line_bytes: int = 1 << 20) -> None:
        super().__init__(position_file or str(Path(directory) / ".squall-spool.json"), include,
                         save_interval_s, poll_interval_s, max_line_bytes)
        self.directory = str(directory)
        self.completed_suffix = completed_suffix
        self.delete = delete
        self.stop_when_empty = stop_when_empty

    def open(self, config, context, collector):
        super().open(config, context, collector)
        self._finished: set[str] = set()    # read to the end, waiting for acks
        self._idle = False
        saved = self._positions.load()
        name = saved.get("file")
        if name and (Path(self.directory) / name).is_file():
            self._open_file(Path(self.directory) / name, name, int(saved.get("offset", 0)))

    def _candidates(self) -> list[Path]:
        d = Path(self.directory)
        files = []
        for p in d.iterdir():
            n = p.name
            if n.startswith(".") or n.endswith(self.completed_suffix) or n in self._finished \
                    or n == self._ident or not p.is_file():
                continue
            files.append(p)
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    def _advance(self) -> None:
        if self._fh is not None:
            # The open file is read to its end: it is done once its lines are acked.
            name = self._ident
            self._fh.close()
            self._fh = None
            self._finished.add(name)
            self._file_acked(name, self._files[name])
        files = self._candidates()
        self._idle = not files
        if files:
            self._open_file(files[0], files[0].name, 0)

    def _file_acked(self, ident, acked):
        if ident in self._finished and acked.in_flight == 0:
            self._finished.discard(ident)
            del self._files[ident]
            path = Path(self.directory) / ident
            if self.delete:
                path.unlink(missing_ok=True)
            else:
                os.replace(path, path.with_name(path.name + self.completed_suffix))
            self._save()

    def _save(self) -> None:
        if self._ident is not None and self._ident in self._files:
            self._positions.save({"file": self._ident, "offset": self._files[self._ident].committed})
        elif not self._files:
            self._positions.save({})

    def exhausted(self):
        return (self.stop_when_empty and self._idle and self._fh is None and not self._pending
                and not self._files)
