"""The cluster runtime: a topology's workers as Ray actors, one OS process each.

Storm's roles on Ray (extra ``squall[ray]``): :class:`~squall.cluster.nimbus.Nimbus`
is a named Ray actor that holds the submitted topologies and their assignment
(:func:`~squall.cluster.scheduler.even_schedule`), watches the workers' heartbeats and
restarts a worker that hangs; each worker is a Ray actor
(:class:`~squall.cluster.worker_actor.WorkerActor`) running the local runtime's
:class:`~squall.runtime.worker.Worker` loop over its executors, and Ray restarts one
whose process dies. Tuples travel between workers in batches, bounded in flight per
link (:mod:`squall.cluster.transport`). :class:`RayCluster` is the client.

Only :mod:`squall.cluster.scheduler` imports without Ray.
"""

from .scheduler import Assignment, SchedulingError, even_schedule

__all__ = ["Assignment", "SchedulingError", "even_schedule", "RayCluster"]


def __getattr__(name: str):
    if name == "RayCluster":
        from .client import RayCluster
        return RayCluster
    raise AttributeError(name)
