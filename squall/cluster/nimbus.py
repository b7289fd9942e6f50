"""The Nimbus role: a named Ray actor that keeps the submitted topologies and drives them.

It holds each topology's spec, config and assignment (Storm's even scheduler), and
keeps them in Ray's internal key-value store (the GCS), not only in its memory: a
restarted Nimbus (Ray restarts it, ``max_restarts=-1``) reloads them and finds the
running workers again by name, and the workers never depend on it to run (they are
detached actors that talk to each other directly).

A monitor thread, for each topology: reads every worker's status (its heartbeat); a
worker that has not answered for ``supervisor.worker.timeout.secs`` is killed so that
Ray restarts it (a hung worker is treated as dead, as Storm's supervisor does), and a
dead process is restarted by Ray itself. For a bounded topology (``until_complete``)
it also ends the run across workers: once every spout emitted all and nothing is in
transit (every batch sent was answered, none held, every queue empty, twice in a row), it calls
``end_of_input`` on each bolt in topological order, waiting for quiet in between, so
what a bolt flushes reaches its subscribers before they are told; once every spout is
exhausted it drains and stops every worker (each takes its final checkpoint).

Semantics: Storm "Setting up a Storm cluster" (Nimbus, supervisors, heartbeats,
``supervisor.worker.timeout.secs``), ``storm kill -w``, ``storm activate/deactivate``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from ..config import (CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE, TOPOLOGY_WORKERS,
                      WORKER_TIMEOUT_SECS, resolve)
from ..errors import SquallError
from .records import delete_record, list_records, restarts, save_record
from .scheduler import even_schedule, with_parallelism
from .worker_actor import WorkerActor, worker_actor_name

__all__ = ["Nimbus", "NIMBUS_NAME", "TopologyNotFoundError"]

NIMBUS_NAME = "squall-nimbus"
_MONITOR_S = 0.05
_QUIET_TIMEOUT_S = 30.0
_PROBE_WAIT_S = 6.0         # a probe waits for the worker's pass in progress (5 s at most)
_FINAL_CHECKPOINT_ATTEMPTS = 20
_ROLLBACK_BACKOFF_S = (0.05, 5.0)
log = logging.getLogger("squall.cluster")


class TopologyNotFoundError(SquallError, KeyError):
    """No topology of that name was submitted (or it was killed)."""


class Nimbus:
    """The master role (made a named, detached Ray actor by the client)."""

    def __init__(self, namespace: str = "squall") -> None:
        import ray
        from ray import cloudpickle

        self._ray = ray
        self._pickle = cloudpickle
        self.namespace = namespace
        self.started = time.time()
        self._lock = threading.RLock()
        self._topologies: dict[str, dict[str, Any]] = {}
        self._workers: dict[str, list[Any]] = {}
        self._runs: dict[str, dict[str, Any]] = {}
        self._topology_locks: dict[str, threading.Lock] = {}
        for record in list_records():
            self._topologies[record["name"]] = record
            self._workers[record["name"]] = self._find_workers(record)
        self._stop = threading.Event()
        threading.Thread(target=self._monitor, name="squall-nimbus-monitor", daemon=True).start()

    # -- submit / kill --------------------------------------------------------------
    def submit(self, name: str, topology_blob: bytes, conf: dict[str, Any], until_complete: bool,
               state_backend_blob: bytes | None = None) -> dict[str, Any]:
        """Start ``name`` on ``topology.workers`` workers; returns its summary.

        Raises:
            SquallError: a topology of that name runs already.
        """
        with self._lock:
            if name in self._topologies:
                raise SquallError(f"a topology named {name!r} is already running on this cluster")
            topology = self._pickle.loads(topology_blob)
            conf = dict(resolve(conf))
            assignment = even_schedule(topology, conf[TOPOLOGY_WORKERS])
            record = {"name": name, "topology": topology_blob, "conf": conf,
                      "placement": assignment.placement, "workers": assignment.workers,
                      "until_complete": until_complete, "state_backend": state_backend_blob,
                      "status": "ACTIVE", "phase": "running", "submitted": time.time(),
                      "completed": False, "error": None}
            self._topologies[name] = record
            self._save(record)
            self._workers[name] = [self._start_worker(record, i) for i in range(assignment.workers)]
            return self._summary(record)

    def _start_worker(self, record: dict[str, Any], index: int):
        # Only the name and index travel as arguments: the worker reads the rest from the
        # record, also when Ray restarts it after this Nimbus is gone.
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # Workers dealt round-robin over the live nodes (Storm's even scheduler over
        # supervisors); soft, so that Ray restarts a worker elsewhere when its node is gone.
        # A token CPU share: Ray ignored the node affinity of zero-resource actors here.
        nodes = sorted(n["NodeID"] for n in self._ray.nodes() if n["Alive"])
        actor = self._ray.remote(WorkerActor).options(
            name=worker_actor_name(record["name"], index, record.get("generation", 0)), namespace=self.namespace,
            lifetime="detached", max_restarts=-1, max_task_retries=-1, max_concurrency=16, num_cpus=0.01,
            scheduling_strategy=NodeAffinitySchedulingStrategy(nodes[index % len(nodes)], soft=True))
        return actor.remote(record["name"], index, self.namespace, record.get("generation", 0))

    def _find_workers(self, record: dict[str, Any]) -> list[Any]:
        out = []
        for i in range(record["workers"]):
            try:
                out.append(self._ray.get_actor(worker_actor_name(record["name"], i, record.get("generation", 0)),
                                               namespace=self.namespace))
            except ValueError:
                out.append(None)
        return out

    def kill(self, name: str, wait_s: float = 0.0) -> dict[str, Any]:
        """Stop ``name``: with ``wait_s`` its spouts are deactivated and the trees in flight
        get that long to finish, then each worker drains (final checkpoint); then its
        workers are killed and the topology forgotten. Returns its last summary.

        Raises:
            TopologyNotFoundError: unknown name.
        """
        record = self._record(name)
        workers = self._workers.get(name, [])
        with self._lock:
            record["phase"] = "killing"
        if wait_s and wait_s > 0:
            self._each(workers, "deactivate")
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                st = self._statuses(workers, timeout_s=1.0)
                if all(s is not None and s["pending"] == 0 for s in st):
                    break
                time.sleep(0.05)
            self._each(workers, "drain_and_stop", 1.0)
            self._each_get(workers, "join", max(1.0, wait_s))
        for w in workers:
            if w is not None:
                self._ray.kill(w, no_restart=True)
        with self._lock:
            record["status"] = "KILLED"
            summary = self._summary(record)
            self._topologies.pop(name, None)
            self._workers.pop(name, None)
            delete_record(name)
        return summary

    def rebalance(self, name: str, workers: int | None = None,
                  executors: dict[str, int] | None = None) -> dict[str, Any]:
        """Change a running topology's worker processes and executors without killing it.

        The topology takes a checkpoint with its spouts paused (under exactly-once one
        with no tuple tree open, so nothing is in flight), its worker processes are
        replaced by ``workers`` new ones running the new assignment (executors per
        component from ``executors``, up to its task count), each task restores its
        state from that checkpoint wherever it now runs (its state partition follows
        it: :mod:`squall.cluster.state`), and the spouts resume. The returned summary
        has ``rebalance_pause_s``: from the pause to the spouts resuming.

        Raises:
            TopologyNotFoundError: unknown name.
            SquallError: the topology has no state backend (its spouts' positions would
                be lost), an executor count outside 1..tasks, an unknown component, or
                no checkpoint could be taken.

        Semantics: Storm ``storm rebalance -n -e`` (which kills the workers and loses what
        they held: STORM-588); Flink's rescaling from a savepoint.
        """
        record = self._record(name)
        if record["state_backend"] is None:
            raise SquallError(f"rebalancing {name!r} needs checkpoints: submit it with a state backend, "
                              f"so that its spouts' positions and its state move with its tasks")
        topology = self._pickle.loads(record["topology"])
        topology = with_parallelism(topology, executors or {})
        count = workers or record["workers"]
        assignment = even_schedule(topology, count)
        with self._topology_lock(name):
            old = self._workers[name]
            run = self._runs.setdefault(name, {})
            exactly_once = record["conf"][CHECKPOINT_MODE] == EXACTLY_ONCE
            # The next generation of workers starts held, so that its processes start and
            # build their tasks while the topology still runs: only the hand-over pauses it.
            generation = record.get("generation", 0) + 1
            record.update(topology=self._pickle.dumps(topology), placement=assignment.placement,
                          workers=assignment.workers, generation=generation, holding=generation)
            self._save(record)
            new = [self._start_worker(record, i) for i in range(assignment.workers)]
            while not all(st is not None and st["on_hold"] for st in self._statuses(new, timeout_s=5.0)):
                time.sleep(0.01)
            t0 = time.monotonic()
            for attempt in range(_FINAL_CHECKPOINT_ATTEMPTS):
                if self._checkpoint(record, old, run, exactly_once, keep_paused=True):
                    break
                time.sleep(min(1.0, 0.05 * 2 ** attempt))
            else:
                for w in new:
                    self._ray.kill(w, no_restart=True)
                raise SquallError(f"rebalancing {name!r}: no checkpoint could be taken; it runs on unchanged")
            self._each_get(old, "stop")
            self._each_get(old, "join", 30.0)       # its stores and state partitions are closed now
            for w in old:
                self._ray.kill(w, no_restart=True)
            record["holding"] = None
            record["rebalances"] = record.get("rebalances", 0) + 1
            self._save(record)
            with self._lock:
                self._workers[name] = new
            txid = run.get("txid", 0)
            run.clear()
            run.update(txid=txid, last_seen=[time.monotonic()] * len(new), quiet=None, eoi=None,
                       pids=[None] * len(new))
            self._each_get(new, "go")
            while True:
                statuses = self._statuses(new, timeout_s=5.0)
                if all(st is not None and st["opened"] for st in statuses):
                    break
                time.sleep(0.005)
            decided = self._step(new[0], "decided")
            self._all(new, "restore", decided)
            run["restored"] = True
            record["last_rebalance_pause_s"] = time.monotonic() - t0
            self._save(record)
        log.warning("topology %s: rebalanced to %d workers (executors %s) in %.2f s", name, assignment.workers,
                    executors or "unchanged", record["last_rebalance_pause_s"])
        return self._summary(record)

    def activate(self, name: str) -> None:
        record = self._record(name)
        self._each(self._workers[name], "activate")
        record["status"] = "ACTIVE"
        self._save(record)

    def deactivate(self, name: str) -> None:
        record = self._record(name)
        self._each(self._workers[name], "deactivate")
        record["status"] = "INACTIVE"
        self._save(record)

    # -- reading ----------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._summary(r) for r in self._topologies.values()]

    def summary(self, name: str) -> dict[str, Any]:
        return self._summary(self._record(name))

    def worker_names(self, name: str) -> list[str]:
        record = self._record(name)
        return [worker_actor_name(name, i, record.get("generation", 0)) for i in range(record["workers"])]

    def worker_statuses(self, name: str) -> list[dict[str, Any] | None]:
        self._record(name)
        return self._statuses(self._workers[name], timeout_s=2.0)

    def ping(self) -> dict[str, Any]:
        """This Nimbus's process and start time (a restarted one has new ones)."""
        return {"pid": os.getpid(), "started": self.started}

    # -- internals ----------------------------------------------------------------------
    def _record(self, name: str) -> dict[str, Any]:
        with self._lock:
            record = self._topologies.get(name)
        if record is None:
            raise TopologyNotFoundError(f"no topology named {name!r} (running: {sorted(self._topologies)})")
        return record

    def _summary(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"name": record["name"], "status": record["status"], "phase": record["phase"],
                "workers": record["workers"], "completed": record["completed"], "error": record["error"],
                "checkpoints": record.get("checkpoints", 0), "rollbacks": record.get("rollbacks", 0),
                "rebalances": record.get("rebalances", 0),
                "rebalance_pause_s": record.get("last_rebalance_pause_s"),
                "uptime_s": time.time() - record["submitted"], "restarts": restarts(record["name"]),
                "tasks": len(record["placement"]), "placement": dict(record["placement"])}

    def _save(self, record: dict[str, Any]) -> None:
        save_record(record)

    def _each(self, workers: list[Any], method: str, *args: Any) -> None:
        for w in workers:
            if w is not None:
                getattr(w, method).remote(*args)

    def _each_get(self, workers: list[Any], method: str, *args: Any) -> list[Any]:
        refs = [getattr(w, method).remote(*args) for w in workers if w is not None]
        try:
            return self._ray.get(refs, timeout=60)
        except Exception:       # a worker that died meanwhile: nothing to wait for
            return []

    def _statuses(self, workers: list[Any], timeout_s: float) -> list[dict[str, Any] | None]:
        return self._ask(workers, "status", timeout_s)

    def _probes(self, workers: list[Any]) -> list[dict[str, Any] | None]:
        """Each worker's probe (read between two passes of its loop), None where one did
        not answer."""
        return self._ask(workers, "probe", _PROBE_WAIT_S)

    def _ask(self, workers: list[Any], method: str, timeout_s: float) -> list[Any]:
        refs = [getattr(w, method).remote() if w is not None else None for w in workers]
        live = [r for r in refs if r is not None]
        ready, _ = self._ray.wait(live, num_returns=len(live), timeout=timeout_s)
        ready = set(ready)
        out = []
        for r in refs:
            if r is None or r not in ready:
                out.append(None)
                continue
            try:
                out.append(self._ray.get(r))
            except Exception:   # the actor is dead or restarting
                out.append(None)
        return out

    def _monitor(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                names = list(self._topologies)
            for name in names:
                try:
                    self._watch(name)
                except Exception:
                    log.exception("monitoring topology %s", name)
            time.sleep(_MONITOR_S)

    def _topology_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._topology_locks.setdefault(name, threading.Lock())

    def _watch(self, name: str) -> None:
        with self._topology_lock(name):
            self._watch_locked(name)

    def _watch_locked(self, name: str) -> None:
        with self._lock:
            record = self._topologies.get(name)
            workers = self._workers.get(name)
        if record is None or workers is None or record["phase"] in ("done", "killing"):
            return
        run = self._runs.setdefault(name, {"last_seen": [time.monotonic()] * len(workers), "quiet": None,
                                           "eoi": None, "pids": [None] * len(workers)})
        statuses = self._statuses(workers, timeout_s=0.5)
        now = time.monotonic()
        timeout_s = record["conf"][WORKER_TIMEOUT_SECS]
        for i, st in enumerate(statuses):
            if st is not None:
                run["last_seen"][i] = now
                if run["pids"][i] is not None and run["pids"][i] != st["pid"]:
                    log.warning("topology %s: worker %d restarted (pid %s -> %s)", name, i,
                                run["pids"][i], st["pid"])
                run["pids"][i] = st["pid"]
                if st["error"] and not record["error"]:
                    record["error"] = f"worker {i}: {st['error']}"
            elif now - run["last_seen"][i] > timeout_s:
                log.warning("topology %s: worker %d sent no heartbeat for %.0f s: restarting it",
                            name, i, now - run["last_seen"][i])
                self._ray.kill(workers[i], no_restart=False)
                run["last_seen"][i] = now
        if any(st is None for st in statuses):
            run["quiet"] = None
            return
        if record["state_backend"] is not None and not self._checkpoints(record, workers, statuses, run):
            run["quiet"] = None
            return
        if not record["until_complete"]:
            return
        if record["error"]:
            self._finish(record, workers, completed=False)
            return
        phase = record["phase"]
        # Quiet: every worker settled (see _wait_quiet), in two rounds in a row that saw
        # the same counters (nothing moved in between). Asked only where a phase needs it.
        quiet_key, quiet_now = None, False
        if phase in ("ending", "finishing") or (phase == "running" and all(st["emitted_all"] for st in statuses)):
            probes = self._probes(workers)
            if any(p is None for p in probes):
                run["quiet"] = None
                return
            quiet_key = tuple((p["incarnation"], p["sent"], p["received"]) for p in probes)
            quiet_now = all(p["settled"] for p in probes)
        quiet = quiet_now and run["quiet"] == quiet_key
        run["quiet"] = quiet_key if quiet_now else None
        if phase == "running":
            if quiet and all(st["emitted_all"] for st in statuses):
                topology = self._pickle.loads(record["topology"])
                run["eoi"] = [c for c in topology.topological_order() if not topology.components[c].is_spout]
                run["hosts"] = {c: sorted({record["placement"][t] for t in topology.task_ids(c)})
                                for c in run["eoi"]}
                record["phase"] = "ending"
                run["quiet"] = None
        elif phase == "ending":
            if quiet:
                if run["eoi"]:
                    component = run["eoi"].pop(0)
                    self._ray.get([workers[i].end_of_input.remote(component) for i in run["hosts"][component]])
                    run["quiet"] = None
                else:
                    record["phase"] = "finishing"
        elif phase == "finishing":
            if quiet and all(st["exhausted"] and st["pending"] == 0 for st in statuses):
                if record["state_backend"] is not None:
                    run["final_taken"] = self._final_checkpoint(record, workers, run)
                    if not run["final_taken"] and any(st["rollback_wanted"] for st in self._statuses(
                            workers, timeout_s=2.0) if st is not None):
                        return              # a tree failed meanwhile: roll back, then try again
                self._ray.get([w.drain_and_stop.remote(1.0) for w in workers])
                record["phase"] = "stopping"
        elif phase == "stopping":
            if all(not st["running"] for st in statuses):
                self._finish(record, workers, completed=True)

    def _finish(self, record: dict[str, Any], workers: list[Any], completed: bool) -> None:
        if completed and record["state_backend"] is not None:
            completed = bool(self._runs.get(record["name"], {}).get("final_taken"))
        if not completed:
            self._each(workers, "stop")
        with self._lock:
            record["phase"] = "done"
            record["completed"] = completed
            self._save(record)

    # -- checkpoints across workers ------------------------------------------------------
    def _step(self, worker: Any, step: str, *args: Any) -> Any:
        return self._ray.get(worker.checkpoint.remote(step, *args), timeout=_QUIET_TIMEOUT_S * 4)

    def _all(self, workers: list[Any], step: str, *args: Any, incarnations: list[str] | None = None) -> list[Any]:
        """``step`` on every worker; with ``incarnations``, each call is refused by a
        worker process other than the one named (a restarted successor)."""
        incarnations = incarnations or [None] * len(workers)
        return self._ray.get([w.checkpoint.remote(step, *args, incarnation=inc)
                              for w, inc in zip(workers, incarnations)], timeout=_QUIET_TIMEOUT_S * 4)

    def _checkpoints(self, record: dict[str, Any], workers: list[Any], statuses: list[dict[str, Any]],
                     run: dict[str, Any]) -> bool:
        """Restore, roll back and checkpoint the workers together; True when the run may
        go on to the bounded-run steps in this round."""
        if not all(st["opened"] for st in statuses):
            return False
        exactly_once = record["conf"][CHECKPOINT_MODE] == EXACTLY_ONCE
        fresh = [i for i, st in enumerate(statuses) if not st["restored"]]
        if fresh:
            decided = self._step(workers[0], "decided")
            if run.get("restored"):
                # A restarted worker resumes from the decided checkpoint, so all of them must
                # (in either guarantee): state that saw input after it would otherwise keep
                # what the restarted worker's spouts emit again, or lose what it held.
                self._rollback(record, workers, statuses, run, decided)
            else:
                for i in fresh:
                    self._step(workers[i], "restore", decided)
            run["restored"] = True
            run.setdefault("txid", decided or 0)
            run["txid"] = max(run["txid"], decided or 0)
            return False
        if exactly_once and any(st["rollback_wanted"] for st in statuses):
            self._rollback(record, workers, statuses, run, self._step(workers[0], "decided"))
            return False
        interval_s = record["conf"][CHECKPOINT_INTERVAL_MS] / 1000.0
        now = time.monotonic()
        if interval_s and record["phase"] in ("running", "ending") and now >= run.setdefault(
                "next_checkpoint", now + interval_s):
            self._checkpoint(record, workers, run, exactly_once)
            run["next_checkpoint"] = time.monotonic() + interval_s
        return True

    def _wait_quiet(self, workers: list[Any], incarnations: list[str] | None = None) -> list[str] | None:
        """Wait until no tuple, ack or batch is anywhere: every worker settled, read on its
        own loop between two passes (a read from another thread can miss a batch a bolt
        is executing), in two rounds that saw the same counters. Returns the workers'
        incarnations, or None when a worker did not answer, restarted (is not restored,
        or its incarnation is not the one in ``incarnations`` or in the first round) or
        the topology did not settle in 30 s."""
        deadline = time.monotonic() + _QUIET_TIMEOUT_S
        last = None
        while time.monotonic() < deadline:
            probes = self._probes(workers)
            if any(p is None for p in probes):
                return None
            seen = [p["incarnation"] for p in probes]
            if not all(p["restored"] for p in probes) or seen != (incarnations or seen):
                return None     # a worker restarted: the next round restores it first
            incarnations = seen
            if all(p["settled"] for p in probes):
                key = tuple((p["incarnation"], p["sent"], p["received"]) for p in probes)
                if key == last:
                    return seen
                last = key
            else:
                last = None
            time.sleep(0.005)
        return None

    def _checkpoint(self, record: dict[str, Any], workers: list[Any], run: dict[str, Any],
                    exactly_once: bool, keep_paused: bool = False) -> bool:
        """One checkpoint of every worker (the protocol of CheckpointParticipant); with
        ``keep_paused`` the spouts stay paused after a checkpoint that was taken."""
        txid = run["txid"] + 1
        self._all(workers, "pause")
        try:
            # Every step names the worker processes that took part from the first one:
            # Ray retries a call on a restarted process, which must not commit a
            # checkpoint its predecessor prepared only in part.
            incarnations = self._wait_quiet(workers)
            if incarnations is None:
                return False
            self._all(workers, "prepare_bolts", txid, incarnations=incarnations)
            if self._wait_quiet(workers, incarnations) is None:
                return False
            if not all(self._all(workers, "prepare_spouts", txid, exactly_once, incarnations=incarnations)):
                return False
            # The durable decision: worker 0's record.
            self._all(workers[:1], "decide", txid, incarnations=incarnations[:1])
            self._all(workers, "commit", txid, incarnations=incarnations)
            run["txid"] = txid
            run["backoff_s"] = 0.0
            record["checkpoints"] = record.get("checkpoints", 0) + 1
            return True
        finally:
            if not (keep_paused and run["txid"] == txid):
                self._all(workers, "resume", 0.0)

    def _final_checkpoint(self, record: dict[str, Any], workers: list[Any], run: dict[str, Any]) -> bool:
        exactly_once = record["conf"][CHECKPOINT_MODE] == EXACTLY_ONCE
        for attempt in range(_FINAL_CHECKPOINT_ATTEMPTS):
            if self._checkpoint(record, workers, run, exactly_once):
                return True
            time.sleep(min(1.0, 0.05 * 2 ** attempt))
        return False

    def _rollback(self, record: dict[str, Any], workers: list[Any], statuses: list[dict[str, Any]],
                  run: dict[str, Any], decided: int | None) -> None:
        """Every worker back to checkpoint ``decided`` in a new epoch; the spouts resume
        after a pause that doubles while rollbacks repeat without a checkpoint between."""
        epoch = max(st["epoch"] for st in statuses) + 1
        self._all(workers, "pause")
        self._all(workers, "rollback", epoch, decided)
        first, longest = _ROLLBACK_BACKOFF_S
        run["backoff_s"] = min(longest, run.get("backoff_s", 0.0) * 2 or first)
        self._all(workers, "resume", run["backoff_s"])
        record["rollbacks"] = record.get("rollbacks", 0) + 1
        if record["phase"] in ("ending", "finishing"):
            record["phase"] = "running"         # the input is emitted again from the checkpoint
        log.warning("topology %s: rolled back to checkpoint %s (epoch %d)", record["name"], decided, epoch)
