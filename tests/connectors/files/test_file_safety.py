"""Planted attacks on the file sources: names in position files and checkpoints, links
and FIFOs in the spooling directory, links at temporary names. Each test plants one and
shows that nothing outside the directory is read, written, renamed or deleted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from squall.connectors.files import SpoolDirSpout, TailSpout
from squall.connectors.files.errors import PositionFileError
from squall.connectors.files.position import PositionFile
from squall.state import MemoryStateBackend
from tests.connectors.files.harness import drain, open_spout, tree

SECRET = b"root:secret-hash\n"


@pytest.fixture
def place(tmp_path):
    """``spool/`` with one ordinary file, and a sibling ``outside/`` holding a canary."""
    spool, outside = tmp_path / "spool", tmp_path / "outside"
    spool.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (spool / "ok.log").write_bytes(b"ok-1\nok-2\n")
    return spool, outside


def spool_spout(spool, **kw):
    return SpoolDirSpout(str(spool), stop_when_empty=True, poll_interval_s=0, save_interval_s=0, **kw)


def test_the_canary_would_be_read_if_named_from_inside(place):
    """The harness reads what a position file points at: a file of the directory."""
    spool, _ = place
    (spool / "in.log").write_bytes(b"a\nb\nc\n")
    (spool / ".squall-spool.json").write_text(json.dumps({"file": "in.log", "offset": 2}))
    spout = spool_spout(spool)
    got = drain(spout, open_spout(spout))
    assert got[:2] == [b"b", b"c"] and set(got) == {b"b", b"c", b"ok-1", b"ok-2"}


@pytest.mark.parametrize("delete", [False, True])
@pytest.mark.parametrize("planted", ["ABS", "../outside/secret.txt", "..", "sub/../../outside/secret.txt"])
def test_a_position_file_naming_a_file_outside_is_refused(place, planted, delete):
    spool, outside = place
    name = str(outside / "secret.txt") if planted == "ABS" else planted
    (spool / ".squall-spool.json").write_text(json.dumps({"file": name, "offset": 0}))
    before = tree(outside)
    spout = spool_spout(spool, delete=delete)
    got = drain(spout, open_spout(spout))
    assert sorted(got) == [b"ok-1", b"ok-2"]            # the directory is still read
    assert tree(outside) == before                       # the secret was neither read nor retired
    assert any(repr(name) in r for r in spout.refused)


@pytest.mark.parametrize("delete", [False, True])
def test_a_link_in_the_spool_directory_is_neither_read_nor_retired(place, delete):
    spool, outside = place
    (spool / "link.log").symlink_to(outside / "secret.txt")
    (spool / "dirlink.log").symlink_to(outside)
    before = tree(outside)
    spout = spool_spout(spool, delete=delete)
    got = drain(spout, open_spout(spout))
    assert sorted(got) == [b"ok-1", b"ok-2"]
    assert tree(outside) == before
    assert (spool / "link.log").is_symlink()            # left in place, reported
    assert any("'link.log'" in r and "symbolic link" in r for r in spout.refused)


def test_a_position_file_naming_a_link_in_the_directory_is_refused(place):
    spool, outside = place
    (spool / "link.log").symlink_to(outside / "secret.txt")
    (spool / ".squall-spool.json").write_text(json.dumps({"file": "link.log", "offset": 0}))
    before = tree(outside)
    spout = spool_spout(spool, delete=True)
    got = drain(spout, open_spout(spout))
    assert sorted(got) == [b"ok-1", b"ok-2"]
    assert tree(outside) == before and (spool / "link.log").is_symlink()


def test_a_fifo_in_the_spool_directory_is_skipped_without_blocking(place):
    spool, _ = place
    os.mkfifo(spool / "pipe.log")
    spout = spool_spout(spool)
    assert sorted(drain(spout, open_spout(spout))) == [b"ok-1", b"ok-2"]
    assert any("'pipe.log'" in r for r in spout.refused)


def test_a_checkpoint_naming_files_outside_is_refused(place):
    """Checkpointed state is data too (a shared Redis): its names are confined."""
    spool, outside = place
    secret = str(outside / "secret.txt")
    backend = MemoryStateBackend().open()
    state = backend.state("spool", 0)
    state.put("position", {
        "reading": ("../outside/secret.txt", secret, 0),
        "files": [("../outside/secret.txt", (0, [], [])), ("ok.log", "garbage")],
        "pending": [(("../outside/secret.txt", 5), [b"planted", "x:0"]), ("nonsense", 1)],
        "finished": [secret, "ok.log/.."],
        "done": [secret, "../outside/secret.txt", "..", "/"],
    })
    state.prepare_commit(1)
    state.commit(1)
    before = tree(outside)
    spout = spool_spout(spool, delete=True)
    got = drain(spout, open_spout(spout, state))
    assert sorted(got) == [b"ok-1", b"ok-2"]
    assert tree(outside) == before
    assert len(spout.refused) >= 9


def test_a_checkpointed_position_that_is_not_a_document_is_reported(place):
    spool, _ = place
    state = MemoryStateBackend().open().state("spool", 0)
    state.put("position", ["not", "a", "dict"])
    spout = spool_spout(spool)
    assert sorted(drain(spout, open_spout(spout, state))) == [b"ok-1", b"ok-2"]
    assert any("not a position document" in r for r in spout.refused)


@pytest.mark.parametrize("doc", [{"file": "ok.log", "offset": "3"}, {"file": "ok.log", "offset": -1},
                                 {"file": 7}, {"file": ["ok.log"]}])
def test_malformed_position_entries_are_reported_and_reading_goes_on(place, doc):
    spool, _ = place
    (spool / ".squall-spool.json").write_text(json.dumps(doc))
    spout = spool_spout(spool)
    assert sorted(drain(spout, open_spout(spout))) == [b"ok-1", b"ok-2"]
    assert spout.refused


@pytest.mark.parametrize("offset", [11, 2**62, 2**63, 10**30])
def test_a_position_past_the_end_of_its_file_reads_the_file_from_its_start(place, offset):
    spool, _ = place
    (spool / ".squall-spool.json").write_text(json.dumps({"file": "ok.log", "offset": offset}))
    spout = spool_spout(spool)
    assert drain(spout, open_spout(spout)) == [b"ok-1", b"ok-2"]
    assert any("past the end" in r for r in spout.refused)


# -- the position file itself ------------------------------------------------------------

def test_a_position_file_that_is_a_link_is_refused_not_followed(place):
    spool, outside = place
    (spool / ".squall-spool.json").symlink_to(outside / "secret.txt")
    before = tree(outside)
    with pytest.raises(PositionFileError, match="symbolic link"):
        open_spout(spool_spout(spool))
    assert tree(outside) == before


def test_a_position_file_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pos.json")
    with pytest.raises(PositionFileError, match="not a regular file"):
        PositionFile(tmp_path / "pos.json").load()


def test_an_oversized_position_file_is_refused(tmp_path):
    (tmp_path / "pos.json").write_bytes(b" " * (2 << 20))
    with pytest.raises(PositionFileError, match="larger than"):
        PositionFile(tmp_path / "pos.json").load()


@pytest.mark.parametrize("source", ["spool", "tail"])
def test_a_link_planted_at_the_old_temporary_name_is_not_written_through(tmp_path, source):
    """Before: the position file was written to ``<name>.tmp`` with ``open(.., "w")``,
    which follows a link planted there and overwrote its target."""
    spool, outside = tmp_path / "spool", tmp_path / "outside"
    spool.mkdir()
    outside.mkdir()
    canary = outside / "canary"
    canary.write_bytes(b"keep me")
    (spool / "app.log").write_bytes(b"x\ny\n")
    if source == "spool":
        spout = spool_spout(spool)
        pos = spool / ".squall-spool.json"
    else:
        pos = spool / "pos.json"
        spout = TailSpout(str(spool / "app.log"), str(pos), poll_interval_s=0, save_interval_s=0,
                          stop_at_eof=True)
    tmp_link = pos.with_name(pos.name + ".tmp")
    tmp_link.symlink_to(canary)
    got = drain(spout, open_spout(spout))
    spout.close()
    assert got == [b"x", b"y"]
    assert canary.read_bytes() == b"keep me"
    assert tmp_link.is_symlink() and not pos.is_symlink()                 # saved beside it
    assert isinstance(json.loads(pos.read_text()), dict)
    assert not [p for p in spool.iterdir() if p.name.startswith(f".{pos.name}.")]   # no temp left


def test_a_link_at_the_position_file_name_is_replaced_not_written_through(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary").write_bytes(b"keep me")
    pos = tmp_path / "pos.json"
    pos.symlink_to(outside / "canary")
    PositionFile(pos).save({"file": "a", "offset": 1})
    assert (outside / "canary").read_bytes() == b"keep me"
    assert not pos.is_symlink() and PositionFile(pos).load() == {"file": "a", "offset": 1}


# -- TailSpout ---------------------------------------------------------------------------

@pytest.fixture
def logs(tmp_path):
    logdir, outside = tmp_path / "logs", tmp_path / "outside"
    logdir.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (logdir / "app.log").write_bytes(b"app-1\n")
    return logdir, outside


def tail_spout(logdir, **kw):
    return TailSpout(str(logdir / "app.log"), str(logdir / "pos.json"), poll_interval_s=0, save_interval_s=0,
                     stop_at_eof=True, **kw)


def test_tail_checkpoint_naming_a_file_outside_by_path_and_inode_is_refused(logs):
    logdir, outside = logs
    secret = outside / "secret.txt"
    state = MemoryStateBackend().open().state("tail", 0)
    state.put("position", {"reading": (secret.stat().st_ino, str(secret), 0), "files": [], "pending": []})
    before = tree(outside)
    spout = tail_spout(logdir)
    got = drain(spout, open_spout(spout, state))
    assert SECRET.strip() not in got and got == [b"app-1"]
    assert tree(outside) == before
    assert any("not in the followed file's directory" in r for r in spout.refused)


def test_tail_does_not_follow_a_link_beside_the_followed_file(logs):
    """A rotated-file search over the directory: a link there to a file outside with the
    saved inode is not taken for the rotated file."""
    logdir, outside = logs
    secret = outside / "secret.txt"
    (logdir / "app.log.1").symlink_to(secret)
    (logdir / "pos.json").write_text(json.dumps({"inode": secret.stat().st_ino, "offset": 0}))
    spout = tail_spout(logdir)
    got = drain(spout, open_spout(spout))
    assert got == [b"app-1"]


def test_tail_follows_a_configured_link(logs):
    """The followed path is the user's: a link there is followed (logrotate setups)."""
    logdir, _ = logs
    (logdir / "current.log").symlink_to(logdir / "app.log")
    spout = TailSpout(str(logdir / "current.log"), str(logdir / "pos.json"), poll_interval_s=0,
                      save_interval_s=0, stop_at_eof=True)
    assert drain(spout, open_spout(spout)) == [b"app-1"]


@pytest.mark.parametrize("doc", [{"inode": "12", "offset": 0}, {"inode": 12, "offset": -5},
                                 {"inode": None}])
def test_tail_malformed_position_file_is_reported_and_reading_goes_on(logs, doc):
    logdir, _ = logs
    (logdir / "pos.json").write_text(json.dumps(doc))
    spout = tail_spout(logdir)
    assert drain(spout, open_spout(spout)) == [b"app-1"]
    assert spout.refused


def test_spool_refuses_a_completed_suffix_with_a_separator(tmp_path):
    with pytest.raises(ValueError, match="completed_suffix"):
        SpoolDirSpout(str(tmp_path), completed_suffix="/../../x")
    assert Path(tmp_path).exists()
