"""WordCount in every micro-batch API (examples/microbatch) gives a counter's counts."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("polars", reason="polars is not installed (pip install 'squall[microbatch]')")

from squall.microbatch.sql import TextFileSource  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "microbatch"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("to be  or not\r\nto be\n\nthat is the question\nto")
    return path


def test_every_api_counts_like_a_counter(text):
    want = Counter(w for line in text.read_text().splitlines() for w in line.split(" ") if w)
    example = load("wordcount")
    for count in (example.count_sql, example.count_dataframe, example.count_trident, example.count_dstream):
        assert count(TextFileSource(text, batch_lines=2)) == want, count.__name__


def test_trident_wordcount_counts_in_memory_and_in_the_store_across_runs(text, tmp_path, capsys):
    example = load("trident_wordcount")
    example.main([str(text), "--batch-lines", "2"])
    assert capsys.readouterr().out.splitlines()[:2] == ["to 3", "be 2"]
    args = [str(text), "--batch-lines", "2", "--store", str(tmp_path / "kv")]
    example.main(args)
    capsys.readouterr()
    example.main(args)            # a second run over the same file adds to the stored counts
    assert capsys.readouterr().out.splitlines()[:2] == ["to 6", "be 4"]
