"""Multilang: a Python bolt native vs as a shell bolt, in one run.

Two workloads, each topology spout -> bolt under test (1 task, shuffle) -> count bolt
(2 tasks, fields grouping on the word), with acking on:

* ``split`` (the headline figures): storm-starter's split-sentence bolt, 6.4 words out
  per sentence in, so each input tuple costs the child 7.4 messages;
* ``exclaim``: storm-starter's exclamation bolt, one tuple out per tuple in (words in,
  ``word!!!`` out), the plain "tuples through a bolt" figure.

The split bolt is

* ``native``: a Python ``Bolt`` in the worker;
* ``storm_py``: a ``ShellBolt`` running storm-starter's split-sentence component
  against Storm's own ``storm.py`` (multilang-python 2.8.3 from Maven Central; JSON;
  it asks for the task ids of every emit and waits for them);
* ``pystorm_json`` / ``pystorm_msgpack``: a ``ShellBolt`` running a pystorm 3.1.4
  (PyPI) ``Bolt`` with its JSON or msgpack serializer (emits without asking for task ids).

The exclamation bolt is native, or the pystorm one with either serializer (storm.py
is left out: it would measure its task-id round trip again).

The components are the test suite's (tests/multilang/components). Every run's word
counts are checked against the input's. A figure is the input tuples the bolt under
test takes per second over the whole run (child start-up included); for the split bolt
words/s out is that times the words per sentence.

    python benchmarks/multilang.py [--sentences N] [--repeat N] [--max-pending N] [--child-alone]

Prints one line per contender and, last, one JSON line with the split bolt's
``native_tuples_per_s``, ``storm_py_tuples_per_s``, ``shell_json_tuples_per_s`` (pystorm
JSON), ``shell_msgpack_tuples_per_s`` (pystorm msgpack), their ratios to native, the
same for the exclamation bolt under ``exclaim_``-prefixed keys, and the settings. With ``--repeat N`` the contenders run in turn N times and each figure is
the median over the rounds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:            # tests.multilang.storm_adapters, run from anywhere
    sys.path.insert(0, str(ROOT))

from squall import Bolt, TopologyBuilder  # noqa: E402
from squall.config import MAX_SPOUT_PENDING, SHELLBOLT_MAX_PENDING  # noqa: E402
from squall.multilang import ShellBolt, serializer_named  # noqa: E402
from squall.runtime import run_topology  # noqa: E402
from tests.multilang.storm_adapters import extract_storm_adapters  # noqa: E402
from wordcount import CountBolt, LineSpout, SplitBolt  # noqa: E402  (the native contender: benchmarks/ is on sys.path)

COMPONENTS = ROOT / "tests" / "multilang" / "components"
# storm-starter's RandomSentenceSpout sentences
SENTENCES = ["the cow jumped over the moon", "an apple a day keeps the doctor away",
             "four score and seven years ago", "snow white and the seven dwarfs", "i am at two with nature"]


class ExclamationBolt(SplitBolt):
    """storm-starter's exclamation bolt: ``word`` in, ``word!!!`` out, anchored (the
    split bolt's stream and collector, another ``process``)."""

    def process(self, tup):
        self.emit([tup.values[0] + "!!!"], "default", (tup,))
        self.ack(tup)


CONTENDERS = {"split": ["native", "storm_py", "pystorm_json", "pystorm_msgpack"],
              "exclaim": ["native", "pystorm_json", "pystorm_msgpack"]}
NATIVE = {"split": SplitBolt, "exclaim": ExclamationBolt}
PYSTORM_SCRIPT = {"split": "pystorm_split.py", "exclaim": "pystorm_exclaim.py"}


def bolt_under_test(workload: str, contender: str, workdir: Path) -> Bolt:
    py, cwd = sys.executable, str(workdir)
    if contender == "native":
        return NATIVE[workload]()
    if contender == "storm_py":
        return ShellBolt([py, "splitsentence.py"], fields=["word"], cwd=cwd)
    serializer = contender.removeprefix("pystorm_")
    return ShellBolt([py, PYSTORM_SCRIPT[workload], serializer], fields=["word"], serializer=serializer, cwd=cwd)


def run(workload: str, contender: str, inputs: list[str], expected: Counter, workdir: Path,
        max_pending: int) -> float:
    """Input tuples per second through the bolt under test; exits if the counts are wrong."""
    CountBolt.totals = {}
    b = TopologyBuilder()
    b.set_spout("input", LineSpout(inputs))
    b.set_bolt("under_test", bolt_under_test(workload, contender, workdir)).shuffle_grouping("input")
    b.set_bolt("count", CountBolt(), 2).fields_grouping("under_test", ["word"])
    conf = {MAX_SPOUT_PENDING: 2000, SHELLBOLT_MAX_PENDING: max_pending}
    result = run_topology(b.build(), conf)
    label = f"{workload}/{contender}"
    if not result.completed:
        sys.exit(f"{label}: the topology did not complete: {result.errors()}")
    total = Counter()
    for c in CountBolt.totals.values():
        total.update(c)
    if total != expected:
        sys.exit(f"{label}: wrong word counts ({sum(total.values())} words, expected {sum(expected.values())})")
    return len(inputs) / result.elapsed_s


def child_alone(serializer: str, sentences: list[str], workdir: Path) -> float:
    """Sentences per second the pystorm split child does with nothing else running:
    the handshake and every tuple prepared in a file for its stdin, its stdout drained
    by ``cat`` (a pipe, as a worker reads it). The ceiling the shell bolt can reach."""
    ser = serializer_named(serializer)
    stdin = workdir / f"child-alone-{serializer}.in"
    with open(stdin, "wb") as f:
        f.write(ser.encode({"conf": {}, "pidDir": str(workdir), "context": {
            "taskid": 1, "componentid": "under_test", "task->component": {"1": "under_test"}}}))
        for i, s in enumerate(sentences):
            f.write(ser.encode({"id": str(i + 1), "comp": "input", "stream": "default", "task": 2, "tuple": [s]}))
    with open(stdin, "rb") as src:
        t0 = time.perf_counter()
        child = subprocess.Popen([sys.executable, PYSTORM_SCRIPT["split"], serializer], cwd=workdir, stdin=src,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        drain = subprocess.run(["cat"], stdin=child.stdout, stdout=subprocess.DEVNULL, check=False)
        child.wait()
        elapsed = time.perf_counter() - t0
    if drain.returncode:
        sys.exit(f"child alone ({serializer}): cat failed")
    return len(sentences) / elapsed


KEYS = {"native": "native_tuples_per_s", "storm_py": "storm_py_tuples_per_s",
        "pystorm_json": "shell_json_tuples_per_s", "pystorm_msgpack": "shell_msgpack_tuples_per_s"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=1, help="rounds; figures are medians")
    ap.add_argument("--max-pending", type=int, default=100,
                    help="topology.shellbolt.max.pending (Storm's default 100)")
    ap.add_argument("--child-alone", action="store_true",
                    help="also time the pystorm split child alone (input from a file, output to a pipe)")
    args = ap.parse_args()
    sentences = [SENTENCES[i % len(SENTENCES)] for i in range(args.sentences)]
    words = [w for s in sentences for w in s.split(" ")]
    # The exclamation bolt gets as many input tuples as the split bolt sends words out.
    workloads = {"split": (sentences, Counter(words)), "exclaim": (words, Counter(w + "!!!" for w in words))}
    words_per_sentence = len(words) / len(sentences)
    rates: dict[tuple[str, str], list[float]] = {(w, c): [] for w in CONTENDERS for c in CONTENDERS[w]}
    with tempfile.TemporaryDirectory(prefix="squall-multilang-bench-") as tmp:
        workdir = Path(tmp)
        extract_storm_adapters(workdir, ("multilang-python",))
        for name in ("splitsentence.py", *PYSTORM_SCRIPT.values()):
            shutil.copy(COMPONENTS / name, workdir / name)
        alone: dict[str, list[float]] = {"json": [], "msgpack": []} if args.child_alone else {}
        for _ in range(args.repeat):
            for (w, c), got in rates.items():
                inputs, expected = workloads[w]
                got.append(run(w, c, inputs, expected, workdir, args.max_pending))
            for serializer, got in alone.items():
                got.append(child_alone(serializer, sentences, workdir))
    figures = {k: statistics.median(r) for k, r in rates.items()}
    print(f"{args.sentences:,} sentences ({words_per_sentence:.1f} words each), acking on, "
          f"topology.shellbolt.max.pending={args.max_pending}, {args.repeat} round(s), python {sys.version.split()[0]}")
    out: dict = {}
    for w, contenders in CONTENDERS.items():
        native = figures[(w, "native")]
        print(f"{w} bolt ({len(workloads[w][0]):,} input tuples):")
        prefix = "" if w == "split" else f"{w}_"
        for c in contenders:
            rate = figures[(w, c)]
            extra = f"  {rate * words_per_sentence:>10,.0f} words/s out" if w == "split" else ""
            print(f"  {c:<16} {rate:>10,.0f} tuples/s in{extra}  {rate / native:6.3f} x native")
            out[prefix + KEYS[c]] = round(rate)
            if c != "native":
                out[f"{prefix}{c}_ratio"] = round(rate / native, 4)
    for serializer, got in alone.items():
        rate = statistics.median(got)
        print(f"pystorm split child alone, {serializer}: {rate:>10,.0f} sentences/s (its stdout to a pipe)")
        out[f"child_alone_{serializer}_tuples_per_s"] = round(rate)
    out.update({"sentences": args.sentences, "words_per_sentence": round(words_per_sentence, 2),
                "shellbolt_max_pending": args.max_pending, "rounds": args.repeat})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
