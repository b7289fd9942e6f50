"""Error reports: every error counted in the stats, the log throttled as Storm does."""

import logging

import pytest

from squall import Bolt, TopologyBuilder
from squall.config import (ERROR_THROTTLE_INTERVAL_SECS, MAX_ERROR_REPORT_PER_INTERVAL, ConfigError,
                           resolve)
from squall.runtime import run_topology
from squall.runtime.metrics import ErrorLogThrottle
from squall.testing import ListSink, ListSpout, ManualClock


def _raised(n):
    try:
        raise ValueError(f"bad record {n}")
    except ValueError as exc:
        return exc


def _records(caplog):
    return [r for r in caplog.records if r.name == "squall.runtime"]


def test_storm_defaults():
    conf = resolve()
    assert conf[ERROR_THROTTLE_INTERVAL_SECS] == 10 and conf[MAX_ERROR_REPORT_PER_INTERVAL] == 5
    with pytest.raises(ConfigError, match="topology.max.error.report.per.interval must be int"):
        resolve({MAX_ERROR_REPORT_PER_INTERVAL: 2.5})


def test_first_errors_of_an_interval_log_their_traceback_then_one_count(caplog):
    clock = ManualClock(100.0)
    throttle = ErrorLogThrottle("split[3]", interval_s=10, max_per_interval=3, clock=clock)
    caplog.set_level(logging.WARNING, "squall.runtime")
    for n in range(7):
        throttle.log(f"ValueError: bad record {n}", _raised(n))
        clock.advance(1)
    recs = _records(caplog)
    assert [r.exc_info is not None for r in recs] == [True, True, True]
    assert "bad record 2" in recs[2].getMessage() and "counted, not logged" in recs[2].getMessage()
    assert throttle.suppressed == 4

    clock.advance(2.9)                       # 9.9 s into the interval: not over yet
    throttle.flush_due(clock())
    assert len(_records(caplog)) == 3
    clock.advance(0.1)
    throttle.flush_due(clock())
    recs = _records(caplog)
    assert recs[-1].getMessage() == "... 4 more errors from split[3] in the last 10.0 s"
    assert recs[-1].exc_info is None and throttle.suppressed == 0

    throttle.log("ValueError: bad record 8", _raised(8))   # a new interval: a traceback again
    assert _records(caplog)[-1].exc_info is not None


def test_an_error_after_the_interval_logs_the_count_first(caplog):
    clock = ManualClock()
    throttle = ErrorLogThrottle("sink[1]", interval_s=5, max_per_interval=1, clock=clock)
    caplog.set_level(logging.WARNING, "squall.runtime")
    for n in range(3):
        throttle.log(f"ValueError: bad record {n}", _raised(n))
    clock.advance(6)
    throttle.log("ValueError: bad record 3", _raised(3))
    msgs = [r.getMessage() for r in _records(caplog)]
    assert msgs[1:] == ["... 2 more errors from sink[1] in the last 6.0 s",
                        "sink[1]: ValueError: bad record 3 (further errors from sink[1] in the next 5 s "
                        "are counted, not logged: topology.max.error.report.per.interval)"]


def test_zero_interval_logs_every_error(caplog):
    throttle = ErrorLogThrottle("b[1]", interval_s=0, max_per_interval=1, clock=ManualClock())
    caplog.set_level(logging.WARNING, "squall.runtime")
    for n in range(4):
        throttle.log(f"ValueError: bad record {n}", _raised(n))
    assert [r.exc_info is not None for r in _records(caplog)] == [True] * 4


class Poison(Bolt):
    """Raises on the value "poison", acks the rest."""

    def process(self, tup):
        if tup[0] == "poison":
            raise ValueError("cannot parse 'poison'")
        ListSink.record("poison-ok", tup.values)
        self.collector.ack(tup)


def test_a_poison_tuple_replayed_200_times_logs_three_tracebacks_and_a_count(caplog):
    ListSink.reset("poison-ok")
    caplog.set_level(logging.WARNING, "squall.runtime")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([["a"], ["poison"], ["b"]], ["w"], max_replays=199))
    b.set_bolt("bad", Poison()).shuffle_grouping("src")
    topo = b.build()
    conf = {MAX_ERROR_REPORT_PER_INTERVAL: 3, ERROR_THROTTLE_INTERVAL_SECS: 3600}
    result = run_topology(topo, conf, timeout_s=30)
    assert result.completed
    label = f"bad[{topo.task_ids('bad')[0]}]"
    recs = [r for r in _records(caplog) if label in r.getMessage()]
    assert [r.exc_info is not None for r in recs] == [True, True, True, False]
    assert all("cannot parse 'poison'" in r.getMessage() for r in recs[:3])
    assert recs[3].getMessage().startswith(f"... 197 more errors from {label} in the last ")
    stats = result.stats["bad"]
    assert stats.error_count == 200
    assert len(stats.last_errors) == 20 and stats.last_errors[-1] == "ValueError: cannot parse 'poison'"
    assert sorted(ListSink.values("poison-ok")) == [["a"], ["b"]]
