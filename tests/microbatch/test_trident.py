"""Trident on columnar batches: word count, exactly-once state under replays, windows, joins, the speeding rule."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest

pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'squall[microbatch]')")

from squall.microbatch import ListSource  # noqa: E402
from squall.microbatch.errors import PlanError  # noqa: E402
from squall.microbatch.trident import (  # noqa: E402
    Avg, Combiner, Count, KeyValueMapState, Max, MemoryMapState, Min, StateType, Split, Sum, TridentTopology,
    batch_function)
from squall.microbatch.trident_state import KeyValueBacking, MapState, MemoryBacking  # noqa: E402
from squall.testing import ListSpout  # noqa: E402
from squall_smartcar.microbatch import RECORD_COLUMNS, ObdReplaySource, read_fleet_frame  # noqa: E402

from reference_data import SAMPLE  # noqa: E402

SENTENCES = ["the cow jumped over the moon", "the man went to the store and bought some candy",
             "four score and seven years ago", "how many apples can you eat", "to be or not to be the person"]


def sentence_batches(n_batches=6, per_batch=7, seed=1):
    rng = random.Random(seed)
    batches = [[rng.choice(SENTENCES) for _ in range(per_batch)] for _ in range(n_batches)]
    frames = [pl.DataFrame({"sentence": b}) for b in batches]
    want = Counter(w for b in batches for s in b for w in s.split())
    return frames, batches, want


def collect(stream):
    """The stream's batches, as (row, ...) per batch, through a closure (kept by the copy per task)."""
    seen = []
    stream.peek(lambda batch: seen.append(batch.rows()))
    return seen


def final_values(new_values):
    """Last value per key from new-values batches (key fields first, one value field last)."""
    out = {}
    for batch in new_values:
        for *key, value in batch:
            out[tuple(key)] = value
    return out


def run(topo):
    result = topo.run(timeout_s=120)
    assert result.completed, result.errors()
    return result


# ---------------------------------------------------------------- word count

@pytest.mark.parametrize("state_type", list(StateType))
@pytest.mark.parametrize("parallelism", [1, 3])
def test_trident_word_count_exact(state_type, parallelism):
    frames, _, want = sentence_batches()
    topo = TridentTopology()
    counts = (topo.new_stream("spout1", ListSource(frames), fields=["sentence"])
              .each(["sentence"], Split(), ["word"])
              .group_by(["word"])
              .persistent_aggregate(MemoryMapState(state_type), Count(), ["count"])
              .parallelism_hint(parallelism))
    updates = collect(counts.new_values_stream())
    run(topo)
    got = final_values(updates)
    assert got == {(w,): n for w, n in want.items()}
    if parallelism == 1:
        assert len(updates) == len(frames)    # one new-values batch per input batch
    else:
        assert len(frames) < len(updates) <= parallelism * len(frames)    # steps run per partition


def test_word_count_query_stream_reads_the_state_as_storm_starters_drpc_stream():
    frames, _, want = sentence_batches(n_batches=4)
    # The query batches ride with the sentence batches, txid by txid: the one in batch 4
    # reads what batches 1-3 left (queries run before their batch's update), the last
    # (batch 5, after the sentences) reads everything.
    empty = pl.DataFrame(schema={"args": pl.String})
    queries = [empty, empty, empty, pl.DataFrame({"args": ["the cow nope"]}), pl.DataFrame({"args": ["the cow nope"]})]
    topo = TridentTopology()
    counts = (topo.new_stream("spout1", ListSource(frames), fields=["sentence"])
              .each(["sentence"], Split(), ["word"]).group_by(["word"])
              .persistent_aggregate(MemoryMapState(), Count(), ["count"]).parallelism_hint(2))
    per_word = collect(topo.new_stream("drpc", ListSource(queries), fields=["args"])
                       .each(["args"], Split(), ["word"]).group_by(["word"])
                       .state_query(counts, ["word"], ["count"]))
    sums = collect(topo.new_stream("drpc2", ListSource(queries), fields=["args"])
                   .each(["args"], Split(), ["word"]).group_by(["word"])
                   .state_query(counts, ["word"], ["count"])
                   .filter(pl.col("count").is_not_null())
                   .aggregate(Sum("count"), "sum"))
    run(topo)
    before = Counter(w for f in frames[:3] for s in f["sentence"] for w in s.split())
    rows = sorted((w, c) for batch in per_word for _, w, c in batch)
    assert rows == sorted([("cow", before["cow"] or None), ("nope", None), ("the", before["the"]),
                           ("cow", want["cow"]), ("nope", None), ("the", want["the"])],
                          key=lambda r: (r[0], r[1] or 0))
    assert [b for b in sums] == [[(before["the"] + before["cow"],)], [(want["the"] + want["cow"],)]]


def test_a_squall_spout_feeds_batches_and_its_tuples_are_acked_when_committed():
    rows = [[s] for s in SENTENCES * 5]
    name = "trident-wrapped-spout"
    ListSpout.reset(name)
    topo = TridentTopology()
    counts = (topo.new_stream("spout", ListSpout(rows, ["sentence"], name=name), batch_rows=4)
              .each(["sentence"], Split(), ["word"]).group_by(["word"])
              .persistent_aggregate(MemoryMapState(), Count(), ["count"]))
    updates = collect(counts.new_values_stream())
    run(topo)
    assert final_values(updates) == {(w,): n for w, n in Counter(w for s in SENTENCES * 5 for w in s.split()).items()}
    assert len(updates) == -(-len(rows) // 4)          # batches of at most 4 tuples
    assert sorted(ListSpout.acked(name)) == list(range(len(rows)))


# ---------------------------------------------------------------- exactly once under replays

def fail_once(nth):
    """A peek action that raises the first time it sees its ``nth`` batch (a planted failure).

    A closure, not an object: the bolt gets a copy of its step, and a copied function is
    the same function, so the test sees what it recorded."""
    seen = {"calls": 0, "failed": False}

    def action(batch):
        seen["calls"] += 1
        if seen["calls"] == nth and not seen["failed"]:
            seen["failed"] = True
            raise RuntimeError("planted failure")
    return action, seen


PY_COUNT = Combiner(lambda cols: cols.height, "word", combine=lambda a, b: a + b)


def _counted_with_failure(state_factory, where, frames, aggregator=Count(), opaque=False):
    topo = TridentTopology()
    fail, seen = fail_once(3)
    words = (topo.new_stream("spout1", ListSource(frames), fields=["sentence"], opaque=opaque)
             .each(["sentence"], Split(), ["word"]))
    if where == "before":
        words = words.peek(fail)
    counts = words.group_by(["word"]).persistent_aggregate(state_factory, aggregator, ["count"])
    updates = counts.new_values_stream()
    if where == "after":
        updates = updates.peek(fail)
    got = collect(updates)
    result = run(topo)
    assert seen["failed"]
    assert any("planted failure" in e for e in result.errors())
    return final_values(got)


# "kernel": the memory state as one DataFrame updated by joins; "python": key by key.
@pytest.mark.parametrize("aggregator", [Count(), PY_COUNT], ids=["kernel", "python"])
@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("state_type", [StateType.TRANSACTIONAL, StateType.OPAQUE])
def test_a_failed_batch_replays_with_its_txid_and_counts_once(state_type, where, aggregator):
    frames, _, want = sentence_batches()
    got = _counted_with_failure(MemoryMapState(state_type), where, frames, aggregator)
    assert got == {(w,): n for w, n in want.items()}


@pytest.mark.parametrize("aggregator", [Count(), PY_COUNT], ids=["kernel", "python"])
def test_non_transactional_state_counts_a_batch_replayed_after_its_update_twice(aggregator):
    # The contrast that shows the replay really reaches the state: without txids the
    # third batch (replayed after its update) counts twice.
    frames, batches, want = sentence_batches()
    got = _counted_with_failure(MemoryMapState(StateType.NON_TRANSACTIONAL), "after", frames, aggregator)
    third = Counter(w for s in batches[2] for w in s.split())
    assert got == {(w,): n + third[w] for w, n in want.items()}


@pytest.mark.parametrize("aggregator", [Count(), PY_COUNT], ids=["kernel", "python"])
def test_an_opaque_spout_replays_a_bigger_batch_which_only_opaque_state_counts_once(aggregator):
    # Batch 3 fails after its update and comes back with batch 4 added (an opaque spout):
    # the opaque state redoes txid 3 from each key's previous value; the transactional
    # state keeps txid 3's first values for the keys it had, losing batch 4 there.
    frames, batches, want = sentence_batches()
    exact = {(w,): n for w, n in want.items()}
    got = _counted_with_failure(MemoryMapState(StateType.OPAQUE), "after", frames, aggregator, opaque=True)
    assert got == exact
    got = _counted_with_failure(MemoryMapState(StateType.TRANSACTIONAL), "after", frames, aggregator, opaque=True)
    third, fourth = (Counter(w for s in batches[i] for w in s.split()) for i in (2, 3))
    assert got == {(w,): n - (fourth[w] if third[w] else 0) for w, n in want.items()}


@pytest.mark.parametrize("state_type", [StateType.TRANSACTIONAL, StateType.OPAQUE])
def test_key_value_state_is_exactly_once_under_a_replay_and_continues_across_runs(tmp_path, state_type):
    from squall.store import EmbeddedKeyValueStore
    frames, batches, want = sentence_batches()
    factory = KeyValueMapState(EmbeddedKeyValueStore(tmp_path), "wordcount", state_type)
    assert _counted_with_failure(factory, "after", frames) == {(w,): n for w, n in want.items()}
    # A second run over the same input continues the txid sequence (kept in the store),
    # so the state applies its batches instead of skipping them as replays.
    topo = TridentTopology()
    (topo.new_stream("spout1", ListSource(frames), fields=["sentence"]).each(["sentence"], Split(), ["word"])
     .group_by(["word"]).persistent_aggregate(factory, Count(), ["count"]))
    run(topo)
    with EmbeddedKeyValueStore(tmp_path).open() as store:
        backing = KeyValueBacking(store, "wordcount")
        words = sorted(want)
        records = backing.multi_get([(w,) for w in words])
        assert [r[1] for r in records] == [[2 * want[w]] for w in words]
        assert all(r[0] > len(frames) for r in records if r is not None)   # txids of the second run
        assert int(store.get("trident:trident:txid")) == 2 * (len(frames) + 1)


def test_frame_state_follows_the_same_rules_as_the_map_state():
    from squall.microbatch.trident_state import FrameMapState
    opaque = FrameMapState(StateType.OPAQUE, 1, ["n"], ["sum"])
    trans = FrameMapState(StateType.TRANSACTIONAL, 1, ["n"], ["sum"])

    def apply(st, txid, update, query=False):
        st.begin_commit(txid)
        seen = st.get(pl.DataFrame({"__k0": ["k"]}))["n"].to_list() if query else None
        rows = st.update(pl.DataFrame({"__k0": ["k"], "n": [update]}))
        st.commit(txid)
        return seen, rows["n"].to_list()
    for st in (opaque, trans):
        apply(st, 1, 3)
        apply(st, 2, 2)
    assert apply(opaque, 2, 4, query=True) == ([3], [7])      # recomputed from prev
    assert apply(trans, 2, 4, query=True) == ([5], [5])       # skipped
    assert opaque.table.rows() == [("k", 2, 7, 3)]
    assert apply(opaque, 3, 1) == (None, [8])


def test_opaque_state_recomputes_a_replay_that_differs_from_prev_and_transactional_skips_it():
    add = lambda old, new: new if old is None else old + new   # noqa: E731
    opaque = MapState(MemoryBacking(), StateType.OPAQUE)
    trans = MapState(MemoryBacking(), StateType.TRANSACTIONAL)
    for st in (opaque, trans):
        for txid, update in ((1, 3), (2, 2)):
            st.begin_commit(txid)
            st.multi_update([("k",)], [update], add)
            st.commit(txid)
    assert opaque.backing.data[("k",)] == [2, 5, 3]        # txid, value, prev
    assert trans.backing.data[("k",)] == [2, 5]
    # Batch 2 replayed with other contents (an opaque spout): opaque redoes it from prev.
    for st in (opaque, trans):
        st.begin_commit(2)
        assert st.multi_get([("k",)]) == [3 if st is opaque else 5]   # a query inside txid 2
        st.multi_update([("k",)], [4], add)
        st.commit(2)
    assert opaque.backing.data[("k",)] == [2, 7, 3]
    assert trans.backing.data[("k",)] == [2, 5]
    opaque.begin_commit(3)
    assert opaque.multi_update([("k",), ("j",)], [1, 9], add) == [8, 9]
    assert opaque.backing.data[("k",)] == [3, 8, 7]


# ---------------------------------------------------------------- aggregations and fallbacks

def test_group_by_aggregate_per_batch_with_builtins_and_python_fallbacks():
    frames = [pl.DataFrame({"k": ["a", "b", "a", "c"], "v": [1.0, 2.0, 5.0, None]}),
              pl.DataFrame({"k": ["b", "b"], "v": [4.0, 6.0]})]
    topo = TridentTopology()
    distinct = Combiner(lambda cols: cols["v"].n_unique(), "v")
    out = collect(topo.new_stream("s", ListSource(frames), fields=["k", "v"])
                  .group_by(["k"])
                  .aggregate([Count(), Sum("v"), Min("v"), Max("v"), Avg("v"), distinct],
                             ["n", "sum", "min", "max", "avg", "distinct"]))
    run(topo)
    assert [sorted(b, key=lambda r: r[0]) for b in out] == [
        [("a", 2, 6.0, 1.0, 5.0, 3.0, 2), ("b", 1, 2.0, 2.0, 2.0, 2.0, 1), ("c", 1, 0.0, None, None, None, 1)],
        [("b", 2, 10.0, 4.0, 6.0, 5.0, 2)]]


@pytest.mark.parametrize("producers,aggregators", [(1, 1), (3, 1), (3, 2)])
def test_aggregations_of_builtins_take_partial_aggregates_from_their_producers(producers, aggregators):
    # Batch 2 is emptied by the filter (no group, no global row); null keys are a group.
    frames = [pl.DataFrame({"k": ["a", "b", "a", None, "c", "a"], "v": [1, 2, 3, 4, 5, 6]}),
              pl.DataFrame({"k": ["a"], "v": [-1]}),
              pl.DataFrame({"k": ["b", None, "b", "d"], "v": [7, 8, 9, 10]})]
    topo = TridentTopology()
    kept = (topo.new_stream("s", ListSource(frames), fields=["k", "v"])
            .filter(pl.col("v") > 0).parallelism_hint(producers))
    state = (kept.group_by(["k"]).persistent_aggregate(MemoryMapState(), [Count(), Sum("v"), Max("v")],
                                                       ["n", "sum", "max"])
             .parallelism_hint(aggregators))
    news = collect(state.new_values_stream())
    per_batch = collect(kept.group_by(["k"]).aggregate([Count(), Avg("v")], ["n", "avg"]))
    overall = collect(kept.aggregate([Count(), Min("v")], ["n", "min"]))
    built = topo.build()
    heads = [spec.factory.build().head for spec in built.components.values() if not spec.is_spout]
    assert sum(getattr(h, "pre_aggregated", False) for h in heads) == 3    # the state and both aggregates
    run(topo)
    assert final_values([[(k, (n, s, m)) for k, n, s, m in b] for b in news]) == {
        ("a",): (3, 10, 6), ("b",): (3, 18, 9), ("c",): (1, 5, 5), (None,): (2, 12, 8), ("d",): (1, 10, 10)}
    rows = sorted(((k or "", n, avg) for b in per_batch for k, n, avg in b))
    assert rows == [("", 1, 4.0), ("", 1, 8.0), ("a", 3, 10 / 3), ("b", 1, 2.0), ("b", 2, 8.0), ("c", 1, 5.0),
                    ("d", 1, 10.0)]
    assert overall == [[(6, 1)], [(4, 7)]]


def test_functions_map_flat_map_filter_project_each_as_kernels_batches_or_rows():
    frames = [pl.DataFrame({"x": [1, 2, 3]}), pl.DataFrame({"x": [4]})]
    topo = TridentTopology()
    s = topo.new_stream("s", ListSource(frames), fields=["x"])
    out = collect(s.each(["x"], pl.col("x") * 10, ["ten"])                       # kernel
                  .each(["x"], batch_function(lambda c: c["x"] + 1), ["plus"])   # per batch
                  .each(["x"], lambda x: [(i,) for i in range(x % 3)], ["i"])    # per tuple, 0..2 tuples
                  .filter(lambda i: i != 1, ["i"])
                  .filter(pl.col("x") > 1)
                  .map(lambda x, ten: x + ten, ["sum"], ["x", "ten"])
                  .flat_map(pl.concat_list(pl.col("sum"), -pl.col("sum")), ["y"])
                  .project(["y"]))
    run(topo)
    # x=1: one tuple i=0; x=2: i=0, i=1 (filtered); x=3: none; x=4: i=0 -> x>1 keeps 2, 4.
    assert out == [[(22,), (-22,)], [(44,), (-44,)]]


def test_plan_errors_name_the_step_and_the_fix():
    topo = TridentTopology()
    s = topo.new_stream("s", ListSource([]), fields=["a", "b"])
    with pytest.raises(PlanError, match=r"each: fields \['z'\] are not in the stream"):
        s.each(["z"], pl.col("z"), ["c"])
    with pytest.raises(PlanError, match="already in the stream"):
        s.each(["a"], pl.col("a"), ["b"])
    with pytest.raises(PlanError, match="needs combine"):
        s.group_by(["a"]).persistent_aggregate(MemoryMapState(), Combiner(len, "b"), ["n"])
    with pytest.raises(PlanError, match="one output field per aggregator|output fields"):
        s.group_by(["a"]).aggregate([Count(), Sum("b")], ["n"])
    with pytest.raises(PlanError, match="event-time window takes"):
        s.tumbling_window(1000, Combiner(len, "b", combine=max), ["n"], time_field="a")
    with pytest.raises(PlanError, match="global aggregation runs in one task"):
        s.aggregate(Count(), "n").parallelism_hint(2)
    with pytest.raises(PlanError, match="give fields"):
        topo.new_stream("t", ListSource([]))


# ---------------------------------------------------------------- merge and join

def test_merge_and_join_within_each_batch():
    left = [pl.DataFrame({"id": [1, 2, 3], "a": ["x", "y", "z"]}), pl.DataFrame({"id": [4], "a": ["w"]})]
    right = [pl.DataFrame({"key": [2, 3, 3, 9], "b": [20, 30, 31, 90]}), pl.DataFrame({"key": [1], "b": [10]})]
    topo = TridentTopology()
    ls = topo.new_stream("left", ListSource(left), fields=["id", "a"])
    rs = topo.new_stream("right", ListSource(right), fields=["key", "b"])
    inner = collect(topo.join(ls, "id", rs, "key", ["id", "a", "b"]).parallelism_hint(2))
    outer = collect(topo.join(ls, "id", rs, "key", ["id", "a", "b"], how="left"))
    merged = collect(topo.merge(ls.project(["id"]), rs.project(["key"]).map(pl.col("key") * 100, "key")))
    run(topo)
    # two tasks: each peeks at its partition; batch 2 joins nothing (4 != 1)
    assert sorted(r for b in inner for r in b) == [(2, "y", 20), (3, "z", 30), (3, "z", 31)]
    assert [sorted(b, key=str) for b in outer] == [
        sorted([(1, "x", None), (2, "y", 20), (3, "z", 30), (3, "z", 31)], key=str), [(4, "w", None)]]
    assert [sorted(b) for b in merged] == [[(1,), (2,), (3,), (200,), (300,), (300,), (900,)], [(4,), (100,)]]


# ---------------------------------------------------------------- windows

def test_count_windows_tumbling_and_sliding_as_storms():
    frames = [pl.DataFrame({"v": list(range(i, i + 4))}) for i in range(0, 12, 4)] + [pl.DataFrame({"v": [12]})]
    topo = TridentTopology()
    s = topo.new_stream("s", ListSource(frames), fields=["v"])
    tumbling = collect(s.tumbling_window(5, [Sum("v"), Count()], ["sum", "n"]))
    sliding = collect(s.sliding_window(5, 2, [Min("v"), Max("v")], ["lo", "hi"]))
    run(topo)
    # 13 values 0..12: tumbling windows [0..4], [5..9]; the last 3 never fill a window.
    assert [r for b in tumbling for r in b] == [(10, 5), (35, 5)]
    # fires every 2 tuples over the last 5 (fewer at the start)
    assert [r for b in sliding for r in b] == [(0, 1), (0, 3), (1, 5), (3, 7), (5, 9), (7, 11)]


@pytest.mark.parametrize("slide_ms", [None, 10_000])
def test_event_time_windows_per_group_equal_a_brute_force_oracle(slide_ms):
    rng = random.Random(7)
    rows = [(t * 1000, rng.choice("ab"), rng.randint(0, 100)) for t in range(0, 95)]
    frames = [pl.DataFrame(rows[i:i + 13], schema=["ts", "car", "speed"], orient="row")
              for i in range(0, len(rows), 13)]
    topo = TridentTopology()
    s = topo.new_stream("s", ListSource(frames), fields=["ts", "car", "speed"]).group_by(["car"])
    if slide_ms is None:
        w = s.tumbling_window(30_000, [Avg("speed"), Count()], ["avg", "n"], time_field="ts")
    else:
        w = s.sliding_window(30_000, slide_ms, [Avg("speed"), Count()], ["avg", "n"], time_field="ts")
    out = collect(w)
    late = collect(w.late_stream())
    run(topo)
    slide = slide_ms or 30_000
    acc = defaultdict(list)
    for ts, car, speed in rows:
        for start in range(ts - ts % slide, ts - 30_000, -slide):
            acc[(start, car)].append(speed)
    want = sorted((start, start + 30_000, car, sum(v) / len(v), len(v)) for (start, car), v in acc.items())
    got = sorted(r for b in out for r in b)
    assert [(s, e, c, n) for s, e, c, _, n in got] == [(s, e, c, n) for s, e, c, _, n in want]
    assert [a for *_, a, _ in got] == pytest.approx([a for *_, a, _ in want], rel=1e-12)
    assert late == []


# ---------------------------------------------------------------- the speeding rule on the real sample trips

START_MS = 1704067200000


def test_trident_speeding_aggregate_equals_the_oracle_on_the_sample_trips():
    records, _ = read_fleet_frame(SAMPLE, START_MS)
    acc = defaultdict(list)
    for t, car, speed in records.select("event_time_ms", "car_number", "speed").iter_rows():
        acc[((t - START_MS) // 30_000, car)].append(speed)
    want = sorted((START_MS + (k + 1) * 30_000, car, sum(v) / len(v), len(v))
                  for (k, car), v in acc.items() if sum(v) / len(v) > 80)
    assert len(want) >= 5
    topo = TridentTopology()
    speeding = (topo.new_stream("obd", ObdReplaySource(SAMPLE, START_MS, batch_ms=60_000), fields=RECORD_COLUMNS)
                .group_by(["car_number"])
                .tumbling_window(30_000, [Avg("speed"), Count("speed")], ["avg_speed", "events"],
                                 time_field="event_time_ms").parallelism_hint(2)
                .filter(pl.col("avg_speed") > 80))
    out = collect(speeding)
    run(topo)
    got = sorted((we, str(car), avg, n) for b in out for _, we, car, avg, n in b)
    assert [(t, c, n) for t, c, _, n in got] == [(t, c, n) for t, c, _, n in want]
    assert all(a == pytest.approx(b, rel=1e-12) for (_, _, a, _), (_, _, b, _) in zip(got, want))


def test_a_batch_failing_every_attempt_stops_the_input_after_max_attempts():
    frames, _, _ = sentence_batches(n_batches=3)
    attempts = []

    def broken(batch):
        attempts.append(batch.height)
        raise ValueError("always")
    topo = TridentTopology(max_attempts=3)
    topo.new_stream("s", ListSource(frames), fields=["sentence"]).peek(broken)
    result = topo.run(timeout_s=120)
    assert len(attempts) == 3
    assert any("failed 3 times" in e for e in result.errors())


def test_split_drops_empty_words_and_tuples_without_words():
    frames = [pl.DataFrame({"id": [1, 2, 3, 4], "sentence": ["a  b", "", None, " c "]})]
    topo = TridentTopology()
    out = collect(topo.new_stream("s", ListSource(frames), fields=["id", "sentence"])
                  .each(["sentence"], Split(), ["word"]).project(["id", "word"]))
    run(topo)
    assert out == [[(1, "a"), (1, "b"), (4, "c")]]


def test_partition_by_sends_each_key_to_one_task():
    keys = [f"k{i % 11}" for i in range(200)]
    frames = [pl.DataFrame({"k": keys, "v": list(range(200))})]
    topo = TridentTopology()
    parts = collect(topo.new_stream("s", ListSource(frames), fields=["k", "v"])
                    .partition_by(["k"]).map(pl.col("k"), "k").parallelism_hint(3))
    run(topo)
    assert len(parts) == 3                                   # one part per task, none empty here
    seen = [{k for (k,) in p} for p in parts]
    assert sum(len(s) for s in seen) == 11 and set().union(*seen) == set(keys)
    assert sorted(k for p in parts for (k,) in p) == sorted(keys)


def test_run_refuses_acking_off():
    topo = TridentTopology()
    topo.new_stream("s", ListSource([]), fields=["a"]).peek(print)
    with pytest.raises(PlanError, match="acking off"):
        topo.run({"topology.acker.executors": 0})


def test_event_time_window_sends_records_for_fired_windows_to_the_late_stream():
    frames = [pl.DataFrame({"ts": [1_000, 12_000, 41_000], "v": [1, 2, 3]}),
              pl.DataFrame({"ts": [5_000, 42_000], "v": [10, 4]})]     # 5 s: its window fired at 40 s
    topo = TridentTopology()
    w = topo.new_stream("s", ListSource(frames), fields=["ts", "v"]).tumbling_window(
        30_000, Sum("v"), "sum", time_field="ts")
    out, late = collect(w), collect(w.late_stream())
    run(topo)
    assert [r for b in out for r in b] == [(0, 30_000, 3), (30_000, 60_000, 7)]
    assert late == [[(5_000, 10, 0, 30_000)]]
