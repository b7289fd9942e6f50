"""Differential tests for ``output ... when terminated`` and ``and when terminated``:
``squall epl run`` against real Esper 8.9 (harness as in test_esper_contexts.py)."""

from __future__ import annotations

import pytest

from tests.cep.esper.test_esper_contexts import ctx_check
from tests.cep.esper.test_esper_named_windows import runner


@pytest.fixture
def both(run_esper, run_squall):
    return runner(run_esper, run_squall)


DECLS = [
    "create context S start Q end after 3 sec; ",
    "create context S start Q(v < 5) end Q(v >= 5); ",
    "create context S start @now end after 2500 msec; ",
    "create context S initiated by Q as q terminated after 2 sec; ",
]


@pytest.mark.parametrize("decl", DECLS)
@pytest.mark.parametrize("select", [
    "select carNumber, speed from DriverCarInfo output when terminated",
    "select count(*) as c, sum(speed) as s from DriverCarInfo output when terminated",
    "select carNumber, count(*) as c from DriverCarInfo group by carNumber output last when terminated",
    "select carNumber, speed from DriverCarInfo#length(2) output snapshot when terminated",
    "select carNumber, speed from DriverCarInfo output every 2 events and when terminated",
    "select count(*) as c from DriverCarInfo output last every 1 sec and when terminated",
    "select carNumber, speed from DriverCarInfo output when terminated and count_insert > 1",
])
def test_output_when_terminated(both, decl, select):
    ctx_check(both, decl + "context S " + select)


def test_when_terminated_then_set_assigns_after_the_output(both):
    ctx_check(both, "create variable int ends = 0; create context S start Q end after 2 sec; "
                    "context S select count(*) as c, ends from DriverCarInfo "
                    "output when terminated then set ends = ends + 1")


@pytest.mark.parametrize("rule", [
    "select carNumber, speed from DriverCarInfo output when terminated",
    "select count(*) as c from DriverCarInfo output every 2 events and when terminated",
])
def test_when_terminated_outside_a_context(both, rule):
    ctx_check(both, rule)
