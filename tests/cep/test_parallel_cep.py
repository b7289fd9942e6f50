"""Parallel CEP: a rule in a keyed context runs on several CEP tasks fed by a fields
grouping on the partition property, with the rows of one engine (as a multiset)."""

from __future__ import annotations

import json
import re

import pytest

from squall import TopologyValidationError
from squall.cep.bolt import CepBolt
from squall.cep.engine import EPLEngine, ExternalClock
from squall.runtime import run_topology
from squall_smartcar.obd import read_fleet
from squall_smartcar.record import EVENT_PROPERTIES, date_to_ms, ms_to_date, parse_line
from squall_smartcar.sources import ReplaySpout
from squall_smartcar.topology import DEFAULT_RULE, PER_CAR_RULE, Stores, build_topology
from tests.reference_data import SAMPLE
from tests.smartcar.smartcar_oracle import DEFAULT_START

START_MS = date_to_ms(DEFAULT_START)


def _log_lines(tmp_path, name: str, rule: str, cep_tasks: int) -> set[str]:
    data = tmp_path / name
    log = data / "detections.jsonl"
    topology = build_topology(ReplaySpout(str(SAMPLE), START_MS), Stores.embedded(data), rule,
                              speeding_log=str(log), cep_tasks=cep_tasks)
    assert topology.components["cep"].num_tasks == cep_tasks
    result = run_topology(topology)
    assert result.completed and not result.errors(), result.errors()
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(set(lines))    # each (car, batch) logged once
    return set(lines)


def _single_engine_lines(rule: str) -> set[str]:
    """The detection log lines of one EPLEngine fed every record of the sample trips."""
    engine = EPLEngine(ExternalClock(0))
    rows = []
    statements = engine.compile(rule)
    st = statements[-1]
    st.add_listener(lambda new, old: rows.extend((st.last_output_window, r) for r in new))
    started = False
    for reading in read_fleet(SAMPLE, START_MS):
        if reading.error is not None:
            continue
        record = parse_line(reading.line)
        ts = record.event_time_ms
        if not started or ts > engine.current_time_ms:
            engine.advance_time(ts)
            started = True
        engine.send("DriverCarInfo", {EVENT_PROPERTIES[f]: v for f, v in record._asdict().items()})
    engine.advance_time(engine.current_time_ms + 10 * 24 * 3600 * 1000)
    return {json.dumps({"car_number": r["carNumber"], "window_start": ms_to_date(w[0]),
                        "window_end": ms_to_date(w[1]), "avg_speed": r["avgSpeed"], "events": r["events"]})
            for w, r in rows}


def test_per_car_rule_on_three_tasks_logs_the_detections_of_one_task_and_of_one_engine(tmp_path):
    rule = PER_CAR_RULE.read_text(encoding="utf-8")
    three = _log_lines(tmp_path, "three", rule, 3)
    one = _log_lines(tmp_path, "one", rule, 1)
    assert three == one
    assert three == _single_engine_lines(rule)
    # Several cars speed, so three tasks really split the detections between them.
    assert len({json.loads(line)["car_number"] for line in three}) >= 2
    # The sample's trips all start at one time: per-car batches fall where the fleet's do.
    assert three == _single_engine_lines(DEFAULT_RULE.read_text(encoding="utf-8"))


def test_cep_tasks_uses_a_fields_grouping_on_car_number():
    topology = build_topology(ReplaySpout(str(SAMPLE), START_MS), Stores.embedded("/nonexistent"),
                              PER_CAR_RULE.read_text(encoding="utf-8"), cep_tasks=3)
    [sub] = topology.components["cep"].inputs
    assert sub.source.component == "parse"
    assert tuple(sub.grouping.fields) == ("car_number",)


def test_a_rule_without_context_is_refused_on_several_tasks_with_the_reason():
    with pytest.raises(TopologyValidationError, match="statement 'speeding' does not run in a context"):
        build_topology(ReplaySpout(str(SAMPLE), START_MS), Stores.embedded("/nonexistent"),
                       DEFAULT_RULE.read_text(encoding="utf-8"), cep_tasks=2)


KEYED = "create context PerCar partition by carNumber from Car;\n"


@pytest.mark.parametrize("epl, fields", [
    (KEYED + "context PerCar select carNumber, count(*) from Car#length_batch(2)", ("car_no",)),
    ("create context Two partition by carNumber and area from Car;\n"
     "create context One partition by carNumber from Car;\n"
     "context Two select carNumber, area, count(*) from Car#length_batch(2);\n"
     "context One select context.key1, sum(speed) from Car#length_batch(3)", ("car_no",)),
    ("create constant variable int speedLimit = 80;\n" + KEYED +
     "context PerCar select carNumber from Car(speed > speedLimit)", ("car_no",)),
])
def test_partition_fields_of_keyed_rules(epl, fields):
    bolt = CepBolt(epl, "Car", {"car_no": "carNumber"})
    assert bolt.partition_refusal() is None
    assert bolt.partition_fields() == fields


@pytest.mark.parametrize("epl, reason", [
    ("select carNumber, count(*) from Car#length_batch(2) group by carNumber",
     "statement 'rule' does not run in a context"),
    (KEYED + "context PerCar select carNumber from Car; select count(*) from Car#length_batch(2)",
     "statement 'rule#2' does not run in a context"),
    (KEYED + "context PerCar select context.id, carNumber from Car",
     "statement 'rule#1' reads context.id"),
    ("create context Fast group by speed > 80 as fast, group by speed <= 80 as slow from Car;\n"
     "context Fast select count(*) from Car#length_batch(2)", "which is category, not keyed"),
    ("create context A partition by carNumber from Car;\ncreate context B partition by area from Car;\n"
     "context A select count(*) from Car#length_batch(2);\ncontext B select count(*) from Car#length_batch(2)",
     "statement 'rule#3' is partitioned by \\(area\\)"),
])
def test_rules_that_cannot_be_split_say_why(epl, reason):
    bolt = CepBolt(epl, "Car", {"car_no": "carNumber"})
    assert bolt.partition_fields() is None
    assert re.search(reason, bolt.partition_refusal()), bolt.partition_refusal()
