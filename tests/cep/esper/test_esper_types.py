"""Differential check of static type checking: with the event type declared
(``squall epl run --types``), Squall rejects exactly the statements Esper 8 rejects at
compile time for a type mismatch, and accepts the ones Esper accepts.
"""

from __future__ import annotations

import pytest

T = "DriverCarInfo"
PROPS = {"ts": "long", "carNumber": "string", "speed": "double", "fuel": "double", "ok": "boolean"}
EVENTS = [{"ts": 1_000, "carNumber": "A", "speed": 90.0, "fuel": 1.0, "ok": True},
          {"ts": 2_000, "carNumber": "B", "speed": 20.0, "fuel": 2.0, "ok": False},
          {"ts": 40_000, "carNumber": "A", "speed": 10.0, "fuel": 3.0, "ok": True}]
W = f"{T}#length(3)"

REJECTED = [
    f"select carNumber from {W} where carNumber > 5",
    f"select avg(carNumber) from {W}",
    f"select sum(carNumber) from {W}",
    f"select median(carNumber) from {W}",
    f"select stddev(carNumber) from {W}",
    f"select avedev(ok) from {W}",
    f"select speed + carNumber from {W}",
    f"select speed * ok from {W}",
    f"select -carNumber from {W}",
    f"select carNumber from {W} where speed = 'x'",
    f"select carNumber from {W} where ok = 1",
    f"select carNumber from {W} where 5 <= carNumber",
    f"select carNumber from {W} where carNumber like 5",
    f"select carNumber from {W} where ok like 'a%'",
    f"select carNumber from {W} where ok regexp 'a.*'",
    f"select carNumber from {W} where speed > 5 and carNumber",
    f"select carNumber from {W} where speed or ok",
    f"select not carNumber from {W}",
    f"select carNumber from {W} where carNumber between 1 and 5",
    f"select carNumber from {W} where speed in ('a', 'b')",
    f"select case when speed then 1 else 2 end from {W}",
    f"select carNumber from {T}(carNumber > 5)#length(3)",
    f"select carNumber, avg(speed) from {T}#time_batch(30 sec) group by carNumber "
    "having avg(speed) > 'x'",
    f"select a.carNumber from pattern [every a={T}(speed > 100) -> b={T}(speed = a.carNumber)]",
    f"select a.carNumber from pattern [every a={T}] where a.carNumber > 1",
    f"select a.carNumber from {T}#length(3) as a, {T}#length(3) as b where a.carNumber = b.speed",
    f"select sum(a.carNumber) from {T}#length(3) as a, {T}#length(3) as b",
]

ACCEPTED = [
    "select carNumber, avg(speed) from DriverCarInfo#time_batch(30 sec) group by carNumber "
    "having avg(speed) > 80",
    f"select carNumber, speed * 2 + 1 as x, fuel / speed as r from {W} "
    "where speed > 80 and carNumber != 'A' or not (speed < 10)",
    f"select carNumber from {W} where carNumber like 'A%' or carNumber regexp 'B.*'",
    f"select carNumber from {W} where speed between 10 and 100 and carNumber in ('A', 'B')",
    f"select carNumber from {W} where speed in (1, 2.5, 90) and carNumber between 'A' and 'B'",
    f"select case when speed > 80 then 'fast' else 'slow' end as c from {W}",
    f"select min(carNumber), max(carNumber), count(carNumber), sum(speed), median(fuel) from {W}",
    f"select carNumber from {W} where speed = 90 and carNumber is not null and ok = true",
    f"select carNumber from {W} where ok and speed > 5 or not ok",
    f"select carNumber from {W} where carNumber = null",
    f"select carNumber from {W} where speed like '9%'",
    f"select a.carNumber as c from pattern [every a={T}(speed > 80) -> "
    f"b={T}(carNumber = a.carNumber, speed < 20) where timer:within(60 sec)]",
    f"select a.carNumber, b.speed from {T}#length(3) as a, {T}#length(3) as b "
    "where a.carNumber = b.carNumber and a.speed > b.speed + 1",
]


@pytest.mark.parametrize("rule", REJECTED)
def test_type_mismatch_is_rejected_by_both(run_esper, run_squall, rule):
    with pytest.raises(RuntimeError, match="Esper rejected the case"):
        run_esper(rule, EVENTS, T, "ts", PROPS)
    with pytest.raises(AssertionError, match=r"squall epl run failed.*line \d+, column \d+"):
        run_squall(rule, EVENTS, T, "ts", props=PROPS)


@pytest.mark.parametrize("rule", ACCEPTED)
def test_well_typed_statement_is_accepted_by_both(run_esper, run_squall, rule):
    run_esper(rule, EVENTS, T, "ts", PROPS)
    run_squall(rule, EVENTS, T, "ts", props=PROPS)
