"""File sources in the manner of Flume: follow a file (``tail -F``), or drain a spooling
directory. Both are reliable spouts that keep a position file, and are
:class:`~squall.component.Stateful`, so under checkpoints their position is part of
the topology's checkpoint.

Each emits ``(line, origin)`` on the default stream: ``line`` as bytes without its line
ending (a source does not guess encodings; the regex filter matches bytes), ``origin``
as ``"path:offset"``. The message id is ``(file identity, end offset)``; a failed line
is emitted again; the position file advances only over lines all acked, so a restart
neither loses nor, after a graceful stop, repeats a line.

Checkpoints (a state backend): the checkpoint is the source of truth.

* ``pre_prepare`` stores the position in the task's state: the file being read (its
  identity - inode for ``TailSpout``, name for ``SpoolDirSpout`` - the name it was
  read under, and the offset after the last complete line read), every file's acked
  bookkeeping (:class:`~.position.AckedOffsets`: acked prefix, in-flight and
  acked-beyond offsets) and the lines still in flight with their values (always
  none in exactly-once mode, where a checkpoint waits for every tree). ``init_state``
  resumes there: the file is opened again at that offset and the in-flight lines are
  emitted again. A rollback calls ``init_state`` again and rewinds the same way.
* The position file is neither read nor written while the state holds a position.
  It only seeds a first checkpointed run (empty state), and it is rewritten when a
  checkpoint completes, so a later run without a state backend resumes from the last
  checkpoint. It never runs ahead of the checkpoint: a kill before the first
  checkpoint must not skip input that no state counted.
* ``TailSpout``: the file is found again by inode, as ``tail -F`` and Flume's Taildir
  follow it: under the followed name, or under another name in the same directory if
  it was rotated (``app.log`` -> ``app.log.1``) since the checkpoint, in which case its
  remainder is read there and the new file under the name from its start. A file
  that can no longer be found (deleted, compressed, truncated below the offset) is
  read from the start of what the name now holds, and a warning names the lost
  remainder.
* ``SpoolDirSpout``: a file is renamed ``.COMPLETED`` (or deleted) only once a
  completed checkpoint records all of its lines as delivered (Flink's
  ``notifyCheckpointComplete``), so the file a checkpoint is reading is never retired
  by the spout; should it have been renamed ``.COMPLETED`` by someone else, the
  checkpoint wins and its remainder is read from the renamed file. (Flume's rule
  holds: names must not be reused; a new file under a name a checkpoint retires
  would be retired unread.)

Paths from data stay in their directory (:mod:`.paths`). The position file and the
checkpoint are data that may have been edited, and a spooling directory is writable
by whoever drops files into it: every name they give must be a plain file name in
the directory (``SpoolDirSpout``) or the followed file's directory (``TailSpout``),
and must be a regular file - not a link, FIFO or device - to be read, renamed or
deleted. An entry that is not (an absolute path, ``..``, a link, a malformed offset)
is *reported* - a warning, and a message in the source's ``refused`` list - and
skipped; the source goes on with what it can read. Only the path the user
configured for ``TailSpout`` may be a link (``/var/log/app.log`` -> the current file).

Semantics: Flume User Guide, "Taildir Source" (position file, inode tracking) and
"Spooling Directory Source" (immutable files, ``.COMPLETED`` suffix or delete), and the
"Regex Filtering Interceptor"; ``tail -F`` for rotation (the name is followed, not the
file handle: after a rename or truncation the new file is read from its start); Storm
2 "State Checkpointing", Flink "Checkpointing" (sources store their offsets in the
checkpoint and rewind to them).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from collections import deque
from pathlib import Path
from typing import Any

from squall.component import Spout, Stateful

from .errors import UnsafePathError
from .paths import entry, is_regular, open_regular
from .position import AckedOffsets, PositionFile

__all__ = ["TailSpout", "SpoolDirSpout"]

log = logging.getLogger("squall.connectors.files")

_STATE_KEY = "position"


class _LineSpout(Stateful, Spout):
    """Lines from one open file at a time, with replay and per-file ack bookkeeping.

    A position - what :meth:`_snapshot` returns and :meth:`_resume` takes - is plain
    data: ``{"reading": (ident, name, offset) | None, "files": [(ident,
    AckedOffsets.snapshot()), ...], "pending": [(msg_id, values), ...]}``, plus what
    a subclass adds. A position file's document is turned into one by
    :meth:`_from_position_file`.
    """

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
        self._fh = None
        self._next_save = time.monotonic() + self.save_interval_s
        self.filtered = 0
        self._checkpointed = False     # init_state was called: the state is the truth
        self._initial: dict[str, Any] | None = None   # where a checkpointed run started
        self._staged: dict[str, Any] | None = None    # position file doc of a staged checkpoint
        #: what was refused (unsafe names, malformed position entries), oldest first
        self.refused: list[str] = []
        self._resume(self._from_position_file(self._positions.load()), from_checkpoint=False)

    # -- positions --------------------------------------------------------------------

    def _reset(self) -> None:
        """Forget every in-memory position (a rollback resumes from scratch)."""
        if self._fh is not None:
            self._fh.close()
        self._fh = None
        self._pending: dict[tuple[Any, int], list[Any]] = {}
        self._replay: deque[tuple[Any, int]] = deque()
        self._files: dict[Any, AckedOffsets] = {}   # file identity -> acked prefix, reading order
        self._ident: Any = None
        self._name = ""
        self._offset = 0
        self._next_poll = 0.0

    def _snapshot(self) -> dict[str, Any]:
        return {
            "reading": (self._ident, self._name, self._offset) if self._fh is not None else None,
            "files": [(ident, acked.snapshot()) for ident, acked in self._files.items()],
            "pending": list(self._pending.items()),
        }

    def _refuse(self, what: str, exc: Exception) -> None:
        """Report an entry that is skipped: a warning and a line in ``refused``."""
        message = f"{what}: {exc}"
        log.warning("%s skips %s", type(self).__name__, message)
        self.refused.append(message)

    def _check_ident(self, ident: Any) -> None:
        """Raise ValueError unless ``ident`` can identify a file of this source."""
        raise NotImplementedError

    def _resume(self, doc: dict[str, Any], from_checkpoint: bool) -> None:
        self._reset()
        for item in doc.get("files", ()):
            try:
                ident, snap = item
                self._check_ident(ident)
                self._files[ident] = AckedOffsets.restore(snap)
            except (TypeError, ValueError) as exc:     # UnsafePathError is a ValueError
                self._refuse(f"the files entry {item!r}", exc)
        for item in doc.get("pending", ()):
            try:
                (ident, end), values = item
                self._check_ident(ident)
                if type(end) is not int or end < 0:
                    raise ValueError(f"offset {end!r} is not an int >= 0")
            except (TypeError, ValueError) as exc:
                self._refuse(f"the pending entry {item!r}", exc)
                continue
            msg_id = (ident, end)
            self._pending[msg_id] = values
            self._replay.append(msg_id)      # their trees died with the run: emit again
        reading = doc.get("reading")
        if reading is not None:
            try:
                ident, name, offset = reading
                self._check_ident(ident)
                if not isinstance(name, str) or type(offset) is not int or offset < 0:
                    raise ValueError("expected (file identity, name, offset >= 0)")
            except (TypeError, ValueError) as exc:
                self._refuse(f"the reading entry {reading!r}", exc)
                doc = {**doc, "reading": None}
        self._open_at(doc, from_checkpoint)

    def _from_position_file(self, saved: dict[str, Any]) -> dict[str, Any]:
        """The position a position file's document describes (``{}``: none saved)."""
        raise NotImplementedError

    def _open_at(self, doc: dict[str, Any], from_checkpoint: bool) -> None:
        """Open the file ``doc["reading"]`` names at its offset, wherever it is now."""
        raise NotImplementedError

    def _position_doc(self) -> dict[str, Any] | None:
        """What the position file should say now; None to leave it as it is."""
        raise NotImplementedError

    def _save(self) -> None:
        if self._checkpointed:
            return                     # only a completed checkpoint moves the position file
        doc = self._position_doc()
        if doc is not None:
            self._positions.save(doc)

    # -- checkpoints ------------------------------------------------------------------

    def init_state(self, state):
        self.state = state
        if not self._checkpointed:
            # First call, right after open: nothing emitted yet. Where open() started
            # (position file, from_end) is where a run with an empty state starts, and
            # where a rollback before the first checkpoint goes back to.
            self._checkpointed = True
            self._initial = self._snapshot()
            self._next_save = float("inf")
        self._staged = None
        doc = state.get(_STATE_KEY)
        if doc is not None and not isinstance(doc, dict):
            self._refuse(f"the checkpointed position {doc!r}", ValueError("not a position document"))
            doc = None
        self._resume(doc if doc is not None else self._initial, from_checkpoint=doc is not None)

    def pre_prepare(self, txid):
        self.state.put(_STATE_KEY, self._snapshot())
        self._staged = self._position_doc()

    def checkpoint_complete(self, txid):
        if self._staged is not None:
            self._positions.save(self._staged)
            self._staged = None

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

    def _open_file(self, path: Path, ident: Any, offset: int, follow: bool = False) -> None:
        """Read ``path`` from ``offset``; ``follow`` a link only for a configured path.

        Raises:
            UnsafePathError: ``path`` is a link (without ``follow``) or not a regular file.
            FileNotFoundError: it is gone.
        """
        fh = open_regular(path, follow)
        size = os.fstat(fh.fileno()).st_size
        if offset > size:
            # A position past the end: the file changed or the position is corrupt.
            # Reading it again from its start loses nothing (at-least-once).
            self._refuse(f"the position {offset} in {path}",
                         ValueError(f"past the end of the file ({size} bytes); reading it from its start"))
            offset = 0
            self._files[ident] = AckedOffsets(0)
        if self._fh is not None:
            self._fh.close()
        self._fh = fh
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
            deactivate and close); without a state backend only.
        poll_interval_s: how often the name is checked for rotation at end of file.
        max_line_bytes: longer lines are split at this size.
        stop_at_eof: exhausted once the end of the file is reached and every line is
            acked (for bounded runs); by default it waits for more, as ``tail -F``.

    A saved position (position file or checkpoint) is resumed in the file with the
    saved inode: under ``path``, or under another name in the same directory when
    the file was rotated while the source was down; its remainder is read, then the
    file now under ``path`` from its start. When no file there has that inode (the
    rotated file was deleted or compressed), the file under ``path`` is read from
    its start and a warning names the lost remainder.
    """

    def __init__(self, path: str, position_file: str, include: str | None = None,
                 from_end: bool = False, save_interval_s: float = 1.0, poll_interval_s: float = 0.25,
                 max_line_bytes: int = 1 << 20, stop_at_eof: bool = False) -> None:
        super().__init__(position_file, include, save_interval_s, poll_interval_s, max_line_bytes)
        self.path = str(path)
        self.from_end = from_end
        self.stop_at_eof = stop_at_eof

    def _check_ident(self, ident):
        if type(ident) is not int or ident < 0:
            raise ValueError(f"inode {ident!r} is not an int >= 0")

    def _from_position_file(self, saved):
        if "inode" in saved:
            inode, offset = saved["inode"], saved.get("offset", 0)
            if type(inode) is int and inode >= 0 and type(offset) is int and offset >= 0:
                return {"reading": (inode, self.path, offset)}
            self._refuse(f"position file {self._positions.path}",
                         ValueError(f"inode {inode!r} and offset {offset!r} must be ints >= 0; "
                                    f"starting as if there were no position file"))
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {}
        return {"reading": (st.st_ino, self.path, st.st_size if self.from_end else 0)}

    def _locate(self, inode: int, name: str, offset: int) -> Path | None:
        """The file with ``inode`` holding at least ``offset`` bytes: under the followed
        name, the name it was read under, or another name in the same directory.

        ``name`` comes from data: it is only a hint, used when it names an entry of the
        followed file's directory. Other entries count only when they are regular files
        themselves (links are not followed)."""
        followed = Path(self.path)
        directory = followed.parent
        seen = [followed]
        hint = Path(name)
        if hint != followed:
            try:
                if hint.parent != directory:
                    raise UnsafePathError(name, str(directory), "not in the followed file's directory")
                seen.append(entry(directory, hint.name))
            except UnsafePathError as exc:
                self._refuse("the name a position was read under", exc)
        try:
            seen += sorted(p for p in directory.iterdir() if p not in seen)
        except FileNotFoundError:
            pass
        for p in seen:
            try:
                st = p.stat() if p == followed else p.lstat()
            except OSError:
                continue
            if st.st_ino == inode and stat.S_ISREG(st.st_mode) and st.st_size >= offset:
                return p
        return None

    def _open_path(self, ino: int, offset: int = 0) -> None:
        """Open the followed path (a link there is the user's choice, so followed)."""
        try:
            self._open_file(Path(self.path), ino, offset, follow=True)
        except UnsafePathError as exc:
            self._refuse("the followed path", exc)
        except FileNotFoundError:
            pass                # rotated away meanwhile: _advance opens the next one

    def _open_at(self, doc, from_checkpoint):
        reading = doc.get("reading")
        if reading is not None:
            inode, name, offset = reading
            found = self._locate(inode, name, offset)
            if found is not None:
                if str(found) != self.path:
                    log.info("%s: resuming %s (inode %s, rotated since) at offset %s",
                             self.path, found, inode, offset)
                try:
                    self._open_file(found, inode, offset, follow=str(found) == self.path)
                    return     # once read to its end, _advance moves on to the new file
                except (UnsafePathError, FileNotFoundError) as exc:
                    self._refuse(f"the file to resume (inode {inode})", exc)
            log.warning("%s: the file read up to offset %s (inode %s) is gone or was truncated; "
                        "its remainder is lost, reading %s from its start", name, offset, inode, self.path)
            self._files.pop(inode, None)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return              # not created yet: _advance opens it when it appears
        self._open_path(st.st_ino)

    def _advance(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return                      # rotated away and not yet recreated: keep waiting
        if self._fh is None:
            if st.st_ino != self._refused_ino:
                self._open_path(st.st_ino)
                if self._fh is None:
                    self._refused_ino = st.st_ino     # report a refused file once
        elif st.st_ino != self._ident:
            # Rotated: the old file will not grow any more, so an unfinished last line
            # is complete as it is.
            self._read_rest_as_line()
            self._fh.close()
            self._fh = None
            self._open_path(st.st_ino)
        elif st.st_size < self._offset:
            log.warning("%s was truncated; reading it again from its start", self.path)
            self._files[self._ident] = AckedOffsets(0)
            self._fh.close()
            self._fh = None
            self._open_path(st.st_ino)

    def _reset(self) -> None:
        super()._reset()
        self._refused_ino = None

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
        # At the end of the open file: done, unless the name was rotated or truncated
        # meanwhile (then there is a file still to read).
        where = (self._ident, self._offset)
        self._advance()
        return (self._ident, self._offset) == where and not self._pending

    def _position_doc(self):
        if self._ident is None:
            return None
        acked = self._files.get(self._ident)
        if acked is None:
            return None
        return {"path": self.path, "inode": self._ident, "offset": acked.committed}


class SpoolDirSpout(_LineSpout):
    """Reads every file dropped into ``directory``, oldest first; once all of a file's
    lines are acked it is renamed ``<name>.COMPLETED`` (or deleted with ``delete=True``)
    - under checkpoints, once a completed checkpoint covers them.

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
        if not completed_suffix or "/" in completed_suffix or "\0" in completed_suffix:
            raise ValueError(f"completed_suffix {completed_suffix!r} must be a non-empty file name "
                             f"suffix without '/'")
        self.directory = str(directory)
        self.completed_suffix = completed_suffix
        self.delete = delete
        self.stop_when_empty = stop_when_empty

    def _reset(self) -> None:
        super()._reset()
        self._finished: set[str] = set()    # read to the end, waiting for acks
        self._done: set[str] = set()        # all acked, retired when a checkpoint covers it
        self._retiring: set[str] = set()    # _done as staged by pre_prepare
        self._idle = False
        self._skipped: set[str] = set()     # names refused in the directory (reported once)

    def _snapshot(self):
        doc = super()._snapshot()
        doc["finished"] = sorted(self._finished)
        doc["done"] = sorted(self._done)
        return doc

    def _check_ident(self, ident):
        entry(self.directory, ident)

    def _names(self, doc, key: str) -> list[str]:
        """The file names listed under ``key`` that are entries of the directory."""
        names = []
        for name in doc.get(key, ()):
            try:
                entry(self.directory, name)
                names.append(name)
            except UnsafePathError as exc:
                self._refuse(f"a {key!r} entry", exc)
        return names

    def _from_position_file(self, saved):
        name, offset = saved.get("file"), saved.get("offset", 0)
        if not name:
            return {}
        try:
            entry(self.directory, name)
            if type(offset) is not int or offset < 0:
                raise ValueError(f"offset {offset!r} is not an int >= 0")
        except ValueError as exc:
            self._refuse(f"position file {self._positions.path}", exc)
            return {}
        return {"reading": (name, str(Path(self.directory) / name), offset)}

    def _open_at(self, doc, from_checkpoint):
        self._finished = set(self._names(doc, "finished"))
        for name in self._names(doc, "done"):
            self._retire(name)      # a committed checkpoint says so; idempotent
        reading = doc.get("reading")
        if reading is None:
            return
        name, _, offset = reading
        path = entry(self.directory, name)      # checked by _resume
        if self._try_open(path, name, offset):
            return
        if not from_checkpoint:
            return      # position file: the file was delivered and retired since
        renamed = path.with_name(name + self.completed_suffix)
        if is_regular(renamed) and self._try_open(renamed, name, offset):
            # Marked delivered by someone else, but the checkpoint says its remainder was
            # not: the checkpoint wins (retiring it later is a no-op).
            log.warning("%s: the checkpoint resumes it at offset %s but it was renamed %s; "
                        "reading its remainder from there", path, offset, renamed.name)
            return
        log.warning("%s: the checkpoint resumes it at offset %s but it is gone; its remainder "
                    "is lost", path, offset)
        self._files.pop(name, None)

    def _try_open(self, path: Path, name: str, offset: int) -> bool:
        """Open ``path`` as file ``name`` at ``offset``; False (reported) if it is not a
        regular file, False (silently) if it is gone."""
        if not os.path.lexists(path):
            return False
        try:
            self._open_file(path, name, offset)
            return True
        except UnsafePathError as exc:
            self._skipped.add(name)
            self._refuse(f"the spool file {name!r}", exc)
        except FileNotFoundError:
            pass
        return False

    def _candidates(self) -> list[tuple[float, str, Path]]:
        files = []
        for p in Path(self.directory).iterdir():
            n = p.name
            if n.startswith(".") or n.endswith(self.completed_suffix) or n in self._finished \
                    or n in self._done or n == self._ident or n in self._skipped:
                continue
            try:
                st = p.lstat()
            except FileNotFoundError:
                continue        # removed since the listing
            if not stat.S_ISREG(st.st_mode):
                if not stat.S_ISDIR(st.st_mode):
                    self._skipped.add(n)
                    self._refuse(f"the spool file {n!r}", UnsafePathError(
                        n, self.directory, "a symbolic link" if stat.S_ISLNK(st.st_mode)
                        else "not a regular file"))
                continue
            files.append((st.st_mtime, n, p))
        return sorted(files)

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
        for _, name, path in files:
            if self._try_open(path, name, 0):
                return

    def _file_acked(self, ident, acked):
        if ident in self._finished and acked.in_flight == 0:
            self._finished.discard(ident)
            del self._files[ident]
            if self._checkpointed:
                self._done.add(ident)   # retired by the checkpoint that records it
                return
            self._retire(ident)
            self._save()

    def _retire(self, name: str) -> None:
        """Rename ``name`` with the suffix, or delete it: only a regular file of the directory.

        A rename or unlink acts on the directory entry, never on what a link names, so
        a file swapped for a link after the check still changes nothing outside."""
        try:
            path = entry(self.directory, name)
            if not is_regular(path):
                if os.path.lexists(path):
                    raise UnsafePathError(name, self.directory, "not a regular file; left in place")
                return                  # retired already (before a crash)
            if self.delete:
                path.unlink()
            else:
                os.replace(path, path.with_name(path.name + self.completed_suffix))
        except UnsafePathError as exc:
            self._refuse("a file to retire", exc)
        except FileNotFoundError:
            pass

    def pre_prepare(self, txid):
        super().pre_prepare(txid)
        self._retiring = set(self._done)

    def checkpoint_complete(self, txid):
        for name in self._retiring:
            self._retire(name)
        self._done -= self._retiring
        self._retiring = set()
        super().checkpoint_complete(txid)

    def _position_doc(self):
        if self._ident is not None and self._ident in self._files:
            return {"file": self._ident, "offset": self._files[self._ident].committed}
        if not self._files:
            return {}
        return None

    def exhausted(self):
        return (self.stop_when_empty and self._idle and self._fh is None and not self._pending
                and not self._files)
