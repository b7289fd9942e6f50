"""SpeedingBolt keeps detections through a store outage and writes them when it is back."""

from squall import Spout, TopologyBuilder
from squall.runtime import run_topology
from dataclasses import dataclass

from squall.store import EmbeddedKeyValueConnection, EmbeddedKeyValueStore
from squall.store.errors import StoreError
from squall_smartcar.bolts import SpeedingBolt
from squall_smartcar.record import date_to_ms


@dataclass(frozen=True)
class FlakyStore(EmbeddedKeyValueStore):
    """The embedded store, unreachable for its first ``down`` SADD calls (a test double)."""

    down: int = 0

    def open(self):
        return FlakyConnection(self)


class FlakyConnection(EmbeddedKeyValueConnection):
    calls = 0

    def sadd(self, key, *members):
        FlakyConnection.calls += 1
        if FlakyConnection.calls <= self.store.down:
            raise StoreError("store unreachable (simulated)")
        return super().sadd(key, *members)


class Detections(Spout):
    """Unanchored detections, as the CEP bolt emits them."""

    def declare_output_fields(self, declarer):
        declarer.declare(["carNumber", "window_start"])

    def open(self, config, context, collector):
        self.collector, self.i = collector, 0

    def next_tuple(self):
        if self.i < 5:
            self.collector.emit([f"car{self.i}", date_to_ms("20240101000000") + self.i * 30_000])
            self.i += 1

    def exhausted(self):
        return self.i >= 5


def test_detections_survive_an_outage_of_the_store(tmp_path, caplog):
    FlakyConnection.calls = 0
    caplog.set_level("WARNING")
    b = TopologyBuilder()
    b.set_spout("cep", Detections())
    b.set_bolt("speeding", SpeedingBolt(FlakyStore(tmp_path, down=4), ttl_s=3600,
                                        retry_initial_s=0.01, retry_max_s=0.05)).shuffle_grouping("cep")
    result = run_topology(b.build(), timeout_s=20)
    assert result.completed
    with EmbeddedKeyValueStore(tmp_path).open() as kv:
        assert kv.smembers("20240101") == {f"car{i}" for i in range(5)}
    assert FlakyConnection.calls >= 4 + 5
    assert len(result.stats["speeding"].last_errors) == 1      # reported once per outage
    assert result.stats["speeding"].acked >= 5
    recoveries = [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(recoveries) == 1 and "the speeding store" in recoveries[0]
