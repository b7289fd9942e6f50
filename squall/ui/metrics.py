"""Prometheus metrics of a cluster's topologies, read from the runtime on each scrape.

Counters and gauges per topology and component (labels ``topology``, ``component``;
``stream`` too for per-stream counts), named after Storm's built-in metrics
(``__emit-count``, ``__transfer-count``, ``__ack-count``, ``__fail-count``,
``__execute-count``, ``__execute-latency``, ``__process-latency``,
``__complete-latency``, ``__capacity``), and the checkpoint counts of topologies that
have a state backend:

=====================================  =======  ==============================================
metric                                 type     meaning
=====================================  =======  ==============================================
squall_emitted_total                   counter  tuples emitted (stream label)
squall_transferred_total               counter  tuples sent to a subscribing task
squall_acked_total                     counter  spouts: trees completed; bolts: tuples acked
squall_failed_total                    counter  spouts: trees failed; bolts: tuples failed
squall_executed_total                  counter  tuples executed by a bolt
squall_errors_total                    counter  errors reported by the component's tasks
squall_execute_latency_ms              gauge    mean execute time per tuple (run's mean)
squall_process_latency_ms              gauge    mean time from receipt to ack (run's mean)
squall_complete_latency_ms             gauge    mean tree completion time, sampled (spouts)
squall_capacity                        gauge    busiest executor's busy share, last 10 s
squall_executors / squall_tasks        gauge    parallelism
squall_topology_active                 gauge    1 while the spouts run, 0 when deactivated
squall_checkpoints_total               counter  checkpoints by outcome (completed, failed,
                                                declined) and rollbacks
squall_checkpoint_last_txid            gauge    id of the last completed checkpoint
squall_kafka_lag                       gauge    log head - committed offset, per partition
                                                (Storm's lag; labels topic, partition)
squall_kafka_unprocessed               gauge    log head - done offset: records the topology
                                                has not finished, per partition
=====================================  =======  ==============================================

Semantics: Prometheus exposition format 0.0.4; Storm "Metrics" built-in metric names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..extras import require
from .views import ClusterView

require("prometheus_client", "ui")      # names the package a user installs, before its submodule
prometheus_core = require("prometheus_client.core", "ui")

__all__ = ["TopologyCollector"]

_LABELS = ["topology", "component"]


class TopologyCollector:
    """A prometheus_client collector over a :class:`ClusterView` (registered per app)."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view

    def collect(self) -> Iterator[Any]:
        core = prometheus_core
        counters = {name: core.CounterMetricFamily(f"squall_{name}", text, labels=_LABELS)
                    for name, text in (("transferred", "Tuples sent to subscribing tasks."),
                                       ("acked", "Spouts: tuple trees completed; bolts: tuples acked."),
                                       ("failed", "Spouts: tuple trees failed; bolts: tuples failed."),
                                       ("executed", "Tuples executed by a bolt."),
                                       ("errors", "Errors reported by the component's tasks."))}
        emitted = core.CounterMetricFamily("squall_emitted", "Tuples emitted, per stream.",
                                           labels=[*_LABELS, "stream"])
        gauges = {name: core.GaugeMetricFamily(f"squall_{name}", text, labels=_LABELS)
                  for name, text in (("execute_latency_ms", "Mean execute time per tuple, ms."),
                                     ("process_latency_ms", "Mean time from receipt to ack, ms."),
                                     ("complete_latency_ms", "Mean tuple tree completion time, ms (sampled)."),
                                     ("capacity", "Busy share of the busiest executor over the last capacity window."),
                                     ("executors", "Executors of the component."),
                                     ("tasks", "Tasks of the component."))}
        active = core.GaugeMetricFamily("squall_topology_active", "1 while the spouts run.",
                                        labels=["topology"])
        checkpoints = core.CounterMetricFamily("squall_checkpoints", "Checkpoints by outcome.",
                                               labels=["topology", "outcome"])
        last_txid = core.GaugeMetricFamily("squall_checkpoint_last_txid",
                                           "Id of the last completed checkpoint.", labels=["topology"])
        lag_labels = ["topology", "component", "topic", "partition"]
        lag = core.GaugeMetricFamily("squall_kafka_lag", "Kafka log head minus the committed offset.",
                                     labels=lag_labels)
        unprocessed = core.GaugeMetricFamily("squall_kafka_unprocessed",
                                             "Kafka log head minus the offset below which all is processed.",
                                             labels=lag_labels)
        for name, handle in sorted(self.view.handles().items()):
            active.add_metric([name], 1.0 if self.view.status(handle) == "ACTIVE" else 0.0)
            stats = handle.stats()
            errors_by_component = {c: st.error_count for c, st in stats.items()}
            for component, st in sorted(stats.items()):
                labels = [name, component]
                for stream, n in sorted(st.emitted_by_stream.items()):
                    emitted.add_metric([*labels, stream], n)
                counters["transferred"].add_metric(labels, st.transferred)
                counters["acked"].add_metric(labels, st.acked)
                counters["failed"].add_metric(labels, st.failed)
                counters["errors"].add_metric(labels, errors_by_component[component])
                if st.kind == "bolt":
                    counters["executed"].add_metric(labels, st.executed)
                for key, value in (("execute_latency_ms", st.execute_latency_ms),
                                   ("process_latency_ms", st.process_latency_ms),
                                   ("complete_latency_ms", st.complete_latency_ms),
                                   ("capacity", st.capacity)):
                    if value is not None:
                        gauges[key].add_metric(labels, value)
                gauges["executors"].add_metric(labels, st.executors)
                gauges["tasks"].add_metric(labels, st.tasks)
            per_worker = handle.checkpoint_stats()
            for outcome in ("completed", "failed", "declined", "rollbacks"):
                if per_worker:
                    checkpoints.add_metric([name, outcome], sum(getattr(cs, outcome) for cs in per_worker))
            txids = [cs.last_txid for cs in per_worker if cs.last_txid is not None]
            if txids:
                last_txid.add_metric([name], min(txids))
            for component, partitions in sorted(handle.kafka_lag().items()):
                for p in partitions:
                    labels = [name, component, p.topic, str(p.partition)]
                    if p.head is not None and p.committed is not None:
                        lag.add_metric(labels, max(0, p.head - p.committed))
                    if p.head is not None and p.done is not None:
                        unprocessed.add_metric(labels, max(0, p.head - p.done))
        yield emitted
        yield from counters.values()
        yield from gauges.values()
        yield active
        yield checkpoints
        yield last_txid
        yield lag
        yield unprocessed
