"""Squall's CEP engine: Esper-style EPL over dict events.

Supported EPL: ``select [istream|rstream|irstream] <items> from <Type>[(filter)][<data
windows>]`` with ``where``, ``group by`` (several keys) and ``having``; data windows
``length time ext_timed length_batch time_batch ext_timed_batch unique lastevent
firstevent keepall groupwin`` in ``#`` and dotted (``.win:``/``.std:``) forms (without
parentheses when they take no parameter), several forming an intersection; a stream
without a data window posts each event once and keeps nothing (no remove stream,
aggregates over every event since the statement started: Esper's unbound streams); aggregates ``count(*) count sum avg min max median stddev avedev``
(optionally ``distinct``); arithmetic, comparison, ``and/or/not``, ``is [not] null``;
aliases with ``as``. Keywords are case-insensitive; ``--`` and ``/* */`` comments;
several statements separated by ``;``. Periods: ``30 sec``, ``1 min 30 sec``, ``500
msec``; a plain number means seconds.

Semantics: Esper 8 reference, 5 "EPL Reference: Clauses" (5.6 "Aggregation and
grouping", output rows per model) and 14 "Data Windows". :mod:`squall.cep.views` has
the data windows, :mod:`squall.cep.resultset` the rows each model posts on the insert
and remove streams, :mod:`squall.cep.operators` the fused batch operators (a single
time/length batch, insert stream: the smart-car rule's fast path) and
:mod:`squall.cep.aggregates` the aggregation functions. ``EPLEngine.snapshot`` /
``restore`` checkpoint an engine (:mod:`squall.cep.snapshot`).

Joins of data windows (:mod:`squall.cep.join`) and patterns (:mod:`squall.cep.pattern`)
run as their own operators. ``like``/``regexp`` patterns from event data are cached and
time-bounded (:mod:`squall.cep.matching`); an event a statement cannot evaluate goes to
the engine's ``on_error`` as an :class:`EPLEvaluationError`. The supported syntax and every known difference from Esper
are listed in ``docs/epl.md``. Variables and constants (``create variable``, ``on ... set``,
``EPLEngine.set_variable``) are in :mod:`squall.cep.variables`. Subqueries
(:mod:`squall.cep.subquery`), contexts (``create context``, ``context C select ...``:
:mod:`squall.cep.context`, :mod:`squall.cep.context_compile`), ``create schema``
(:mod:`squall.cep.schema`) and Python plug-in functions (``EPLEngine.register_function``
/ ``register_aggregation``: :mod:`squall.cep.plugins`) run behind the same operator
protocol. WallClock engines fire batches on ``send``/``poll`` (there is no timer thread).

Layers (no import cycle; tests/cep/test_layers.py checks it): :mod:`squall.cep.expressions`
(expressions, scopes) <- the statement compilers (:mod:`squall.cep.select`, ``join``,
``pattern``, ``variables``; a pattern is ``pattern_compile`` <- ``pattern_states`` <-
``pattern_operator`` <- ``pattern``) <- :mod:`squall.cep.compile` (the dispatcher) <-
:mod:`squall.cep.engine`. Every operator implements :class:`squall.cep.protocol.Operator`
and sees the engine and its statement only through ``protocol.EngineHost`` and
``protocol.StatementHost``. Pattern statements are capped at
``EPLEngine(max_pattern_instances=...)`` active instances each (default 100,000).
"""

from squall.cep.engine import EPLEngine, ErrorThrottle, ExternalClock, Statement, WallClock
from squall.cep.errors import (EPLCompileError, EPLError, EPLEvaluationError, EPLSyntaxError,
                               EPLVariableError)

__all__ = ["EPLEngine", "ExternalClock", "WallClock", "Statement", "ErrorThrottle", "EPLError",
           "EPLSyntaxError", "EPLCompileError", "EPLEvaluationError", "EPLVariableError"]
