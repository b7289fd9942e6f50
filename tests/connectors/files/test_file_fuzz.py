"""Fuzzing the file sources: hypothesis-generated file names, file contents, position
files and checkpointed positions. Whatever they hold, nothing outside the source's
directory is read (no canary line is emitted), written, renamed or deleted (a sibling
directory stays byte-for-byte the same and nothing new appears beside it), and the only
error is a refused position file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall.connectors.files import SpoolDirSpout, TailSpout
from squall.connectors.files.errors import PositionFileError
from squall.state import MemoryStateBackend
from tests.connectors.files.harness import drain, open_spout, tree

CANARY = b"CANARY-7f3a"

names = st.text(st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
                min_size=1, max_size=12).filter(lambda n: n not in (".", ".."))
# Names a position or checkpoint may give: fuzz, and the dangerous shapes on purpose.
hostile = st.one_of(names, st.sampled_from([
    "{OUT}/secret.txt", "../outside/secret.txt", "..", ".", "/", "", "sub/../../outside/secret.txt",
    "link.log", "dirlink", "{OUT}", "../outside", "a\0b", "ok.log", "ok.log"]))
offsets = st.one_of(st.integers(min_value=-5, max_value=64), st.integers(), st.floats(), st.text(max_size=3),
                    st.none(), st.sampled_from([2**62, 2**63, 10**30]))
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                           max_leaves=8)
spool_docs = st.one_of(json_values, st.fixed_dictionaries({"file": hostile, "offset": offsets}),
                       st.fixed_dictionaries({"file": st.just("ok.log"), "offset": offsets}))
tail_docs = st.one_of(json_values, st.fixed_dictionaries({"inode": st.one_of(offsets, st.sampled_from(["SECRET_INO", "APP_INO"])),
                                                          "offset": offsets, "path": hostile}),
                      st.fixed_dictionaries({"inode": st.just("APP_INO"), "offset": offsets}))
acked = st.one_of(st.tuples(offsets, st.lists(offsets, max_size=2), st.lists(offsets, max_size=2)), json_values)
spool_states = st.one_of(json_values, st.fixed_dictionaries({
    "reading": st.one_of(st.none(), st.tuples(hostile, hostile, offsets), json_values),
    "files": st.lists(st.tuples(hostile, acked), max_size=3),
    "pending": st.lists(st.tuples(st.tuples(hostile, offsets), st.just([b"replayed", "x:0"])), max_size=2),
    "finished": st.lists(hostile, max_size=3),
    "done": st.lists(hostile, max_size=3)}))
contents = st.binary(max_size=60).map(lambda b: b.replace(CANARY, b""))


class Place:
    """``base/src`` (the source's directory) and ``base/outside`` holding canaries."""

    def __init__(self, base: Path) -> None:
        self.base, self.src, self.out = base, base / "src", base / "outside"
        self.src.mkdir()
        self.out.mkdir()
        (self.out / "secret.txt").write_bytes(CANARY + b"\n" + CANARY + b"-2\n")
        (self.out / "sub").mkdir()
        (self.out / "sub" / "deep.log").write_bytes(CANARY + b"-deep\n")
        (self.src / "ok.log").write_bytes(b"ok-1\nok-2\n")
        (self.src / "link.log").symlink_to(self.out / "secret.txt")
        (self.src / "dirlink").symlink_to(self.out)
        self.before = tree(self.out)

    def name(self, n: str) -> str:
        return n.replace("{OUT}", str(self.out))

    def fill(self, files: dict[str, bytes]) -> None:
        for n, data in files.items():
            p = self.src / n
            if not os.path.lexists(p):
                p.write_bytes(data)

    def check(self, emitted: list) -> None:
        assert tree(self.out) == self.before, "something outside the directory changed"
        assert sorted(p.name for p in self.base.iterdir()) == ["outside", "src"]
        assert not [v for v in emitted if isinstance(v, bytes) and CANARY in v], "a canary was read"


def _subst(value, place: Place):
    if isinstance(value, str):
        return place.name(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_subst(v, place) for v in value)
    if isinstance(value, dict):
        return {k: _subst(v, place) for k, v in value.items()}
    return value


def _run(spout, place: Place, state=None) -> None:
    try:
        collector = open_spout(spout, state)
    except PositionFileError:
        place.check([])
        return
    emitted = drain(spout, collector, steps=200)
    if state is not None:       # a checkpoint completes: files are retired now
        spout.pre_prepare(1)
        state.prepare_commit(1)
        state.commit(1)
        spout.checkpoint_complete(1)
    spout.close()
    place.check(emitted)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(files=st.dictionaries(names, contents, max_size=4), pos_name=names, doc=spool_docs,
       delete=st.booleans())
def test_spool_position_files(files, pos_name, doc, delete):
    with tempfile.TemporaryDirectory() as d:
        place = Place(Path(d))
        place.fill(files)
        pos = place.src / ("." + pos_name)
        if not os.path.lexists(pos):
            pos.write_text(json.dumps(_subst(doc, place)))
        spout = SpoolDirSpout(str(place.src), position_file=str(pos), delete=delete, stop_when_empty=True,
                              poll_interval_s=0, save_interval_s=0)
        _run(spout, place)


@FUZZ
@given(files=st.dictionaries(names, contents, max_size=3), doc=spool_states, delete=st.booleans())
def test_spool_checkpointed_positions(files, doc, delete):
    with tempfile.TemporaryDirectory() as d:
        place = Place(Path(d))
        place.fill(files)
        state = MemoryStateBackend().open().state("spool", 0)
        state.put("position", _subst(doc, place))
        spout = SpoolDirSpout(str(place.src), delete=delete, stop_when_empty=True, poll_interval_s=0,
                              save_interval_s=0)
        _run(spout, place, state)


@FUZZ
@given(log=contents, siblings=st.dictionaries(names, contents, max_size=3), doc=tail_docs,
       checkpoint=st.one_of(st.none(), spool_states))
def test_tail_positions(log, siblings, doc, checkpoint):
    with tempfile.TemporaryDirectory() as d:
        place = Place(Path(d))
        place.fill(siblings)
        (place.src / "app.log").unlink(missing_ok=True)
        (place.src / "app.log").write_bytes(log)
        secret_ino = (place.out / "secret.txt").stat().st_ino
        doc = _subst(doc, place)
        inodes = {"SECRET_INO": secret_ino, "APP_INO": (place.src / "app.log").stat().st_ino}
        if isinstance(doc, dict) and doc.get("inode") in inodes:
            doc["inode"] = inodes[doc["inode"]]
        (place.src / ".pos.json").write_text(json.dumps(doc))
        state = None
        if checkpoint is not None:
            # The tail's checkpoint names files by inode: point some at the canary.
            cp = _subst(checkpoint, place)
            if isinstance(cp, dict) and isinstance(cp.get("reading"), tuple) and len(cp["reading"]) == 3:
                cp["reading"] = (inodes["SECRET_INO" if len(cp["files"]) % 2 else "APP_INO"],
                                 *cp["reading"][1:])
            state = MemoryStateBackend().open().state("tail", 0)
            state.put("position", cp)
        spout = TailSpout(str(place.src / "app.log"), str(place.src / ".pos.json"), poll_interval_s=0,
                          save_interval_s=0, stop_at_eof=True)
        _run(spout, place, state)
