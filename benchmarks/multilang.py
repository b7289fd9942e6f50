"""Multilang: the split-sentence bolt native vs as a shell bolt, in one run.

The same topology four times: spout (sentences) -> split bolt (1 task, shuffle) ->
count bolt (fields grouping on the word), with acking on. The split bolt is

* ``native``: a Python ``Bolt`` in the worker;
* ``storm_py``: a ``ShellBolt`` running storm-starter's split-sentence component
  against Storm's own ``storm.py`` (multilang-python 2.8.3 from Maven Central; JSON;
  it asks for the task ids of every emit and waits for them);
* ``pystorm_json`` / ``pystorm_msgpack``: a ``ShellBolt`` running a pystorm 3.1.4
  (PyPI) ``Bolt`` with its JSON or msgpack serializer (emits without asking for task ids).

The components are the test suite's (tests/multilang/components). Every run's word
counts are checked against the input's. A figure is the sentences the split bolt
takes per second over the whole run (child start-up included); words/s out is that
times the words per sentence.

    python benchmarks/multilang.py [--sentences N] [--repeat N] [--max-pending N]

Prints one line per contender and, last, one JSON line with ``native_tuples_per_s``,
``storm_py_tuples_per_s``, ``shell_json_tuples_per_s`` (pystorm JSON),
``shell_msgpack_tuples_per_s`` (pystorm msgpack), their ratios to native, and the
settings. With ``--repeat N`` the contenders run in turn N times and each figure is
the median over the rounds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:            # tests.multilang.storm_adapters, run from anywhere
    sys.path.insert(0, str(ROOT))

from squall import Bolt, TopologyBuilder  # noqa: E402
from squall.config import MAX_SPOUT_PENDING, SHELLBOLT_MAX_PENDING  # noqa: E402
from squall.multilang import ShellBolt  # noqa: E402
from squall.runtime import run_topology  # noqa: E402
from tests.multilang.storm_adapters import extract_storm_adapters  # noqa: E402
from wordcount import CountBolt, LineSpout, SplitBolt  # noqa: E402  (the native contender: benchmarks/ is on sys.path)

COMPONENTS = ROOT / "tests" / "multilang" / "components"
# storm-starter's RandomSentenceSpout sentences
SENTENCES = ["the cow jumped over the moon", "an apple a day keeps the doctor away",
             "four score and seven years ago", "snow white and the seven dwarfs", "i am at two with nature"]


def split_bolt(contender: str, workdir: Path) -> Bolt:
    py, cwd = sys.executable, str(workdir)
    if contender == "native":
        return SplitBolt()
    if contender == "storm_py":
        return ShellBolt([py, "splitsentence.py"], fields=["word"], cwd=cwd)
    serializer = contender.removeprefix("pystorm_")
    return ShellBolt([py, "pystorm_split.py", serializer], fields=["word"], serializer=serializer, cwd=cwd)


def run(contender: str, sentences: list[str], expected: Counter, workdir: Path, max_pending: int) -> float:
    """Sentences per second through the split bolt; exits if the counts are wrong."""
    CountBolt.totals = {}
    b = TopologyBuilder()
    b.set_spout("sentences", LineSpout(sentences))
    b.set_bolt("split", split_bolt(contender, workdir)).shuffle_grouping("sentences")
    b.set_bolt("count", CountBolt(), 2).fields_grouping("split", ["word"])
    conf = {MAX_SPOUT_PENDING: 2000, SHELLBOLT_MAX_PENDING: max_pending}
    result = run_topology(b.build(), conf)
    if not result.completed:
        sys.exit(f"{contender}: the topology did not complete: {result.errors()}")
    total = Counter()
    for c in CountBolt.totals.values():
        total.update(c)
    if total != expected:
        sys.exit(f"{contender}: wrong word counts ({sum(total.values())} words, expected {sum(expected.values())})")
    return len(sentences) / result.elapsed_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=1, help="rounds; figures are medians")
    ap.add_argument("--max-pending", type=int, default=100,
                    help="topology.shellbolt.max.pending (Storm's default 100)")
    args = ap.parse_args()
    sentences = [SENTENCES[i % len(SENTENCES)] for i in range(args.sentences)]
    expected = Counter(w for s in sentences for w in s.split(" "))
    words_per_sentence = sum(expected.values()) / len(sentences)
    contenders = ["native", "storm_py", "pystorm_json", "pystorm_msgpack"]
    rates: dict[str, list[float]] = {c: [] for c in contenders}
    with tempfile.TemporaryDirectory(prefix="squall-multilang-bench-") as tmp:
        workdir = Path(tmp)
        extract_storm_adapters(workdir, ("multilang-python",))
        for name in ("splitsentence.py", "pystorm_split.py"):
            shutil.copy(COMPONENTS / name, workdir / name)
        for _ in range(args.repeat):
            for c in contenders:
                rates[c].append(run(c, sentences, expected, workdir, args.max_pending))
    figures = {c: statistics.median(r) for c, r in rates.items()}
    print(f"split-sentence bolt, {args.sentences:,} sentences ({words_per_sentence:.1f} words each), "
          f"acking on, topology.shellbolt.max.pending={args.max_pending}, {args.repeat} round(s), "
          f"python {sys.version.split()[0]}")
    for c in contenders:
        print(f"  {c:<16} {figures[c]:>10,.0f} sentences/s  {figures[c] * words_per_sentence:>10,.0f} words/s out  "
              f"{figures[c] / figures['native']:6.3f} x native")
    keys = {"native": "native_tuples_per_s", "storm_py": "storm_py_tuples_per_s",
            "pystorm_json": "shell_json_tuples_per_s", "pystorm_msgpack": "shell_msgpack_tuples_per_s"}
    out = {keys[c]: round(figures[c]) for c in contenders}
    out.update({f"{c}_ratio": round(figures[c] / figures["native"], 4) for c in contenders if c != "native"})
    out.update({"sentences": args.sentences, "words_per_sentence": round(words_per_sentence, 2),
                "shellbolt_max_pending": args.max_pending, "rounds": args.repeat})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
