"""``squall smartcar run --mode micro-batch`` gives the per-tuple mode's stores and
detection log on the sample trips, and refuses what only the per-tuple mode has."""

from __future__ import annotations

import pytest

from smartcar_helpers import parse_summary
from smartcar_oracle import Fleet
from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore
from squall_smartcar.topology import TABLE
from tests.reference_data import SAMPLE

pytest.importorskip("polars")


def stores(data):
    with EmbeddedTableStore(data, read_only=True).open() as t, EmbeddedKeyValueStore(data, read_only=True).open() as kv:
        return dict(t.open_table(TABLE).scan()), set(kv.smembers("20240101"))


def test_micro_batch_mode_equals_per_tuple_mode(cli, tmp_path):
    runs = {}
    for mode in ("per-tuple", "micro-batch"):
        data, log = tmp_path / mode, tmp_path / f"{mode}.jsonl"
        res = cli("smartcar", "run", "--replay", SAMPLE, "--data-dir", data, "--speeding-log", log, "--mode", mode)
        runs[mode] = (parse_summary(res.stdout), stores(data), sorted(log.read_text().splitlines()))
    assert runs["micro-batch"][1:] == runs["per-tuple"][1:]
    fleet = Fleet(SAMPLE)
    summary = runs["micro-batch"][0]
    assert summary["read"] == summary["stored"] == fleet.record_count and summary["no_loss"]
    assert runs["micro-batch"][1][1] == set(fleet.speeding_by_day(80)["20240101"])


def test_micro_batch_mode_refuses_per_tuple_options(cli, tmp_path):
    res = cli("smartcar", "run", "--mode", "micro-batch", "--data-dir", tmp_path, expect_exit=2)
    assert "give --replay DIR" in res.stderr
    res = cli("smartcar", "run", "--replay", SAMPLE, "--mode", "micro-batch", "--workers", "2",
              "--data-dir", tmp_path, expect_exit=2)
    assert "--workers" in res.stderr or "workers" in res.stderr
