"""Differential tests for the operators ``in``, ``between``, ``like``, ``regexp`` and
``case`` with Esper's null handling, through ``squall epl run`` and real Esper 8 (harness
conventions: see test_esper_differential.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cep.esper.oracle import compares_rows
from tests.cep.esper.test_esper_differential import PROPS, T, assert_same, ev

EVENTS = [ev(1_000, "A", 10, 1), ev(2_000, "B_x", 20), ev(3_000, "a%c", 30, 2), ev(4_000, "ABC", 5),
          ev(40_000, "A", 70), ev(41_000, "b.c", 15, 0)]


def _complete(events):
    return [{**{"fuel": None}, **e} for e in events]


@pytest.fixture
def both(run_esper, run_squall):
    def run(rule, events, unordered=()):
        events = _complete(events)
        assert_same(run_esper(rule, events, T, "ts", PROPS, advance="span"),
                    run_squall(rule, events, T, "ts"), unordered)
    return run


def test_between_with_reversed_bounds_and_nulls(both):
    both("select speed between 5 and 20 as b1, speed between 20 and 5 as b2, speed not between 5 and 20 as b3, "
         "fuel between 0 and 1.5 as b4, speed between fuel and 25 as b5, fuel not between 0 and 1.5 as b6 "
         "from DriverCarInfo#length(1)", EVENTS)


def test_in_lists_with_nulls(both):
    both("select carNumber in ('A','ABC') as i1, carNumber not in ('A') as i2, fuel in (1, 2) as i3, "
         "speed in (10, fuel) as i4, speed not in (11, fuel) as i5, speed in (10.0, 20) as i6 "
         "from DriverCarInfo#length(1)", EVENTS)


def test_like_with_wildcards_and_escape(both):
    both("select carNumber like 'A%' as l1, carNumber like '_\\\\_x' as l2, carNumber not like '%c' as l3, "
         "carNumber like 'a!%c' escape '!' as l4, carNumber like 'b.c' as l5, fuel like '1%' as l6 "
         "from DriverCarInfo#length(1)", EVENTS)


def test_regexp_matches_the_whole_string(both):
    both("select carNumber regexp 'A.*' as r1, carNumber regexp 'B' as r2, carNumber not regexp '[A-Z]+' as r3, "
         "carNumber regexp '[a-z]\\\\.c' as r4 from DriverCarInfo#length(1)", EVENTS)


def test_case_searched_and_simple_with_numeric_widening(both):
    both("select case when speed > 15 then 1 when speed > 7 then 2.5 end as c1, "
         "case carNumber when 'A' then 'x' when 'ABC' then 'y' else 'z' end as c2, "
         "case when fuel > 1 then speed else fuel end as c3, case fuel when 1 then 'one' else 'other' end as c4, "
         "case when speed > 15 then 'fast' end as c5 from DriverCarInfo#length(1)", EVENTS)


def test_operators_in_where_having_and_over_aggregates(both):
    both("select carNumber, case when avg(speed) > 15 then 'fast' else 'slow' end as k, count(*) as n "
         "from DriverCarInfo#time_batch(30 sec) group by carNumber having max(speed) between 6 and 100",
         EVENTS, unordered=(0,))
    both("select carNumber, speed from DriverCarInfo#length(2) "
         "where carNumber in ('A', 'ABC') or speed between 25 and 35 or carNumber like 'b%'", EVENTS)


def test_unaliased_operator_columns_are_named_as_esper_names_them(both):
    both("select speed between 5 and 20, carNumber in ('A','B'), carNumber like 'A%', carNumber regexp 'A', "
         "case when speed > 1 then 1 else 0 end from DriverCarInfo#length(1)", EVENTS)


@compares_rows(min_nonempty=7)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(st.builds(lambda t, c, s, f: ev(t, c, s, f),
                                 st.integers(0, 5_000), st.sampled_from(["A", "B", "AB", "b_", "%"]),
                                 st.integers(0, 40), st.one_of(st.none(), st.integers(0, 3))),
                       max_size=15).map(lambda es: sorted(es, key=lambda e: e["ts"])),
       lo=st.integers(0, 40), hi=st.integers(0, 40), k=st.integers(0, 3), neg=st.booleans(),
       pattern=st.sampled_from(["A%", "_", "%B", "b\\\\_", "%"]))
def test_generated_operator_expressions(both, events, lo, hi, k, neg, pattern):
    n = "not " if neg else ""
    both(f"select speed {n}between {lo} and {hi} as b, fuel {n}in ({k}, 2, null) as i, "
         f"carNumber {n}like '{pattern}' as l, "
         f"case when fuel > {k} then speed when speed < {lo} then fuel else {hi}.5 end as c "
         f"from DriverCarInfo#length(2) where speed {n}between {hi} and {lo} or fuel {n}in ({k})", events)
