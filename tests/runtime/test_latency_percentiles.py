"""Complete-latency percentiles: the inclusive quantiles of the recent samples (as
``statistics.quantiles(method="inclusive")``), from one sort that a run's stats reuse."""

from __future__ import annotations

import random
from statistics import quantiles

import pytest

from squall.runtime.metrics import LatencySample


def test_no_samples_no_percentiles():
    assert LatencySample().percentiles_ms(50, 99) == (None, None)


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 50_000])
def test_percentiles_are_the_inclusive_quantiles_of_the_samples(n):
    rng = random.Random(n)
    data = [rng.expovariate(200.0) for _ in range(n)]
    s = LatencySample()
    for x in data:
        s.add(x)
    p50, p99 = s.percentiles_ms(50, 99)
    if n == 1:
        assert p50 == p99 == data[0] * 1000.0
        return
    cuts = quantiles(data, n=100, method="inclusive")
    assert p50 == pytest.approx(cuts[49] * 1000.0) and p99 == pytest.approx(cuts[98] * 1000.0)


def test_a_sample_after_a_read_counts_while_the_samples_are_few():
    s = LatencySample()
    s.add(0.002)
    assert s.percentiles_ms(50) == (2.0,)
    s.add(0.004)
    assert s.percentiles_ms(50) == (pytest.approx(3.0),)
