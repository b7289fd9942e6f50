"""One in-process Ray for the cluster tests of a module (starting Ray costs seconds)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_cluster():
    from squall.cluster import RayCluster
    cluster = RayCluster(num_cpus=2)
    try:
        yield cluster
    finally:
        cluster.shutdown()
