"""User types in checkpointed state, end to end: a stateful bolt registers its type in
``init_state`` and a restarted worker reads it back; an unregistered type ends the run
with an error naming the key and type, and nothing of it is stored."""

from __future__ import annotations

import pytest

from squall import Bolt, Stateful, TopologyBuilder
from squall.config import CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE, MAX_SPOUT_PENDING
from squall.runtime.worker import Worker
from squall.state import RocksDBStateBackend
from squall.state.errors import StateValueError
from squall.testing import ListSpout


class Track:
    """A user type: the positions one car went through."""

    def __init__(self, points=()):
        self.points = list(points)

    def __eq__(self, other):
        return type(other) is Track and self.points == other.points


def encode_track(track):
    return track.points


def decode_track(points):
    return Track(points)


class Tracker(Stateful, Bolt):
    def __init__(self, register: bool) -> None:
        self.register = register

    def init_state(self, state):
        if self.register:
            state.register_type(Track, "tests.Track", encode_track, decode_track)
        self.state = state
        self.tracks = dict(state.get("tracks", {}))

    def process(self, t):
        self.tracks.setdefault(t["car"], Track()).points.append(t["x"])
        self.collector.ack(t)

    def pre_prepare(self, txid):
        self.state.put("tracks", self.tracks)


ROWS = [["a", 1], ["b", 2], ["a", 3]]
CONF = {CHECKPOINT_MODE: EXACTLY_ONCE, CHECKPOINT_INTERVAL_MS: 5, MAX_SPOUT_PENDING: 10}


def topology(rows, register):
    b = TopologyBuilder()
    b.set_spout("src", ListSpout(rows, ["car", "x"]))
    b.set_bolt("track", Tracker(register)).global_grouping("src")
    return b.build()


def tracks_in(path):
    with RocksDBStateBackend(path).open() as backend:
        [(component, task)] = [ns for ns in backend.namespaces() if ns[0] == "track"]
        state = backend.state(component, task)
        state.register_type(Track, "tests.Track", encode_track, decode_track)
        return state.get("tracks")


def test_a_registered_type_survives_a_restart(tmp_path):
    w = Worker(topology(ROWS, True), CONF, state_backend=RocksDBStateBackend(tmp_path / "db"))
    w.run(until_complete=True)
    assert w.checkpoint_stats.completed >= 1 and not w.checkpoint_stats.errors
    assert tracks_in(tmp_path / "db") == {"a": Track([1, 3]), "b": Track([2])}


def test_an_unregistered_type_ends_the_run_naming_key_and_type(tmp_path):
    w = Worker(topology(ROWS, False), CONF, state_backend=RocksDBStateBackend(tmp_path / "db"))
    with pytest.raises(StateValueError) as err:
        w.run(until_complete=True)
    assert "'tracks'" in str(err.value) and f"{__name__}.Track" in str(err.value)
    assert w.checkpoint_stats.completed == 0
    with RocksDBStateBackend(tmp_path / "db").open() as backend:
        assert [ns for ns in backend.namespaces() if ns[0] == "track"] == []    # nothing stored
