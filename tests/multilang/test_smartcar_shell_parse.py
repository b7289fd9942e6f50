"""The smart-car parse step in JavaScript (examples/smartcar/parse.js, on Storm's own
storm.js) gives the pipeline exactly the outputs of the Python ParseBolt: table rows,
dead letters with their reasons, speeding sets and detection log, on the sample trips
with malformed rows and lines; and the independent oracle's detections."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from itertools import chain
from types import SimpleNamespace
from pathlib import Path

import pytest

from squall.runtime import run_topology
from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore
from squall_smartcar.bolts import ParseBolt
from squall_smartcar.obd import Reading
from squall_smartcar.record import date_to_ms
from squall_smartcar.sources import ReplaySpout
from squall_smartcar.topology import DEFAULT_RULE, PARSE_JS, Stores, build_topology
from tests.reference_data import SAMPLE
from tests.smartcar.smartcar_oracle import DEFAULT_START, Fleet

pytestmark = pytest.mark.skipif(shutil.which("node") is None,
                                reason="node is not installed (.ci/run installs nodejs from Debian's packages)")

# Rows the OBD reader rejects (copied from tests/smartcar/test_replay_e2e.py): the
# reader's reason reaches the parse step as the tuple's error.
BAD_ROWS = [
    b"abc, 1000.000000, 50.000000, 1\r\n",
    b"{rt}, 1000.000000, , 1\r\n",
    b"{rt}, 1000.000000, nan, 1\r\n",
    b"{rt}, 1000.000000\r\n",
    b"{rt}, 1000.000000, -12.000000, 1\r\n",
    b"{rt}, 1000.000000, \xff\xfe\x9a, 1\r\n",
]

# Feed lines parse_line rejects, each with its reason (the parse step's own checks).
BAD_LINES = [
    ("20240101000030,drive1,12.5,0,0,0", "expected 8 comma-separated fields, got 6"),
    ("2024010100003,drive1,12.5,0,0,0,83.0,0", "date must be 14 digits yyyyMMddHHmmss, got '2024010100003'"),
    ("20230229000000,drive1,12.5,0,0,0,83.0,0",
     "date '20230229000000' is not a real date/time: day is out of range for month"),
    ("20240101000030, ,12.5,0,0,0,83.0,0", "car_number is empty"),
    ("20240101000030,drive1,12.5,0,0,0,fast,0", "speed is not a number: 'fast'"),
    ("20240101000030,drive1,12.5,0,0,0,\"it's\",0", "speed is not a number: '\"it\\'s\"'"),
    ("20240101000030,drive1,inf,0,0,0,83.0,0", "speed_pedal is not finite: 'inf'"),
    ("20240101000030,drive1,12.5,0,0,0, -4.5 ,0", "speed is negative: '-4.5'"),
    ("20240101000030,drive1,12.5,0,0,3,83.0,0", "direct_light must be 0, 1 or 2, got '3'"),
    ("x" * 70000, "record is 70,000 bytes; a record is at most 65,536 (stored truncated)"),
    (None, "empty message (no value)"),
]

START_MS = date_to_ms(DEFAULT_START)


class TripsAndLines(ReplaySpout):
    """The fleet replay, then the malformed feed lines of BAD_LINES."""

    def readings(self):
        extra = (Reading(0, "bad", line, f"bad:{i}", None) for i, (line, _) in enumerate(BAD_LINES))
        return chain(super().readings(), extra)


def _python_outputs(inputs):
    out = []

    class Collector:
        def emit(self, values, stream="default"):
            out.append([stream, values])

    bolt, collector = ParseBolt(), Collector()
    for values in inputs:
        bolt.execute(SimpleNamespace(values=values), collector)
    return out


def _js_outputs(inputs):
    script = ("const p = require(process.argv[1]);"
              "const inputs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "process.stdout.write('[' + inputs.map(v => p.toJson(p.execute(v))).join(',') + ']');")
    done = subprocess.run(["node", "-e", script, str(PARSE_JS)], input=json.dumps(inputs).encode(),
                          capture_output=True, check=True)
    return json.loads(done.stdout)


def _typed(outputs):
    """JSON text keeps 12 and 12.0 apart, as the table writer's str() does."""
    return [json.dumps(o) for o in outputs]


def test_parse_js_emits_what_parse_bolt_emits_line_by_line():
    good = "20240101000030,drive1,12.5,0,0,0,83.0,0"
    lines = [good, good + "\r\n", "20240101000030, drive1 ,12,0,-0,1,83,7", "20240101000030,d,1,0,0,2.0,-0,a",
             "20240229235959,d,1_0,1e1_0,\u0661.\u0665, 2 ,1e400,x", "20240101000000,d,1\x85,\xa01,1,1,1,1",
             "20240101000000,d,\x1c1,1,1,1,1,1", "00000101000000,d,1,1,1,1,1,1", "99991231235959,d,1,1,1,1,1,1",
             "20240101240000,d,1,1,1,1,1,1", "2024010100000\u00e9,d,1,1,1,1,1,1",
             "20240101000000,d,\x00\x7f\u200b\U0001F600 \u00e9\\,1,1,1,1,1", "20240101000000,d,1,1,1,1,1,\u3000a\u3000",
             "20240101000000,d,1e-7,1e16,1e21,123456789012345678,0.1,1", "20240101000000,d,.5,5.,+.5,1,1E5,1",
             "20240101000000,d,1__0,1,1,1,1,1", "20240101000000,d,0x10,1,1,1,1,1", "20240101000000,d,,1,1,1,1,1",
             "\U0001F600" * 65537, "\U0001F600" * 40000]
    first_bad = len(lines)
    lines += [line for line, _ in BAD_LINES]
    rng = random.Random(14)
    alphabet = "0123456789.,-+eE_ \t\r\ninfa'\"\x85\xa0\u0661"
    for _ in range(1000):
        fields = good.split(",")
        fields[rng.randrange(8)] = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        lines.append(",".join(fields))
    inputs = [[line, f"o{i}", None] for i, line in enumerate(lines)] + [["raw row", "t.csv:3", "no speed"]]

    expected = _python_outputs(inputs)
    assert _typed(_js_outputs(inputs)) == _typed(expected)
    assert expected[0] == ["default", ["03000010104202-drive1", "20240101000030", "drive1", 12.5, 0.0, 0.0, 0,
                                       83.0, "0", 1704067230000]]
    assert [values[1] for _, values in expected[first_bad:first_bad + len(BAD_LINES)]] == \
        [reason for _, reason in BAD_LINES]


def _trips_with_bad_rows(dest: Path) -> Path:
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("*.md"))
    trip = dest / "live39.csv"
    lines = trip.read_bytes().split(b"\n")
    out = lines[:1]
    for i, line in enumerate(lines[1:], start=1):
        out.append(line)
        if i % 150 == 0 and i // 150 <= len(BAD_ROWS):
            rt = line.split(b",", 1)[0]
            out.append(BAD_ROWS[i // 150 - 1].replace(b"{rt}", rt).rstrip(b"\r\n") + b"\r")
    trip.write_bytes(b"\n".join(out))
    return dest


def _table(data: Path, name: str) -> dict[str, dict[str, bytes]]:
    store = EmbeddedTableStore(data).open()
    try:
        return dict(store.open_table(name).scan()) if name in store.tables() else {}
    finally:
        store.close()


def _speeding_sets(data: Path) -> dict[str, set[str]]:
    kv = EmbeddedKeyValueStore(data).open()
    try:
        return {key: kv.smembers(key) for key in kv.keys()}
    finally:
        kv.close()


def _run(trips: Path, data: Path, parse_command=None, parse_cwd=None):
    log = data / "detections.jsonl"
    topology = build_topology(TripsAndLines(str(trips), START_MS), Stores.embedded(data),
                              DEFAULT_RULE.read_text(encoding="utf-8"), speeding_log=str(log),
                              parse_command=parse_command, parse_cwd=parse_cwd)
    result = run_topology(topology)
    assert result.completed and not result.errors(), result.errors()
    return {"rows": _table(data, "DriverCarInfo"), "dead": _table(data, "DeadLetters"),
            "speeding": _speeding_sets(data), "log": log.read_text(encoding="utf-8")}


def test_node_parse_bolt_gives_the_python_pipeline_outputs_on_the_sample_trips(tmp_path, storm_adapters):
    trips = _trips_with_bad_rows(tmp_path / "trips")
    js_dir = tmp_path / "js"
    js_dir.mkdir()
    shutil.copy(PARSE_JS, js_dir / "parse.js")
    shutil.copy(storm_adapters / "storm.js", js_dir / "storm.js")

    python = _run(trips, tmp_path / "data-python")
    node = _run(trips, tmp_path / "data-node", ["node", "parse.js"], js_dir)

    assert node["rows"] == python["rows"]
    assert node["dead"] == python["dead"]
    assert node["speeding"] == python["speeding"]
    assert node["log"] == python["log"]

    # And both are right: the oracle's records, detections and rejected rows.
    fleet = Fleet(trips)
    assert fleet.bad_rows == len(BAD_ROWS)
    expected_rows = fleet.rows()
    assert set(node["rows"]) == set(expected_rows)
    assert all(node["rows"][k]["cf1:speed"] == str(speed).encode() for k, (_, speed) in expected_rows.items())
    detections = {(e["car_number"], e["window_start"], e["window_end"]): (e["avg_speed"], e["events"])
                  for e in map(json.loads, node["log"].splitlines())}
    expected = fleet.detections(80)
    assert set(detections) == set(expected) and expected
    for key, (avg, events) in expected.items():
        assert detections[key] == (pytest.approx(avg, rel=1e-9), events), key
    assert node["speeding"] == fleet.speeding_by_day(80)

    dead = node["dead"]
    assert len(dead) == len(BAD_ROWS) + len(BAD_LINES)
    assert all(dead[f"bad:{i}"]["d:reason"] == reason.encode() for i, (_, reason) in enumerate(BAD_LINES))
    assert all(cells["d:component"] == b"parse" for cells in dead.values())
