"""Kafka that cannot be reached: reported once, librdkafka's lines throttled, a bounded run
ends with a clear error after startup_timeout_s; an unbounded one keeps trying.

Most tests point at a loopback port nothing listens on (librdkafka then retries about
20 times a second, each attempt a log line and an error callback); the missing-topic
test uses the session's real broker.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import uuid

import pytest

from squall.component import TopologyContext
from squall.connectors.kafka import (KafkaBolt, KafkaOutageError, KafkaSpout, KafkaSpoutConfig,
                                     KafkaStartupError)
from squall.runtime import LocalCluster, run_topology
from squall.testing import ListSink, RecordingCollector
from squall.topology import TopologyBuilder
from squall.tuple import Fields, Tuple, TupleSource
from tests.services.launch import free_port



def wait_until(cond, timeout_s, what, step_s=0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step_s)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def spouts(cluster, name):
    return [t.obj for t in cluster._handle(name).worker.spout_tasks]


def dead_address() -> str:
    return f"127.0.0.1:{free_port()}"


def bounded(bootstrap, topics=("t",), **kw):
    cfg = KafkaSpoutConfig(bootstrap, f"g-{uuid.uuid4().hex[:6]}", topics=topics, stop_at_end=True, **kw)
    b = TopologyBuilder()
    b.set_spout("kafka", KafkaSpout(cfg))
    b.set_bolt("sink", ListSink(f"sink-{uuid.uuid4().hex[:6]}")).shuffle_grouping("kafka")
    return b.build()


def outage_records(caplog):
    """Records at INFO or above about the outage: librdkafka's lines and the reports."""
    return [r for r in caplog.records if r.levelno >= logging.INFO and
            ("Connection refused" in r.getMessage() or "unreachable" in r.getMessage())]


def held_back(caplog):
    """librdkafka lines the throttle turned into DEBUG records."""
    return [r for r in caplog.records if r.levelno == logging.DEBUG and r.name == "squall.connectors.kafka"
            and "Connection refused" in r.getMessage()]


def test_a_bounded_run_without_brokers_ends_with_a_clear_error(caplog):
    caplog.set_level(logging.DEBUG, logger="squall.connectors.kafka")
    address = dead_address()
    with pytest.raises(KafkaStartupError) as info:
        run_topology(bounded(address, startup_timeout_s=2.0), timeout_s=120)
    err = info.value
    assert f"Kafka {address} unreachable" in str(err) and "Connection refused" in str(err)
    assert "startup_timeout_s=2 s" in str(err) and err.timeout_s == 2.0 and err.servers == address
    # librdkafka tried many times; what a user sees is the first line and one report.
    assert len(held_back(caplog)) >= 5, "the client did not retry: nothing was throttled"
    shown = outage_records(caplog)
    assert 1 <= len(shown) <= 3, [r.getMessage() for r in shown]
    assert sum("KafkaOutageError" in r.getMessage() for r in shown) == 1


def test_the_startup_error_reaches_whoever_waits_on_the_topology():
    # What `squall smartcar run --kafka` relies on: the spout task may be a copy, but the
    # error ends the worker and TopologyHandle.wait raises it.
    # The whole `with` block: leaving it waits on the topology again, which raises again.
    with pytest.raises(KafkaStartupError, match="unreachable"):
        with LocalCluster() as cluster:
            handle = cluster.submit_topology("dead", {}, bounded(dead_address(), startup_timeout_s=1.0),
                                             until_complete=True)
            handle.wait(60)
    assert not handle.running


def test_an_unbounded_spout_keeps_trying_and_reports_once(caplog):
    caplog.set_level(logging.DEBUG, logger="squall.connectors.kafka")
    cfg = KafkaSpoutConfig(dead_address(), "g", topics=("t",), startup_timeout_s=1.0)   # not bounded: ignored
    b = TopologyBuilder()
    b.set_spout("kafka", KafkaSpout(cfg))
    b.set_bolt("sink", ListSink("unbounded-dead")).shuffle_grouping("kafka")
    with LocalCluster() as cluster:
        handle = cluster.submit_topology("dead", {}, b.build())
        (spout,) = spouts(cluster, "dead")
        wait_until(lambda: len(held_back(caplog)) >= 20, 60, "20 connection attempts")
        assert handle.running
        assert spout.counts["outages"] == 1
        errors = cluster.get_stats("dead")["kafka"].last_errors
    assert len(errors) == 1 and "KafkaOutageError" in errors[0] and "retrying with backoff" in errors[0]
    assert len(outage_records(caplog)) <= 3


def test_a_bounded_run_of_a_missing_topic_names_it(kafka):
    missing = f"absent-{uuid.uuid4().hex[:6]}"
    with pytest.raises(KafkaStartupError, match=f"topic '{missing}' not found on Kafka"):
        run_topology(bounded(kafka.bootstrap, topics=(missing,), startup_timeout_s=1.0), timeout_s=60)


def test_startup_timeout_is_validated():
    with pytest.raises(ValueError, match="startup_timeout_s"):
        KafkaSpoutConfig("b:1", "g", topics="t", startup_timeout_s=0)
    with pytest.raises(ValueError, match="startup_timeout_s"):
        KafkaBolt("b:1", "t", startup_timeout_s=-1)


def test_a_bolt_without_brokers_fails_its_tuples_and_reports_once(caplog):
    caplog.set_level(logging.DEBUG, logger="squall.connectors.kafka")
    bolt = KafkaBolt(dead_address(), "t", producer_config={"message.timeout.ms": 1000}, flush_timeout_s=0.05)
    rec = RecordingCollector()
    bolt.prepare({}, TopologyContext(topology=None, component_id="kafka", task_id=1, component_tasks=(1,)), rec)
    src = TupleSource("src", 1, "default", Fields(["key", "message"]))
    batch = [Tuple([None, f"line {i}"], src, None) for i in range(50)]
    bolt.process_batch(batch)
    wait_until(lambda: bolt.process_batch([]) or len(rec.failed) == 50, 60, "every delivery to time out")
    assert rec.acked == [] and {id(t) for t in rec.failed} == {id(t) for t in batch}
    assert len(rec.errors) == 1 and isinstance(rec.errors[0], KafkaOutageError), rec.errors
    assert "retrying with backoff" in str(rec.errors[0])
    assert len(outage_records(caplog)) <= 2
    bolt.cleanup()


def test_collect_once_without_brokers_prints_one_error_line(tmp_path, caplog):
    from click.testing import CliRunner

    from squall.cli import main

    log = tmp_path / "feed.log"
    log.write_text("a\nb\n")
    result = CliRunner().invoke(main, ["collect", "--tail", str(log), "--kafka", dead_address(), "--topic", "t",
                                       "--once", "--startup-timeout", "1"])
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("squall: error:")]
    assert len(errors) == 1 and "unreachable" in errors[0] and "startup_timeout_s=1 s" in errors[0], result.output
    assert "Traceback" not in result.output
    assert len(outage_records(caplog)) <= 3


def test_smartcar_run_without_brokers_is_one_error_line_not_a_flood(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "squall", "smartcar", "run", "--kafka", "127.0.0.1:1",
                           "--topic", "cars", "--startup-timeout", "3", "--data-dir", tmp_path / "d"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("squall: error: KafkaSpout") and "127.0.0.1:1 unreachable" in lines[-1]
    assert "startup_timeout_s=3" in lines[-1] and "Traceback" not in proc.stderr
    # librdkafka retries the closed port about 20 times a second: each kind is shown once.
    refused = [line for line in lines if "Connection refused" in line]
    assert len(refused) <= 3, proc.stderr
