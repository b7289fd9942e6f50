"""What a differential case can end in, and how many generated cases compared real rows.

Three distinct failures, so a strict ``xfail`` names the one it expects (``raises=``)
and a different one fails the test instead of satisfying it:

* :class:`EsperRejectedError`: Esper refused the statement or the case;
* :class:`SquallRejectedError`: ``squall epl run`` exited non-zero (a compile error);
* :class:`OutputsDifferError`: both ran and their rows differ.

A generated case in which neither side outputs a row compares nothing. Generated tests
are decorated with :func:`compares_rows`, which counts the cases :func:`record` saw
(``assert_same`` records every comparison) and fails the test when fewer than its
minimum compared non-empty output; the session's totals are printed at the end
(``tests/cep/esper/conftest.py``).

Import this module as ``tests.cep.esper.oracle`` everywhere (never relatively), so one
copy of the exception classes exists whatever name pytest gives the test modules.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

__all__ = ["EsperRejectedError", "SquallRejectedError", "OutputsDifferError", "Tally",
           "compares_rows", "record", "SESSION"]


class EsperRejectedError(RuntimeError):
    """Esper refused to compile or run the case (its message follows)."""


class SquallRejectedError(AssertionError):
    """``squall epl run`` exited non-zero on the case (its output follows)."""


class OutputsDifferError(AssertionError):
    """Esper and Squall both ran the case and output different rows."""


@dataclass
class Tally:
    """Comparisons made: ``cases`` in all, ``nonempty`` with at least one row on a side."""

    cases: int = 0
    nonempty: int = 0


#: per generated test (name -> Tally), for the session summary
SESSION: dict[str, Tally] = {}
_active: list[Tally] = []


def record(esper_rows, squall_rows) -> None:
    """Count one comparison in the generated test that is running (if any)."""
    if _active:
        tally = _active[-1]
        tally.cases += 1
        tally.nonempty += bool(esper_rows or squall_rows)


def compares_rows(min_nonempty: int):
    """Decorator for a generated (``@given``) differential test, placed above ``@given``:
    at least ``min_nonempty`` of the cases it ran must have compared non-empty output,
    or the test fails with the counts. Set the minimum well under what the generator
    usually gives (hypothesis draws new cases each run)."""
    def decorate(test):
        @functools.wraps(test)
        def run(*args, **kwargs):
            tally = SESSION.setdefault(f"{test.__module__.rsplit('.', 1)[-1]}::{test.__name__}", Tally())
            before = Tally(tally.cases, tally.nonempty)
            _active.append(tally)
            try:
                test(*args, **kwargs)
            finally:
                _active.pop()
            cases, nonempty = tally.cases - before.cases, tally.nonempty - before.nonempty
            if nonempty < min_nonempty:
                raise AssertionError(
                    f"only {nonempty} of {cases} generated cases compared non-empty output "
                    f"(at least {min_nonempty} wanted): the generator mostly produces cases "
                    "where neither Esper nor Squall outputs a row")
        return run
    return decorate
