"""The harness's own rules (no JVM needed): generated tests must compare real rows, and
the three ways a case can fail stay distinct."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cep.esper.oracle import (
    SESSION,
    EsperRejectedError,
    OutputsDifferError,
    SquallRejectedError,
    compares_rows,
)
from tests.cep.esper.test_esper_differential import assert_same


def _generated(rows_for, min_nonempty):
    @compares_rows(min_nonempty=min_nonempty)
    @settings(max_examples=10, database=None, deadline=None)
    @given(n=st.integers(0, 100))
    def generated(n):
        rows = rows_for(n)
        assert_same(rows, rows)
    return generated


def test_a_generated_test_that_compares_only_empty_output_fails():
    with pytest.raises(AssertionError, match=r"only 0 of \d+ generated cases compared non-empty output"):
        _generated(lambda n: [], 1)()


def test_a_generated_test_that_compares_rows_passes_and_is_tallied():
    row = {"time": 0, "statement": 0, "kind": "insert", "row": {"n": 1}}
    tally = SESSION.get("test_oracle::generated")
    before = (tally.cases, tally.nonempty) if tally else (0, 0)
    _generated(lambda n: [row], 5)()
    tally = SESSION["test_oracle::generated"]
    cases, nonempty = tally.cases - before[0], tally.nonempty - before[1]
    assert cases >= 10 and nonempty == cases


def test_the_failures_are_distinct():
    assert not issubclass(SquallRejectedError, OutputsDifferError)
    assert not issubclass(OutputsDifferError, SquallRejectedError)
    assert not issubclass(EsperRejectedError, AssertionError)
    row = {"time": 0, "statement": 0, "kind": "insert", "row": {"n": 1}}
    with pytest.raises(OutputsDifferError):
        assert_same([row], [])
