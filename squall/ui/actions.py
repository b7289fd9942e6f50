"""The UI's live operations that are not the runtime's: Storm's dynamic log level
(:class:`LogLevels`), Storm's event sampling (:class:`EventLog`), and applying a rule
file to a running CEP bolt (:func:`apply_rules`).

Semantics: Storm "Dynamic Log Level Settings" (``setLogConfig``: a named logger's level
with a reset timeout; ``target_level`` null removes the setting), Storm "Topology event
inspector" (``debug``: sample a percentage of the tuples into the event log), Squall's
live rules (:mod:`squall.cep.rules`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = [
    "LEVELS",
    "MAX_LOG_TIMEOUT_SECS",
    "EventLog",
    "LogLevels",
    "RulesNotAppliedError",
    "RulesRejectedError",
    "apply_rules",
    "apply_rules_to",
    "safe_value",
]

log = logging.getLogger("squall.ui")

EVENTS_LOGGER = "squall.ui.events"
"""The logger sampled tuples go to, one line each (Storm's ``events.log``)."""

MAX_LOG_TIMEOUT_SECS = 7 * 86400
"""The longest reset timeout a log level may be set with, in seconds."""

#: Storm's (log4j's) level names, as Python levels. TRACE and ALL sit below DEBUG
#: (Python has no TRACE); OFF is above CRITICAL, so nothing passes it.
LEVELS = {"ALL": 1, "TRACE": 5, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
          "WARN": logging.WARNING, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
          "FATAL": logging.CRITICAL, "CRITICAL": logging.CRITICAL, "OFF": logging.CRITICAL + 10}

_LOGGER_NAME = re.compile(r"^(ROOT|[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*)$")


class LogLevelError(ValueError):
    """A log level request names no valid logger, level or timeout (HTTP 400)."""


class LogLevels:
    """Named loggers' levels set at run time, each restored after its timeout.

    Python's logging is per process: a level set here applies to every topology of the
    process, whatever topology the request named (Storm's is per worker of the topology).

    Thread-safe. ``clock`` gives epoch seconds (tests pass their own).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._set: dict[str, dict[str, Any]] = {}
        self._timers: dict[str, threading.Timer] = {}

    def check(self, name: Any, target_level: Any, timeout_s: Any) -> None:
        """Raise :class:`LogLevelError` unless :meth:`set` would take these arguments."""
        if not isinstance(name, str) or len(name) > 200 or not _LOGGER_NAME.match(name):
            raise LogLevelError(f"logger name {name!r} is not a dotted Python logger name (or ROOT)")
        if not isinstance(timeout_s, int) or isinstance(timeout_s, bool) or not 0 <= timeout_s <= MAX_LOG_TIMEOUT_SECS:
            raise LogLevelError(f"timeout for logger {name!r} must be whole seconds from 0 to "
                                f"{MAX_LOG_TIMEOUT_SECS}, got {timeout_s!r}")
        if target_level is not None and (not isinstance(target_level, str) or target_level.upper() not in LEVELS):
            raise LogLevelError(f"level {target_level!r} for logger {name!r} is not one of "
                                f"{', '.join(LEVELS)} (or null, to restore the level)")

    def set(self, name: str, target_level: str | None, timeout_s: int) -> None:
        """Set logger ``name`` (``ROOT``: the root logger) to ``target_level`` for
        ``timeout_s`` seconds (0: until removed), then restore the level it had; a
        ``target_level`` of None restores it now.

        Raises:
            LogLevelError: bad logger name, level or timeout.
        """
        self.check(name, target_level, timeout_s)
        if target_level is None:
            self.reset(name)
            return
        level = LEVELS[target_level.upper()]
        logger = _logger(name)
        with self._lock:
            entry = self._set.get(name)
            reset_level = entry["reset"] if entry is not None else logger.level
            timer = self._timers.pop(name, None)
            if timer is not None:
                timer.cancel()
            logger.setLevel(level)
            now = self._clock()
            mark = object()       # a timer that fires after a newer set must not undo it
            self._set[name] = {"reset": reset_level, "target_level": target_level.upper(),
                               "timeout": timeout_s, "mark": mark,
                               "timeout_epoch": int((now + timeout_s) * 1000) if timeout_s else 0}
            if timeout_s:
                timer = threading.Timer(timeout_s, self.reset, args=(name, mark))
                timer.daemon = True
                self._timers[name] = timer
                timer.start()
        log.info("logger %s set to %s %s", name, target_level, f"for {timeout_s} s" if timeout_s else "until removed")

    def reset(self, name: str, mark: object | None = None) -> None:
        """Restore logger ``name``'s level from before it was set (nothing if not set;
        with ``mark``, only if the setting is still the one that timer belongs to)."""
        with self._lock:
            entry = self._set.get(name)
            if entry is not None and mark is not None and entry["mark"] is not mark:
                return
            self._set.pop(name, None)
            timer = self._timers.pop(name, None)
            if timer is not None:
                timer.cancel()
            if entry is not None:
                _logger(name).setLevel(entry["reset"])
        if entry is not None:
            log.info("logger %s restored to %s", name, logging.getLevelName(entry["reset"]))

    def reset_all(self) -> None:
        for name in list(self._set):
            self.reset(name)

    def config(self) -> dict[str, Any]:
        """Storm's ``namedLoggerLevels``: per logger set here, ``target_level``,
        ``reset_level``, ``timeout`` (s) and ``timeout_epoch`` (ms, 0: none)."""
        with self._lock:
            return {"namedLoggerLevels": {
                name: {"target_level": e["target_level"], "reset_level": _level_name(e["reset"]),
                       "timeout": e["timeout"], "timeout_epoch": e["timeout_epoch"]}
                for name, e in sorted(self._set.items())}}


def _logger(name: str) -> logging.Logger:
    return logging.getLogger() if name == "ROOT" else logging.getLogger(name)


def _level_name(level: int) -> str:
    if level == logging.NOTSET:
        return "INHERIT"        # the logger had no level of its own: its parent's applies
    names = {v: k for k, v in LEVELS.items() if k not in ("WARNING", "CRITICAL")}
    return names.get(level, logging.getLevelName(level))


_PRIMITIVES = (str, int, float, bool, type(None))


def safe_value(value: Any) -> Any:
    """A JSON-safe copy of a tuple value: primitives as they are (strings cut at 500
    characters), anything else as its cut ``repr``."""
    if isinstance(value, str):
        return value if len(value) <= 500 else value[:497] + "..."
    if isinstance(value, _PRIMITIVES):
        return value
    text = repr(value)
    return text if len(text) <= 500 else text[:497] + "..."


class EventLog:
    """The sampled tuples of each topology: the latest ``keep`` in memory, every one
    logged to ``squall.ui.events`` at INFO.

    :meth:`sink` gives the callable a runtime calls on its emitting thread; it appends
    and logs, nothing else.
    """

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self._events: dict[str, deque[dict[str, Any]]] = {}
        self._seq = 0
        self._lock = threading.Lock()
        self._log = logging.getLogger(EVENTS_LOGGER)

    def sink(self, topology: str) -> Callable[[str, int, str, list], None]:
        with self._lock:
            events = self._events.setdefault(topology, deque(maxlen=self.keep))
        logger = self._log

        def record(component: str, task: int, stream: str, values: list) -> None:
            event = {"ts": int(time.time() * 1000), "topology": topology, "component": component,
                     "task": task, "stream": stream, "values": [safe_value(v) for v in values]}
            with self._lock:
                self._seq += 1
                event["seq"] = self._seq
                events.append(event)
            if logger.isEnabledFor(logging.INFO):
                logger.info("%s", json.dumps(event, default=str))
        return record

    def events(self, topology: str, after: int = 0, component: str | None = None) -> list[dict[str, Any]]:
        """The kept events of ``topology`` with ``seq`` above ``after``, oldest first."""
        with self._lock:
            return [e for e in self._events.get(topology, ())
                    if e["seq"] > after and (component is None or e["component"] == component)]

    def forget(self, topology: str) -> None:
        with self._lock:
            self._events.pop(topology, None)


class RulesRejectedError(ValueError):
    """The rule file does not compile (HTTP 422); nothing was installed."""

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


class RulesNotAppliedError(RuntimeError):
    """The rule file was installed but a running task did not apply it in time (HTTP 504)."""


def apply_rules(rules_dir: str, text: str, event_types: dict[str, dict[str, type]] | None,
                prefix: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """Install ``text`` as the rule file of ``rules_dir`` and wait until each running
    CEP task watching it applied it.

    The file is compiled first (with ``event_types``, the running engine's, so unknown
    properties are found): a file that does not compile, or holds no statement, is not
    installed, and the running rules go on.

    Returns:
        ``{"version", "installed": True, "tasks": [{"component", "task", "results":
        [{"name", "action", "error", "line", "column", "kept"}, ...]}, ...]}``; a
        statement the running bolt refused (a new version selecting other columns) is
        ``action: rejected`` there, its old version kept.

    Raises:
        RulesRejectedError: the file does not compile (errors with line and column).
        RulesNotAppliedError: a running task did not apply it within ``timeout_s``.

    Semantics: ``squall rules apply`` (the same checks and the same transport).
    """
    from ..cep.rules import (  # the EPL compiler, only when used
        RulesDir,
        RuleSet,
        task_state,
    )

    rule_set = RuleSet.parse(text, prefix=prefix)
    if not rule_set.statements:
        raise RulesRejectedError("the rule file holds no statement; not installed (installing it would "
                                 "stop every statement: kill the topology instead)", [])
    problems = rule_set.compile_errors(event_types)
    if problems:
        first = problems[0]
        errors = [r.to_json() for r in problems]
        raise RulesRejectedError(
            f"line {first.line}, column {first.column}: statement '{first.name}': "
            f"{' '.join((first.error or '').split())}; not installed, the running rules go on", errors)
    rd = RulesDir(rules_dir)
    live = {(s.get("component"), s.get("task")) for s in rd.live_statuses()}
    version = rd.install(text)
    deadline = time.monotonic() + timeout_s
    while True:
        done = {(s.get("component"), s.get("task")): s for s in rd.statuses()
                if s.get("version") == version and task_state(s) != "stopped"}
        pending = live - done.keys()
        if not pending:
            return {"version": version, "installed": True,
                    "tasks": [{"component": c, "task": t, "results": done[(c, t)].get("results", [])}
                              for c, t in sorted(done, key=lambda k: (str(k[0]), k[1] or 0))]}
        if time.monotonic() >= deadline:
            names = ", ".join(f"{c}[{t}]" for c, t in sorted(pending, key=lambda k: (str(k[0]), k[1] or 0)))
            raise RulesNotAppliedError(f"rule file version {version} installed in {rules_dir}, but "
                                       f"{names} did not apply it within {timeout_s:g} s (is the "
                                       f"topology stalled?)")
        time.sleep(0.05)


def apply_rules_to(handle: Any, component: str, text: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """:func:`apply_rules` for CEP bolt ``component`` of a running topology, read through
    ``handle`` (a :class:`~squall.ui.source.LocalTopology` or the Ray source's topology):
    its rules directory, its engine's event types and its statements' name prefix.

    Raises:
        RulesUnsupportedError: not a CEP bolt, or built without ``rules_dir``.
        RulesRejectedError, RulesNotAppliedError: as :func:`apply_rules`.
    """
    rules_dir = handle.rules_dir(component)
    event_types = handle.event_types(component)
    prefix = handle.topology.components[component].obj.name
    return apply_rules(rules_dir, text, event_types, prefix, timeout_s)
