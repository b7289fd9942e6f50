"""``squall smartcar produce`` writes the feed into a real Kafka topic."""

from __future__ import annotations

from collections import Counter

from click.testing import CliRunner

from squall_smartcar.obd import read_fleet
from squall_smartcar.produce import produce
from squall_smartcar.record import date_to_ms, parse_line


def run(*args, code=0):
    res = CliRunner().invoke(produce, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == code, res.output
    return res


def test_simulator_feed_one_message_per_record_keyed_by_car(kafka, topic, consume_all):
    t = topic(2)
    res = run("--cars", 4, "--duration", 5, "--kafka", kafka.bootstrap, "--topic", t)
    assert "sent 20 messages" in res.output and "confirmed 20; failed 0" in res.output
    msgs = consume_all(t, 20)
    assert len(msgs) == 20
    keys = Counter(m.key().decode() for m in msgs)
    assert keys == {f"SIM{i:05d}": 5 for i in range(4)}
    for m in msgs:
        rec = parse_line(m.value().decode("utf-8"))
        assert rec.car_number == m.key().decode()


def test_replay_writes_malformed_rows_raw(kafka, topic, consume_all, tmp_path):
    (tmp_path / "car a.csv").write_text(
        "ENGINE_RUN_TINE (),VEHICLE_SPEED (),PEDAL_D ()\n0,10,5\n1,20,6\nnot-a-number,x,1\n2,30,7\n")
    (tmp_path / "carb.csv").write_text("ENGINE_RUN_TINE (),VEHICLE_SPEED ()\n0,90\n1,95\n")
    expected = list(read_fleet(tmp_path, date_to_ms("20240101000000")))
    t = topic(1)
    res = run("--replay", tmp_path, "--kafka", kafka.bootstrap, "--topic", t)
    assert f"sent {len(expected)} messages (1 malformed" in res.output
    msgs = consume_all(t, len(expected))
    assert [(m.key().decode(), m.value().decode()) for m in msgs] == [(r.car_number, r.line) for r in expected]
    assert "not-a-number,x,1" in [m.value().decode() for m in msgs]


def test_missing_topic_is_an_error(kafka):
    # Needs produce.py to turn KafkaStartupError into a CliError (one line, exit 2).
    res = run("--cars", 1, "--duration", 1, "--kafka", kafka.bootstrap, "--topic", "no-such-topic",
              "--timeout", 2, code=2)
    assert "topic 'no-such-topic' not found on Kafka" in res.output and "Traceback" not in res.output


def test_unreachable_broker_is_one_error_line(caplog):
    from tests.services.launch import free_port

    res = run("--cars", 1, "--duration", 1, "--kafka", f"127.0.0.1:{free_port()}", "--topic", "t",
              "--timeout", 1, code=2)
    assert "unreachable" in res.output and "Traceback" not in res.output
    assert len([r for r in caplog.records if "Connection refused" in r.getMessage() and r.levelno >= 20]) <= 3
