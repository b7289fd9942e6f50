"""Two workers exchanging tuples and acks through a transport, as Ray actors will."""

import pickle
import threading

from squall import Bolt, TopologyBuilder
from squall.runtime import Worker
from squall.testing import ListSink, ListSpout


FAILED: list[int] = []


class FailThreeOnce(Bolt):
    def declare_output_fields(self, declarer):
        declarer.declare(["n", "square"])

    def prepare(self, config, context, collector):
        self.collector = collector

    def process(self, tup):
        n = tup[0]
        if n == 3 and not FAILED:   # once across both tasks: the replay then succeeds
            FAILED.append(n)
            self.collector.fail(tup)
            return
        self.collector.emit([n, n * n], anchors=[tup])
        self.collector.ack(tup)


def test_tuples_and_acks_cross_workers_through_a_pickling_transport():
    ListSpout.reset("two")
    ListSink.reset("two-sink")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(50)], ["n"], name="two"))
    b.set_bolt("square", FailThreeOnce(), 2).shuffle_grouping("src")
    b.set_bolt("sink", ListSink("two-sink")).global_grouping("square")
    topo = b.build()
    # Worker 0: the spout and the sink; worker 1: both square tasks.
    w1_tasks = set(topo.task_ids("square"))
    w0_tasks = set(topo.component_of_task()) - w1_tasks
    placement = {**{t: 0 for t in w0_tasks}, **{t: 1 for t in w1_tasks}}
    workers = {}

    def transport(target, message):
        workers[target].deliver(pickle.loads(pickle.dumps(message)))  # as over a wire

    workers[0] = Worker(topo, {}, w0_tasks, worker_index=0, placement=placement, transport=transport)
    workers[1] = Worker(topo, {}, w1_tasks, worker_index=1, placement=placement, transport=transport)
    t1 = threading.Thread(target=workers[1].run, daemon=True)
    t1.start()
    t0 = threading.Thread(target=workers[0].run, kwargs={"until_complete": True}, daemon=True)
    t0.start()
    t0.join(20)
    workers[1].stop()
    t1.join(5)
    assert not t0.is_alive() and workers[0].completed
    assert ListSpout.failed("two") == [3]
    assert sorted(ListSpout.acked("two")) == list(range(50))
    assert sorted(tuple(v) for v in ListSink.values("two-sink")) == [(i, i * i) for i in range(50)]
    square = workers[1].stats()["square"]
    assert (square.acked, square.failed, square.executed) == (50, 1, 51)
