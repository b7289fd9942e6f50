"""Live rules: swap the statements of a rule file into a running engine, and carry rule
files into a running topology through a watched directory.

A rule file is a list of named statements. :meth:`RuleSet.apply` compares it with what
an :class:`~squall.cep.engine.EPLEngine` runs, statement by statement:

* same name, same text (white space aside): **unchanged** - the running statement is
  not touched, so its window and aggregation state carry on;
* same name, other text: **changed** - the old statement stops, the new one starts
  with empty windows;
* a name the engine does not run: **added**; a running name absent from the file:
  **removed** (stopped);
* a statement that does not parse or compile (or that a caller's check refuses) is
  **rejected** with its error (line and column in the file): the version that runs
  keeps running, and a new statement is not started.

Every statement of the file is validated before anything changes (in a scratch engine
with the same event types, in file order, so an error is found before the first swap).
When a part of the file does not parse, statement boundaries are uncertain, so nothing
is removed for that file; changes and additions that validate still apply.

Names: a statement's ``@Name('x')`` annotation (Esper 8 reference, 5.2.7 "Annotation"),
else its position: ``<prefix>`` for the first statement of the file, ``<prefix>#<i>``
for the one at 0-based position *i*. Name statements that may move in the file, or a
statement inserted above another changes the other's name (and so restarts it).

The transport into a running process is :class:`RulesDir`: ``squall rules apply`` writes
``rules.epl`` atomically (a temporary file, then ``os.replace``); a
:class:`~squall.cep.bolt.CepBolt` watching the directory polls its signature at most
every 0.5 s, applies a new version and writes ``status-<component>-<task>.json``
(atomically) with the result per statement and each statement's counters.

Variables (:mod:`squall.cep.variables`) travel the same way without touching any
statement: ``squall rules set NAME VALUE`` appends ``{"seq", "name", "value"}`` to
``variables.json`` (atomically); a watching task applies each set it has not applied
yet, in order, with :meth:`~squall.cep.engine.EPLEngine.set_variable` (windows and
aggregates are kept), and reports the last sets' results and the applied ``seq`` in its
status. A task that starts later applies the whole log after loading the rules; the
applied ``seq`` is part of the bolt's checkpoint, so after a recovery the sets made
since the checkpoint are applied again.

>>> from squall.cep.engine import EPLEngine, ExternalClock
>>> engine = EPLEngine(ExternalClock(0))
>>> report = RuleSet.parse("@Name('fast') select a from T#length_batch(2); "
...                        "select b from T#length_batch(3)").apply(engine)
>>> [(r.name, r.action) for r in report.results]
[('fast', 'added'), ('rule#1', 'added')]
>>> report = RuleSet.parse("@Name('fast') select a from T#length_batch(2); "
...                        "select c from T#nope(3)").apply(engine)
>>> [(r.name, r.action, r.kept) for r in report.results]
[('fast', 'unchanged', False), ('rule#1', 'rejected', True)]
>>> print(report.results[1].error)  # doctest: +ELLIPSIS
Unknown or unsupported view 'nope'...(line 1, column 64)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from squall.cep.engine import EPLEngine, ExternalClock, Statement
from squall.cep.errors import EPLCompileError, EPLError
from squall.cep.parser import parse_statements
from squall.fileio import replace_atomically

__all__ = ["RuleStatement", "RuleSet", "StatementResult", "ApplyReport", "RulesDir", "RulesWatcher",
           "VariablesWatcher", "RULES_FILE", "VARIABLES_FILE", "rules_version"]

RULES_FILE = "rules.epl"
"""The rule file a watched directory holds (``squall rules apply`` installs it)."""

VARIABLES_FILE = "variables.json"
"""The log of variable sets a watched directory holds (``squall rules set`` appends)."""

MAX_VARIABLE_SETS = 1000
"""Sets the log keeps (oldest dropped): a task that starts later applies those, in order."""

_STATUS_PREFIX = "status-"
_NAME_RE = re.compile(r"""@\s*name\s*\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\)""", re.IGNORECASE)

#: ``check(name, columns) -> reason or None``: a caller's extra condition on a statement
#: that compiles (CepBolt: its output stream's columns are fixed).
Check = Callable[[str, tuple], "str | None"]


def rules_version(text: str) -> str:
    """The version id of a rule text: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _normal(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------ rule sets

@dataclass(frozen=True)
class RuleStatement:
    """One statement of a rule file.

    Attributes:
        name: ``@Name`` value, else the positional name.
        text: source text (annotations included), or the raw chunk when it does not parse.
        position: 0-based position in the file.
        line, column: where it starts in the file (1-based).
        error: why it cannot run, found while parsing (syntax, bad annotation), else None.
    """

    name: str
    text: str
    position: int
    line: int
    column: int
    error: EPLError | None = field(default=None, compare=False)

    @property
    def source(self) -> str:
        """The text placed at its line/column, so compile errors give positions in the file."""
        return "\n" * (self.line - 1) + " " * (self.column - 1) + self.text


@dataclass(frozen=True)
class StatementResult:
    """What :meth:`RuleSet.apply` did with one statement.

    ``action`` is ``added``, ``changed``, ``unchanged``, ``removed`` or ``rejected``.
    For a rejected statement ``error`` says why (``line``/``column`` in the file when
    known) and ``kept`` is True when an older version of it keeps running.
    """

    name: str
    action: str
    error: str | None = None
    line: int | None = None
    column: int | None = None
    kept: bool = False
    exception: EPLError | None = field(default=None, compare=False, repr=False)

    @property
    def accepted(self) -> bool:
        return self.action != "rejected"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.action, "error": self.error, "line": self.line,
                "column": self.column, "kept": self.kept}


@dataclass(frozen=True)
class ApplyReport:
    """The per-statement outcome of applying a rule file, in file order, removals last."""

    results: tuple[StatementResult, ...]

    @property
    def rejected(self) -> list[StatementResult]:
        return [r for r in self.results if r.action == "rejected"]

    @property
    def ok(self) -> bool:
        return not self.rejected


class RuleSet:
    """The named statements of one rule file (see the module docs for naming and diffing).

    Build it with :meth:`parse`; each statement is parsed on its own, so a syntax error
    rejects only the statement it is in and is reported at its line/column in the file.
    """

    def __init__(self, statements: list[RuleStatement], complete: bool = True) -> None:
        self.statements = tuple(statements)
        self.complete = complete   # every part of the file parsed: removals are safe

    @classmethod
    def parse(cls, text: str, prefix: str = "rule") -> RuleSet:
        """Split ``text`` into statements at top-level ``;`` and parse each.

        Args:
            text: the rule file.
            prefix: positional names are ``prefix`` and ``prefix#<i>``.
        """
        out: list[RuleStatement] = []
        complete = True
        for pos, (start, end) in enumerate(_split(text)):
            # Placed at its line/column, so the parser's positions are those in the file.
            positional = prefix if pos == 0 else f"{prefix}#{pos}"
            line, column = _line_col(text, start)
            padded = "\n" * (line - 1) + " " * (column - 1) + text[start:end]
            try:
                parsed = parse_statements(padded)
                if len(parsed) != 1:   # the splitter and the grammar disagree
                    raise EPLCompileError("Expected exactly one statement here", line=line, column=column)
            except EPLError as exc:
                complete = False
                chunk = text[start:end].strip()
                m = _NAME_RE.search(chunk)
                name = (m.group(1) or m.group(2)) if m and (m.group(1) or m.group(2)) else positional
                out.append(RuleStatement(name, chunk, pos, line, column, exc))
                continue
            p = parsed[0]
            out.append(RuleStatement(p.name or positional, p.text, pos, p.line, p.column))
        seen: dict[str, int] = {}
        for i, st in enumerate(out):
            if st.name in seen and st.error is None:
                out[i] = RuleStatement(st.name, st.text, st.position, st.line, st.column, EPLCompileError(
                    f"Two statements are named '{st.name}' (the first at position {seen[st.name]})",
                    line=st.line, column=st.column))
            seen.setdefault(st.name, st.position)
        return cls(out, complete)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.statements]

    def compile_errors(self, event_types: dict[str, dict[str, type]] | None = None) -> list[StatementResult]:
        """Compile every statement in a scratch engine (nothing runs): the statements that
        do not parse or compile, as ``rejected`` results with their line and column in
        the file, in file order; empty when the whole file compiles.

        Args:
            event_types: event types to declare first (name -> {property: type}), so
                unknown properties and type mismatches are found as a running engine
                with those types would find them.
        """
        scratch = EPLEngine(ExternalClock(0))
        for name, props in (event_types or {}).items():
            scratch.define_event_type(name, props)
        errors = self._validate(scratch, {}, None)
        return [_rejected(rs, errors[rs.position], kept=False) for rs in self.statements
                if rs.position in errors]

    def apply(self, engine: EPLEngine, check: Check | None = None,
              on_start: Callable[[Statement], None] | None = None) -> ApplyReport:
        """Make ``engine`` run this rule set; returns what happened to each statement.

        Args:
            engine: the running engine (its public ``compile``/``remove`` are used).
            check: an extra condition on each statement that compiles, given its name and
                output columns; a returned reason rejects it.
            on_start: called with each statement started (added or changed), before any
                event reaches it: attach listeners here.

        Threading: call it on the engine's thread (between events).
        """
        running = {st.name: st for st in engine.statements}
        errors = self._validate(engine, running, check)
        results: list[StatementResult] = []
        for rs in self.statements:
            old = running.get(rs.name)
            err = errors.get(rs.position)
            if err is not None:
                results.append(_rejected(rs, err, kept=old is not None))
                continue
            if old is not None and _normal(old.text) == _normal(rs.text):
                results.append(StatementResult(rs.name, "unchanged"))
                continue
            if old is not None:
                engine.remove(old)
            try:
                [st] = engine.compile(rs.source, name=rs.name)
            except Exception as exc:   # noqa: BLE001  validated, so unexpected: put the old text back
                exc = _as_epl_error(exc, rs)
                kept = False
                if old is not None:
                    try:
                        [st] = engine.compile(old.text, name=old.name)
                        kept = True
                        if on_start is not None:
                            on_start(st)
                    except Exception:   # noqa: BLE001
                        pass
                results.append(_rejected(rs, exc, kept=kept))
                continue
            if on_start is not None:
                on_start(st)
            results.append(StatementResult(rs.name, "changed" if old is not None else "added"))
        if self.complete:
            wanted = set(self.names)
            for name, st in running.items():
                if name not in wanted:
                    engine.remove(st)
                    results.append(StatementResult(name, "removed"))
        return ApplyReport(tuple(results))

    def _validate(self, engine: EPLEngine, running: dict[str, Statement],
                  check: Check | None) -> dict[int, EPLError]:
        """Compile every statement in file order in a scratch engine; position -> error."""
        scratch = EPLEngine(ExternalClock(0))
        for name, props in engine.event_types.items():
            scratch.define_event_type(name, props)
        for name, fn in engine.functions.items():
            scratch.register_function(name, fn)
        for name, factory in engine.aggregations.items():
            scratch.register_aggregation(name, factory)
        errors: dict[int, EPLError] = {}
        for rs in self.statements:
            if rs.error is not None:
                errors[rs.position] = rs.error
                continue
            old = running.get(rs.name)
            if old is not None and _normal(old.text) == _normal(rs.text):
                text = old.text
            else:
                text = rs.source
            try:
                [st] = scratch.compile(text, name=rs.name)
            except Exception as exc:   # noqa: BLE001  a compiler fault must not stop a running bolt
                errors[rs.position] = _as_epl_error(exc, rs)
                continue
            reason = check(rs.name, tuple(st.columns)) if check is not None else None
            if reason:
                errors[rs.position] = EPLCompileError(reason, line=rs.line, column=rs.column)
        return errors


def _as_epl_error(exc: Exception, rs: RuleStatement) -> EPLError:
    if isinstance(exc, EPLError):
        return exc
    err = EPLCompileError(f"Internal error compiling the statement: {type(exc).__name__}: {exc}",
                          line=rs.line, column=rs.column)
    err.__cause__ = exc
    return err


def _rejected(rs: RuleStatement, exc: EPLError, kept: bool) -> StatementResult:
    return StatementResult(rs.name, "rejected", str(exc), getattr(exc, "line", None) or rs.line,
                           getattr(exc, "column", None) or rs.column, kept, exc)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _split(text: str) -> list[tuple[int, int]]:
    """(start, end) of each statement: split at ';' outside strings, quoted names and
    comments; leading white space and comments are not part of a statement, and parts
    holding nothing else are dropped."""
    spans = []
    i, n = 0, len(text)
    start = None
    while i < n:
        c = text[i]
        if c in "'\"`":
            if start is None:
                start = i
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" and c != "`" else 1
            i = j + 1
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if c == ";":
            if start is not None:
                spans.append((start, i))
            start = None
        elif start is None and not c.isspace():
            start = i
        i += 1
    if start is not None:
        spans.append((start, n))
    return spans


# ------------------------------------------------------------------ the watched directory

HEARTBEAT_S = 5.0
"""A watching task rewrites its status file at least this often (seconds), counters
changed or not, so a reader can tell a live task from one that stopped without saying so."""

STALE_AFTER_HEARTBEATS = 3
"""A status file older than this many heartbeats belongs to a task that is not responding."""


def process_started(pid: int | None = None) -> float | None:
    """The start time of process ``pid`` (this process by default), epoch seconds; None
    when it does not exist. With the pid it identifies a process (pids are reused)."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _same_process(pid: int, started: float | None) -> bool:
    """True when ``pid`` runs and (if ``started`` is known) is the process started then."""
    now_started = process_started(pid) if pid > 0 else None
    if now_started is None:
        return False
    if started is None:
        return True
    try:
        return abs(now_started - float(started)) < 0.01
    except (TypeError, ValueError):
        return False


def task_state(status: dict[str, Any], now_ms: int | None = None) -> str:
    """What a status file says about its task now: ``running``; ``stopped`` (it wrote
    ``running: false`` when it closed, or its process is gone, or the pid now belongs to
    another process); or ``not responding`` (its process lives but its status is older
    than :data:`STALE_AFTER_HEARTBEATS` heartbeats: the topology is stalled)."""
    if not status.get("running"):
        return "stopped"
    try:
        pid = int(status.get("pid", -1))
    except (TypeError, ValueError):
        return "stopped"
    if not _same_process(pid, status.get("pid_started")):
        return "stopped"
    heartbeat_s = status.get("heartbeat_s")
    updated_ms = status.get("updated_ms")
    if isinstance(heartbeat_s, (int, float)) and isinstance(updated_ms, (int, float)):
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        if now_ms - updated_ms > STALE_AFTER_HEARTBEATS * heartbeat_s * 1000:
            return "not responding"
    return "running"


class RulesDir:
    """A directory that carries a rule file into running CEP bolts.

    It holds ``rules.epl`` (the latest rule file, installed atomically) and one
    ``status-<component>-<task>.json`` per watching bolt task (written atomically by
    the task: the version it last applied, the result per statement, and the running
    statements with their counters).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @property
    def rules_path(self) -> Path:
        return self.path / RULES_FILE

    def install(self, text: str) -> str:
        """Write ``text`` as the directory's rule file (atomically); returns its version."""
        self.path.mkdir(parents=True, exist_ok=True)
        replace_atomically(self.rules_path, text.encode("utf-8"))
        return rules_version(text)

    @property
    def variables_path(self) -> Path:
        return self.path / VARIABLES_FILE

    def variable_sets(self) -> list[dict[str, Any]]:
        """The logged variable sets, oldest first (empty when none or unreadable)."""
        try:
            data = json.loads(self.variables_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        sets = data.get("sets") if isinstance(data, dict) else None
        return [e for e in sets if isinstance(e, dict) and isinstance(e.get("seq"), int)
                and isinstance(e.get("name"), str)] if isinstance(sets, list) else []

    def set_variable(self, name: str, value: Any) -> int:
        """Append a set of variable ``name`` to ``value`` (JSON: None, bool, int, float,
        str) to the log, atomically; returns its sequence number. Two writers at once may
        lose one set (last writer wins): set from one place at a time."""
        self.path.mkdir(parents=True, exist_ok=True)
        sets = self.variable_sets()
        seq = (sets[-1]["seq"] if sets else 0) + 1
        sets = (sets + [{"seq": seq, "name": name, "value": value}])[-MAX_VARIABLE_SETS:]
        replace_atomically(self.variables_path, json.dumps({"sets": sets}).encode("utf-8"))
        return seq

    def status_path(self, key: str) -> Path:
        return self.path / f"{_STATUS_PREFIX}{key}.json"

    def write_status(self, key: str, status: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        replace_atomically(self.status_path(key), json.dumps(status, indent=1, default=str).encode("utf-8"))

    def statuses(self) -> list[dict[str, Any]]:
        """Every status file's content (unreadable ones skipped), by file name."""
        out = []
        if not self.path.is_dir():
            return out
        for p in sorted(self.path.glob(f"{_STATUS_PREFIX}*.json")):
            try:
                out.append(json.loads(p.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        return out

    def live_statuses(self) -> list[dict[str, Any]]:
        """Status of tasks whose process runs now (marked running, the same process
        alive), responding or not (see :func:`task_state`)."""
        return [s for s in self.statuses() if task_state(s) != "stopped"]


class RulesWatcher:
    """Polls a :class:`RulesDir`'s rule file for a new version (used by ``CepBolt``).

    ``changed()`` is cheap: it looks at the file at most every ``interval_s`` seconds and
    reads it only when its (inode, mtime, size) changed; it returns the new text when
    its version differs from the last one returned, else None.
    """

    def __init__(self, rules_dir: RulesDir, interval_s: float = 0.5) -> None:
        self.dir = rules_dir
        self.interval_s = interval_s
        self._next = 0.0
        self._signature: tuple | None = None
        self.version: str | None = None

    def changed(self, force: bool = False) -> str | None:
        now = time.monotonic()
        if not force and now < self._next:
            return None
        self._next = now + self.interval_s
        try:
            st = os.stat(self.dir.rules_path)
        except OSError:
            return None
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if sig == self._signature:
            return None
        try:
            text = self.dir.rules_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        self._signature = sig
        version = rules_version(text)
        if version == self.version:
            return None
        self.version = version
        return text


class VariablesWatcher:
    """Applies a :class:`RulesDir`'s logged variable sets to an engine (used by
    ``CepBolt``): :meth:`apply` looks at the log at most every ``interval_s`` seconds,
    reads it only when its (inode, mtime, size) changed, and sets each variable whose
    set is newer than :attr:`applied`.

    Attributes:
        applied: the sequence number of the last set applied (0: none); a checkpoint
            keeps it, so sets after it are applied again on recovery.
        results: the last sets' outcomes, ``{"seq", "name", "value", "old", "error"}``
            (``value`` as the variable holds it: an int set on a double is a float).
    """

    _KEEP_RESULTS = 20

    def __init__(self, rules_dir: RulesDir, interval_s: float = 0.5) -> None:
        self.dir = rules_dir
        self.interval_s = interval_s
        self._next = 0.0
        self._signature: tuple | None = None
        self.applied = 0
        self.results: list[dict[str, Any]] = []

    def rewind(self, applied: int) -> None:
        """After a restore: sets after ``applied`` are applied again at the next call."""
        self.applied = applied
        self._signature = None

    def apply(self, engine: EPLEngine, force: bool = False) -> bool:
        """Apply the new sets; True when any was applied or refused (status to write).
        Threading: the engine's thread."""
        now = time.monotonic()
        if not force and now < self._next:
            return False
        self._next = now + self.interval_s
        try:
            st = os.stat(self.dir.variables_path)
        except OSError:
            return False
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if sig == self._signature:
            return False
        self._signature = sig
        changed = False
        for entry in self.dir.variable_sets():
            if entry["seq"] <= self.applied:
                continue
            name, value = entry["name"], entry.get("value")
            result = {"seq": entry["seq"], "name": name, "value": value, "old": None, "error": None}
            try:
                result["old"] = engine.variables.get(name)
                engine.set_variable(name, value)
                result["value"] = engine.variables[name]   # as converted (100 -> 100.0)
            except EPLError as exc:
                result["error"] = str(exc)
            self.applied = entry["seq"]
            self.results = (self.results + [result])[-self._KEEP_RESULTS:]
            changed = True
        return changed

    def status(self, engine: EPLEngine) -> dict[str, Any]:
        """What a task's status file says about variables: the applied ``seq``, the last
        results and the current values."""
        return {"seq": self.applied, "results": list(self.results), "values": engine.variables}
