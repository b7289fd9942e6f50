"""A Trident topology (micro-batch mode) on two Ray worker processes: batches cross the
workers as tuples and the transactional key-value state counts every word exactly
once, as in one process."""

from __future__ import annotations

import json
from collections import Counter

import pytest

pytest.importorskip("polars")
pytest.importorskip("ray")

from squall.store import EmbeddedKeyValueStore  # noqa: E402


def test_trident_word_count_on_two_workers_counts_each_word_once(ray_cluster, tmp_path):
    import polars as pl

    from squall.microbatch import ListSource
    from squall.microbatch.trident import Count, KeyValueMapState, Split, TridentTopology

    sentences = [[f"the w{i % 7} cow w{i % 3}", "the end"] for i in range(60)]
    want = Counter(w for batch in sentences for s in batch for w in s.split())
    topo = TridentTopology()
    (topo.new_stream("sentences", ListSource([pl.DataFrame({"sentence": b}) for b in sentences]),
                     fields=["sentence"])
     .each(["sentence"], Split(), ["word"]).parallelism_hint(2)
     .group_by(["word"]).persistent_aggregate(KeyValueMapState(EmbeddedKeyValueStore(tmp_path / "kv"), "words"),
                                              Count(), ["count"]))
    handle = ray_cluster.submit_topology("trident", {}, topo.build(), workers=2, until_complete=True)
    assert handle.wait(300)
    placement = handle.summary()["placement"]
    ray_cluster.kill_topology("trident")
    assert len(set(placement.values())) == 2
    with EmbeddedKeyValueStore(tmp_path / "kv", read_only=True).open() as kv:
        got = {w: json.loads(kv.get(f'trident:words:["{w}"]'))[1][0] for w in want}
    assert got == dict(want)
