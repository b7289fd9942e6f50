"""WordCount: a bare-Python loop vs Squall with acking off and on, on the same words.

Input: 2,000,000 words drawn from a 10,000-word Zipf vocabulary (seed 42), 10 words
per line. Topology: spout (lines) -> split bolt (shuffle) -> count bolt (fields
grouping on the word). Every run's counts are checked against the bare loop's.

    python benchmarks/wordcount.py [--words N] [--split-tasks N] [--count-tasks N] [--repeat N]

Prints one line per contender and, last, one JSON line with
``bare_words_per_s``, ``squall_noack_words_per_s``, ``squall_ack_words_per_s`` and the
ratios to the bare loop ``noack_ratio``, ``ack_ratio``. With ``--repeat N`` the three
contenders run in turn N times (on a shared machine the load changes during a run) and
every figure is the median over the rounds, each ratio taken within its round.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from itertools import accumulate

from squall import Bolt, Spout, TopologyBuilder
from squall.config import ACKER_EXECUTORS, MAX_SPOUT_PENDING
from squall.runtime import run_topology


def make_lines(words: int, vocab: int = 10_000, per_line: int = 10, seed: int = 42) -> list[str]:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(vocab)]
    cum = list(accumulate(1.0 / (k + 1) for k in range(vocab)))
    drawn = rng.choices(vocabulary, cum_weights=cum, k=words)
    return [" ".join(drawn[i:i + per_line]) for i in range(0, words, per_line)]


class LineSpout(Spout):
    """Emits each line once; with acking, replays a line whose tree failed."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def declare_output_fields(self, declarer):
        declarer.declare(["line"])

    def open(self, config, context, collector):
        self.collector = collector
        self.emit = collector.emit
        self.i = 0
        self.pending = 0
        self.replay: list[int] = []

    def next_tuple(self):
        if self.replay:
            i = self.replay.pop()
        elif self.i < len(self.lines):
            i = self.i
            self.i += 1
        else:
            return
        self.pending += 1
        self.emit([self.lines[i]], message_id=i)

    def ack(self, msg_id):
        self.pending -= 1

    def fail(self, msg_id):
        self.pending -= 1
        self.replay.append(msg_id)

    def exhausted(self):
        return self.i >= len(self.lines) and not self.replay and not self.pending


class SplitBolt(Bolt):
    def declare_output_fields(self, declarer):
        declarer.declare(["word"])

    def prepare(self, config, context, collector):
        self.emit = collector.emit
        self.ack = collector.ack

    def process(self, tup):
        emit = self.emit
        anchors = (tup,)
        for word in tup.values[0].split():
            emit([word], "default", anchors)
        self.ack(tup)


class CountBolt(Bolt):
    totals: dict[int, Counter] = {}

    def prepare(self, config, context, collector):
        self.ack = collector.ack
        self.counts = CountBolt.totals.setdefault(context.task_id, Counter())

    def process(self, tup):
        w = tup.values[0]
        counts = self.counts
        counts[w] = counts.get(w, 0) + 1
        self.ack(tup)


def bare(lines: list[str]) -> tuple[float, Counter]:
    t0 = time.perf_counter()
    counts: dict[str, int] = {}
    for line in lines:
        for w in line.split():
            counts[w] = counts.get(w, 0) + 1
    return time.perf_counter() - t0, Counter(counts)


def squall_run(lines: list[str], acking: bool, split_tasks: int, count_tasks: int) -> tuple[float, Counter]:
    CountBolt.totals = {}
    b = TopologyBuilder()
    b.set_spout("lines", LineSpout(lines))
    b.set_bolt("split", SplitBolt(), split_tasks).shuffle_grouping("lines")
    b.set_bolt("count", CountBolt(), count_tasks).fields_grouping("split", ["word"])
    conf = {ACKER_EXECUTORS: None if acking else 0, MAX_SPOUT_PENDING: 2000 if acking else None}
    result = run_topology(b.build(), conf)
    if not result.completed:
        sys.exit("the topology did not complete")
    total = Counter()
    for c in CountBolt.totals.values():
        total.update(c)
    return result.elapsed_s, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=2_000_000)
    ap.add_argument("--split-tasks", type=int, default=1)
    ap.add_argument("--count-tasks", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="rounds; figures are medians")
    args = ap.parse_args()
    lines = make_lines(args.words)
    n = sum(len(line.split()) for line in lines)
    rounds = []
    for _ in range(max(1, args.repeat)):
        bare_s, expected = bare(lines)
        noack_s, got_noack = squall_run(lines, False, args.split_tasks, args.count_tasks)
        ack_s, got_ack = squall_run(lines, True, args.split_tasks, args.count_tasks)
        for label, got in (("acking off", got_noack), ("acking on", got_ack)):
            if got != expected:
                sys.exit(f"squall counts differ from the bare loop's ({label})")
        rounds.append((n / bare_s, n / noack_s, n / ack_s, bare_s / noack_s, bare_s / ack_s))
    bare_r, noack_r, ack_r, noack_ratio, ack_ratio = (statistics.median(col) for col in zip(*rounds))
    figures = {
        "words": n,
        "rounds": len(rounds),
        "bare_words_per_s": round(bare_r),
        "squall_noack_words_per_s": round(noack_r),
        "squall_ack_words_per_s": round(ack_r),
        "noack_ratio": round(noack_ratio, 3),
        "ack_ratio": round(ack_ratio, 3),
    }
    print(f"bare Python loop      {figures['bare_words_per_s']:>12,} words/s")
    print(f"squall, acking off    {figures['squall_noack_words_per_s']:>12,} words/s  ({noack_ratio:.3f}x bare)")
    print(f"squall, acking on     {figures['squall_ack_words_per_s']:>12,} words/s  ({ack_ratio:.3f}x bare)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
