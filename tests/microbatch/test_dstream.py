"""DStream operations: windows against brute force, the incremental reduce equal to the full one,
state by key, the kernel and Python paths agreeing."""

from __future__ import annotations

import operator
import random
from collections import Counter, defaultdict

import pytest

pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'squall[microbatch]')")

from squall.errors import SquallError
from squall.microbatch import ListSource
from squall.microbatch.dstream import DStreamError, StreamingContext


def pair_batches(seed, n_batches=40, keys="abcdefg"):
    rnd = random.Random(seed)
    out = []
    for i in range(n_batches):
        # Some empty batches, and keys that disappear for a while, so windows empty out.
        n = 0 if i % 7 == 3 else rnd.randrange(0, 12)
        out.append([(rnd.choice(keys[: 2 + i % 5]), rnd.randrange(1, 10)) for _ in range(n)])
    return out


def frames(batches):
    return [pl.DataFrame(b, schema={"key": pl.String, "value": pl.Int64}, orient="row") for b in batches]


def collect(stream):
    out = []
    stream.foreach_batch(lambda batch, batch_id: out.append((batch_id, sorted(batch.rows()))))
    return out


def slide_ends(n, s):
    """Indexes of the batches a window emits at: every ``s``-th, and the last one (end of input)."""
    ends = [i for i in range(n) if (i + 1) % s == 0]
    return ends + [n - 1] if n % s else ends


def brute_windows(batches, w, s, reduce=sum):
    """At each slide, per key, ``reduce`` of the values of the last ``w`` batches."""
    out = []
    for i in slide_ends(len(batches), s):
        acc = defaultdict(list)
        for b in batches[max(0, i - w + 1): i + 1]:
            for k, v in b:
                acc[k].append(v)
        out.append((i, sorted((k, reduce(vs)) for k, vs in acc.items())))
    return out


def run_pairs(batches, build, interval=1):
    ssc = StreamingContext(batch_interval_s=interval)
    out = collect(build(ssc.source(ListSource(frames(batches)))))
    ssc.run()
    return out


# ---------------------------------------------------------------- windows

@pytest.mark.parametrize("w,s", [(1, 1), (3, 1), (5, 2), (6, 3), (4, 4)])
def test_reduce_by_key_and_window_without_inverse_equals_brute_force(w, s):
    batches = pair_batches(w * 10 + s)
    got = run_pairs(batches, lambda d: d.reduce_by_key_and_window(operator.add, window_s=w, slide_s=s))
    assert got == brute_windows(batches, w, s)


@pytest.mark.parametrize("inv", ["kernel", "python"])
@pytest.mark.parametrize("w,s", [(3, 1), (5, 2), (6, 3), (4, 4), (10, 1)])
def test_incremental_reduce_with_inverse_equals_the_non_incremental_result(w, s, inv):
    batches = pair_batches(w * 100 + s)
    # The lambdas are not recognised as kernels: the per-key Python path.
    f, g = (operator.add, operator.sub) if inv == "kernel" else (lambda a, b: a + b, lambda a, b: a - b)
    drop_zero = (pl.col("value") != 0) if inv == "kernel" else (lambda kv: kv[1] != 0)
    full = run_pairs(batches, lambda d: d.reduce_by_key_and_window(operator.add, window_s=w, slide_s=s))
    incremental = run_pairs(batches, lambda d: d.reduce_by_key_and_window(f, g, window_s=w, slide_s=s,
                                                                          filter_fn=drop_zero))
    assert incremental == full
    # Without filter_fn, keys whose window count went back to 0 stay, with 0, as in Spark.
    kept = run_pairs(batches, lambda d: d.reduce_by_key_and_window(f, g, window_s=w, slide_s=s))
    assert [(i, [kv for kv in rows if kv[1] != 0]) for i, rows in kept] == full
    assert any(kv[1] == 0 for _, rows in kept for kv in rows)


def test_python_reduce_without_kernel_and_min_max_kernels():
    batches = pair_batches(7)
    got = run_pairs(batches, lambda d: d.map(lambda kv: (kv[0], str(kv[1])))
                    .reduce_by_key_and_window(lambda a, b: max(a, b), window_s=3, slide_s=1))
    want = brute_windows([[(k, str(v)) for k, v in b] for b in batches], 3, 1, reduce=max)
    assert got == want
    for fn, red in ((min, min), ("max", max)):
        assert run_pairs(batches, lambda d, fn=fn: d.reduce_by_key_and_window(fn, window_s=4, slide_s=2)) == \
            brute_windows(batches, 4, 2, reduce=red)


def test_end_of_input_emits_the_windows_batches_since_the_last_slide_and_max_batches_does_not():
    batches = [[("a", 1)], [("a", 2)], [("b", 4)], [("a", 8)], [("b", 16)]]
    assert [i for i, _ in brute_windows(batches, 3, 3)] == [2, 4]
    for inv in (None, operator.sub):
        got = run_pairs(batches, lambda d, inv=inv: d.reduce_by_key_and_window(operator.add, inv, window_s=3,
                                                                               slide_s=3))
        assert got == [(2, [("a", 3), ("b", 4)]), (4, [("a", 8), ("b", 20)])]
    ssc = StreamingContext(1)
    out = collect(ssc.source(ListSource(frames(batches))).reduce_by_key_and_window("sum", window_s=3))
    ssc.run(max_batches=5)
    assert out == [(2, [("a", 3), ("b", 4)])]


def test_window_sizes_are_seconds_in_multiples_of_the_batch_interval():
    batches = pair_batches(3, n_batches=12)
    got = run_pairs(batches, lambda d: d.reduce_by_key_and_window("sum", window_s=1.5, slide_s=0.5), interval=0.5)
    assert got == brute_windows(batches, 3, 1)


def test_count_by_window_and_window_equal_brute_force():
    batches = pair_batches(11)
    ssc = StreamingContext(2)
    src = ssc.source(ListSource(frames(batches)))
    counts, unions = collect(src.count_by_window(8, 4)), collect(src.window(8, 4))
    ssc.run()
    want = [(i, sum(len(b) for b in batches[max(0, i - 3): i + 1])) for i in slide_ends(len(batches), 2)]
    assert [(i, rows[0][0]) for i, rows in counts] == want
    assert [(i, rows) for i, rows in unions] == [
        (i, sorted(kv for b in batches[max(0, i - 3): i + 1] for kv in b)) for i, _ in want]


def test_reduce_by_key_per_batch():
    batches = pair_batches(5, n_batches=10)
    for fn in (operator.add, lambda a, b: a + b):
        got = run_pairs(batches, lambda d, fn=fn: d.reduce_by_key(fn))
        assert got == [(i, sorted(_sums(b).items())) for i, b in enumerate(batches)]


def _sums(batch):
    acc = Counter()
    for k, v in batch:
        acc[k] += v
    return acc


# ---------------------------------------------------------------- state

def test_update_state_by_key_python_function_with_removal():
    batches = pair_batches(9, n_batches=20)

    def update(new_values, state):
        total = (state or 0) + sum(new_values)
        return None if total > 40 else total           # over 40: forget the key, start again

    got = run_pairs(batches, lambda d: d.update_state_by_key(update))
    state, want = {}, []
    for i, b in enumerate(batches):
        new = defaultdict(list)
        for k, v in b:
            new[k].append(v)
        for k in list(state) + [k for k in new if k not in state]:
            t = update(new.get(k, []), state.get(k))
            if t is None:
                state.pop(k, None)
            else:
                state[k] = t
        want.append((i, sorted(state.items())))
    assert got == want
    assert any(len(rows) < len(got[i - 1][1]) for i, rows in got[1:])      # some key was removed


@pytest.mark.parametrize("kind", ["sum", "count", "min", "max"])
def test_update_state_by_key_kernels_equal_the_python_function(kind):
    batches = pair_batches(13, n_batches=15)
    python = {"sum": lambda vs, st: (st or 0) + sum(vs),
              "count": lambda vs, st: (st or 0) + len(vs),
              "min": lambda vs, st: min(vs + ([st] if st is not None else [])),
              "max": lambda vs, st: max(vs + ([st] if st is not None else []))}[kind]
    assert run_pairs(batches, lambda d: d.update_state_by_key(kind)) == \
        run_pairs(batches, lambda d: d.update_state_by_key(python))


# ---------------------------------------------------------------- stateless: kernels and Python agree

def test_word_count_with_expressions_equals_the_python_functions():
    lines = [pl.DataFrame({"line": ["to be or not", "to be"]}), pl.DataFrame({"line": ["", "be quick"]})]

    def build(vectorized):
        ssc = StreamingContext(1)
        d = ssc.source(ListSource(lines))
        if vectorized:
            d = (d.flat_map(pl.col("line").str.split(" ")).filter(pl.col("value") != "")
                 .map(key=pl.col("value"), value=1))
        else:
            d = d.flat_map(lambda line: line.split(" ")).filter(lambda w: w != "").map(lambda w: (w, 1))
        out = collect(d.reduce_by_key(operator.add))
        ssc.run()
        return out

    assert build(True) == build(False) == [(0, [("be", 2), ("not", 1), ("or", 1), ("to", 2)]),
                                           (1, [("be", 1), ("quick", 1)])]


def test_transform_and_pprint():
    printed = []
    ssc = StreamingContext(0.5)
    d = ssc.source(ListSource([pl.DataFrame({"key": ["a", "b", "c"], "value": [1, 2, 3]})]))
    d.transform(lambda f: f.filter(pl.col("value") > 1)).pprint(num=1, print_fn=printed.append)
    ssc.run()
    assert printed == [("-------------------------------------------\nTime: 0.5 s\n"
                        "-------------------------------------------\n('b', 2)\n...\n")]


@pytest.mark.parametrize("build,words", [
    (lambda d: d.reduce_by_key_and_window("sum", window_s=2.5), "multiple of the batch interval"),
    (lambda d: d.window(2, 4), "slide"),
    (lambda d: d.window(2, 1).count_by_window(4, 2), "windowed DStream"),
    (lambda d: d.map(), "not both"),
    (lambda d: d.reduce_by_key(42), "callable"),
    (lambda d: d.update_state_by_key("median"), "kernel name"),
])
def test_build_errors(build, words):
    ssc = StreamingContext(1)
    with pytest.raises(DStreamError, match=words) as info:
        build(ssc.source(ListSource([])))
    assert isinstance(info.value, SquallError)


def test_by_key_operations_need_pairs():
    ssc = StreamingContext(1)
    ssc.source(ListSource([pl.DataFrame({"line": ["x"]})])).reduce_by_key("sum")
    with pytest.raises(DStreamError, match="pair DStream"):
        ssc.run()


# ---------------------------------------------------------------- Spark's windowed hashtag count

def _example(name):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "examples" / "microbatch" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hashtag_count_incremental_equals_brute_force_over_the_window(tmp_path):
    rnd = random.Random(42)
    tags = ["#a", "#b", "#c", "#d", "#e"]
    seconds = [[" ".join(rnd.choice(tags + ["word"]) for _ in range(rnd.randrange(0, 6)))
                for _ in range(rnd.randrange(0, 4))] for _ in range(60)]
    example = _example("hashtag_count")

    def run(incremental):
        ssc = StreamingContext(1)
        src = ListSource([pl.DataFrame({"line": lines}, schema={"line": pl.String}) for lines in seconds])
        out = collect(example.hashtag_counts(ssc.source(src), window_s=10, slide_s=2, incremental=incremental))
        ssc.run()
        return out

    want = []
    for i in slide_ends(len(seconds), 2):
        c = Counter(w for lines in seconds[max(0, i - 9): i + 1] for line in lines for w in line.split()
                    if w.startswith("#"))
        want.append((i, sorted(c.items())))
    assert run(True) == run(False) == want
    assert example.top(pl.DataFrame({"key": ["#b", "#a", "#c"], "value": [2, 2, 5]}), 2) == [("#c", 5), ("#a", 2)]


def test_hashtag_count_main_over_a_file(tmp_path):
    path = tmp_path / "tweets.txt"
    path.write_text("#x hi\n#y\n#x #x\n")
    out = []
    _example("hashtag_count").main(["--file", str(path), "--lines-per-batch", "2", "--window-s", "2"], emit=out.append)
    assert out == ["1 s: #x 1, #y 1", "2 s: #x 3, #y 1"]
