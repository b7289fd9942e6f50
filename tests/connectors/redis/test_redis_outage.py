"""Redis restarted mid-run: tuples fail and replay, the topology keeps running, nothing is lost."""

from __future__ import annotations

import time


from squall.connectors.redis import RedisDataType, RedisKeyValueStore, RedisStoreBolt, RedisStoreMapper, from_url
from squall.runtime import LocalCluster
from squall.testing import ListSpout
from squall.topology import TopologyBuilder
from tests.services.redis import start_redis

N = 3000


class PacedSpout(ListSpout):
    """A :class:`ListSpout` that emits at most one new row per ``interval_s`` (replays too)."""

    def __init__(self, *args, interval_s: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.interval_s = interval_s

    def open(self, config, context, collector):
        super().open(config, context, collector)
        self._next = 0.0

    def next_tuple(self):
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval_s
        super().next_tuple()


def test_restart_mid_run_loses_nothing(tmp_path, caplog):
    caplog.set_level("WARNING", logger="squall.connectors.redis")
    server = start_redis(tmp_path / "redis")
    try:
        cfg = from_url(f"redis://127.0.0.1:{server.port}/0", socket_timeout_s=1.0, retries=1)
        name = "redis-outage"
        ListSpout.reset(name)
        b = TopologyBuilder()
        b.set_spout("src", PacedSpout([[f"k{i}", i] for i in range(N)], ["key", "n"], name=name,
                                      interval_s=0.0008))
        b.set_bolt("store", RedisStoreBolt(cfg, RedisStoreMapper(RedisDataType.STRING, "key", value_field="n")),
                   ).shuffle_grouping("src")
        with LocalCluster() as cluster:
            handle = cluster.submit_topology("outage", {}, b.build(), until_complete=True)
            deadline = time.monotonic() + 10
            while len(ListSpout.acked(name)) < N // 4:
                assert time.monotonic() < deadline, "the topology made no progress before the outage"
                time.sleep(0.01)
            server.stop()
            acked_at_stop = len(ListSpout.acked(name))
            time.sleep(1.0)
            assert handle.running, "the topology stopped during the outage"
            assert acked_at_stop < N, "the run ended before the outage: slow the spout down"
            server.start()
            assert handle.wait(40), "the topology did not finish after Redis came back"
            stats = handle.stats()
        failed = ListSpout.failed(name)
        assert failed, "no tuple failed during the outage"
        assert sorted(set(ListSpout.acked(name))) == list(range(N))
        outage_reports = [e for e in stats["store"].last_errors if "unreachable" in e]
        assert len(outage_reports) == 1, stats["store"].last_errors  # once per outage, not per tuple
        assert stats["store"].failed >= len(failed) > 0
        # What a user sees: one report, one recovery line; no line per tuple, batch or probe.
        about = [r.getMessage() for r in caplog.records if r.levelno >= 30 and "Redis at" in r.getMessage()]
        assert len(about) == 2, about
        assert "unreachable" in about[0] and "retrying with backoff" in about[0]
        assert "reachable again" in about[1] and "redis://127.0.0.1" in about[1]
        with RedisKeyValueStore(cfg).open() as kv:
            assert kv.client.dbsize() == N
            values = kv.client.mget([f"k{i}" for i in range(N)])
        assert values == [str(i) for i in range(N)]
    finally:
        server.kill()
