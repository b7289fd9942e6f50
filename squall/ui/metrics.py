"""Prometheus metrics of a cluster's topologies, read from the runtime on each scrape.

Counters and gauges per topology and component (labels ``topology``, ``component``;
``stream`` too for per-stream counts), named after Storm's built-in metrics
(``__emit-count``, ``__transfer-count``, ``__ack-count``, ``__fail-count``,
``__execute-count``, ``__execute-latency``, ``__process-latency``,
``__complete-latency``, ``__capacity``), and the checkpoint counts of topologies that
have a state backend:

=======================================  =========  ================================================
metric                                   type       meaning
=======================================  =========  ================================================
squall_emitted_total                     counter    tuples emitted (stream label)
squall_transferred_total                 counter    tuples sent to a subscribing task
squall_acked_total                       counter    spouts: trees completed; bolts: tuples acked
squall_failed_total                      counter    spouts: trees failed; bolts: tuples failed
squall_executed_total                    counter    tuples executed by a bolt
squall_errors_total                      counter    errors reported by the component's tasks
squall_execute_latency_ms                gauge      mean execute time per tuple (run's mean)
squall_process_latency_ms                gauge      mean time from receipt to ack (run's mean)
squall_complete_latency_ms               gauge      mean tree completion time, sampled (spouts)
squall_capacity                          gauge      busiest executor's busy share, last 10 s
squall_execute_latency_seconds           histogram  execute time of sampled tuples (bolts)
squall_process_latency_seconds           histogram  time from receipt to ack (bolts), first tuple
                                                    of each drained batch
squall_complete_latency_seconds          histogram  tree completion time, sampled trees (spouts)
squall_executors / squall_tasks          gauge      parallelism
squall_topology_active                   gauge      1 while the spouts run, 0 when deactivated
squall_checkpoints_total                 counter    checkpoints by outcome (completed, failed,
                                                    declined) and rollbacks
squall_checkpoint_last_txid              gauge      id of the last completed checkpoint
squall_checkpoint_duration_seconds       summary    completed checkpoints: _count, _sum of durations
squall_checkpoint_duration_max_seconds   gauge      the longest checkpoint so far
squall_checkpoint_last_state_size_bytes  gauge      bytes the last completed checkpoint staged,
                                                    summed over the workers (Flink's state size)
squall_kafka_lag                         gauge      log head - committed offset, per partition
                                                    (Storm's lag; labels topic, partition)
squall_kafka_unprocessed                 gauge      log head - done offset: records the topology
                                                    has not finished, per partition
=======================================  =========  ================================================

The latency histograms count the timed samples only (the runtime does not read a clock
per tuple): execute and complete latency on a sample of tuples and trees at
``topology.stats.sample.rate`` (Storm's default 0.05, as Storm samples its
``__execute-latency``), process latency on the first tuple of each drained batch. So a
histogram's ``_count`` is the samples (about ``squall_executed_total`` x the rate for
execute latency), and ``_sum / _count`` their mean; the ``*_latency_ms`` gauges are the
means over every tuple. Each task counts its samples into fixed buckets
(:data:`~squall.runtime.metrics.LATENCY_BUCKETS_S`), and the buckets of a component's
tasks, in any number of worker processes, are added: the histograms are exact over the
samples, whatever the runtime.

Semantics: Prometheus exposition format 0.0.4; Storm "Metrics" built-in metric names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..extras import require
from ..runtime.metrics import LATENCY_BUCKETS_S, LatencyHistogram
from .views import ClusterView

require("prometheus_client", "ui")      # names the package a user installs, before its submodule
prometheus_core = require("prometheus_client.core", "ui")

__all__ = ["LATENCY_BUCKETS_S", "TopologyCollector"]

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
        histograms = {kind: core.HistogramMetricFamily(f"squall_{kind}_latency_seconds", text, labels=_LABELS)
                      for kind, text in (("execute", "Execute time of a bolt's sampled tuples, seconds."),
                                         ("process", "Time from receipt to ack of a bolt's tuples, seconds (sampled)."),
                                         ("complete", "Tuple tree completion time, seconds (sampled)."))}
        ckpt_duration = core.SummaryMetricFamily("squall_checkpoint_duration_seconds",
                                                 "Durations of completed checkpoints, seconds.", labels=["topology"])
        ckpt_max = core.GaugeMetricFamily("squall_checkpoint_duration_max_seconds",
                                          "The longest completed checkpoint, seconds.", labels=["topology"])
        active = core.GaugeMetricFamily("squall_topology_active", "1 while the spouts run.",
                                        labels=["topology"])
        checkpoints = core.CounterMetricFamily("squall_checkpoints", "Checkpoints by outcome.",
                                               labels=["topology", "outcome"])
        last_txid = core.GaugeMetricFamily("squall_checkpoint_last_txid",
                                           "Id of the last completed checkpoint.", labels=["topology"])
        state_size = core.GaugeMetricFamily("squall_checkpoint_last_state_size_bytes",
                                            "Bytes the last completed checkpoint staged, over every worker.",
                                            labels=["topology"])
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
                # Every series of the component's kind, empty before its first sample.
                for kind in ("execute", "process") if st.kind == "bolt" else ("complete",):
                    hist = st.latency_histograms.get(kind) or LatencyHistogram()
                    histograms[kind].add_metric(labels, hist.cumulative(), hist.total_s)
                for key, value in (("execute_latency_ms", st.execute_latency_ms),
                                   ("process_latency_ms", st.process_latency_ms),
                                   ("complete_latency_ms", st.complete_latency_ms),
                                   ("capacity", st.capacity)):
                    if value is not None:
                        gauges[key].add_metric(labels, value)
                gauges["executors"].add_metric(labels, st.executors)
                gauges["tasks"].add_metric(labels, st.tasks)
            per_worker = handle.checkpoint_stats()
            if per_worker:
                ckpt_duration.add_metric([name], sum(cs.completed for cs in per_worker),
                                         sum(cs.total_s for cs in per_worker))
                ckpt_max.add_metric([name], max(cs.max_s for cs in per_worker))
            for outcome in ("completed", "failed", "declined", "rollbacks"):
                if per_worker:
                    checkpoints.add_metric([name, outcome], sum(getattr(cs, outcome) for cs in per_worker))
            txids = [cs.last_txid for cs in per_worker if cs.last_txid is not None]
            if txids:
                last_txid.add_metric([name], min(txids))
            # Workers commit each checkpoint together: their last ones are one checkpoint's parts.
            sizes = [cs.last_state_size_bytes for cs in per_worker if cs.last_state_size_bytes is not None]
            if sizes:
                state_size.add_metric([name], sum(sizes))
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
        yield from histograms.values()
        yield ckpt_duration
        yield ckpt_max
        yield active
        yield checkpoints
        yield last_txid
        yield state_size
        yield lag
        yield unprocessed
