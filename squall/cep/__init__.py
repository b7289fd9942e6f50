"""Squall's CEP engine: Esper-style EPL over dict events.

Supported EPL (this milestone): ``select [istream] <items> from <Type>#time_batch(<period>)``
(also ``.win:time_batch(...)``) or ``#length_batch(<n>)``, with ``where``, ``group by``
and ``having``; aggregates ``avg sum count(*) count(expr) min max`` (optionally
``distinct``); arithmetic, comparison, ``and/or/not``, ``is [not] null``; aliases with
``as``. Keywords are case-insensitive; ``--`` and ``/* */`` comments; several
statements separated by ``;``. Periods: ``30 sec``, ``1 min 30 sec``, ``500 msec``; a
plain number means seconds.

Semantics: Esper 8 reference, 5 "EPL Reference: Clauses" (5.6 "Aggregation and
grouping", output rows per model) and 14 "Data Windows" (time batch, length batch).
See :mod:`squall.cep.runtime` for the batch schedule and the rows each model posts.

Known differences from Esper: only the insert stream; no ``output`` clause, joins,
patterns or sliding windows yet; WallClock engines fire batches on ``send``/``poll``
(there is no timer thread).
"""

from squall.cep.engine import EPLEngine, ExternalClock, Statement, WallClock
from squall.cep.errors import EPLCompileError, EPLError, EPLSyntaxError

__all__ = ["EPLEngine", "ExternalClock", "WallClock", "Statement", "EPLError",
           "EPLSyntaxError", "EPLCompileError"]
