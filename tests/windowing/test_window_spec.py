"""Window specs are checked when built, with a message saying how to fix them."""

from __future__ import annotations

import pickle
from datetime import timedelta

import pytest

import squall.windowing as w
from squall.windowing import Count, Duration, WindowConfigError, sliding, tumbling


def test_public_surface():
    assert set(w.__all__) == {n for n in dir(w) if not n.startswith("_") and n not in
                              {"bolt", "errors", "manager", "reduce", "spec", "window"}}


def test_specs_are_frozen_and_picklable():
    s = sliding(timedelta(seconds=10), timedelta(seconds=2), timestamp_field="ts", lag=500)
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(AttributeError):
        s.lag_ms = 1  # type: ignore[misc]


@pytest.mark.parametrize("make, match", [
    (lambda: sliding(Count(3), Duration(10)), "both be Count or both"),
    (lambda: sliding(Count(2), Count(3)), "slide <= length"),
    (lambda: tumbling(10), "ambiguous"),
    (lambda: tumbling(Count(0)), "positive"),
    (lambda: tumbling(Count(2), lag=100), "event time only"),
    (lambda: tumbling(Duration(5), timestamp_field="ts", lag=-1), ">= 0"),
    (lambda: tumbling(Count(2), late_stream="__late"), "reserved"),
])
def test_bad_specs(make, match):
    with pytest.raises(WindowConfigError, match=match):
        make()


def test_window_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        tumbling(Count(-1))
