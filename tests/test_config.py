"""Config keys: typos are errors naming the key meant, Storm features Squall lacks warn,
the application's own keys pass silently to the components."""

import warnings

import pytest

from squall import Bolt, TopologyBuilder
from squall.config import (MESSAGE_TIMEOUT_SECS, SPOUT_BATCH_SIZE, ConfigError, ConfigWarning, check_keys,
                           resolve)
from squall.runtime import run_topology
from squall.testing import ListSink, ListSpout


def _warnings(conf):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolve(conf)
    return [str(w.message) for w in caught if issubclass(w.category, ConfigWarning)]


@pytest.mark.parametrize("typo, meant", [
    ("topology.message.timeout.sec", MESSAGE_TIMEOUT_SECS),
    ("topology.max.spout.pendng", "topology.max.spout.pending"),
    ("squall.spout.batchsize", SPOUT_BATCH_SIZE),
    ("squall.spout.turn.max.msec", "squall.spout.turn.max.ms"),
    ("topology.worker", "topology.workers"),
])
def test_a_typo_of_a_known_key_is_an_error_naming_the_key_meant(typo, meant):
    with pytest.raises(ConfigError, match=f"unknown key '{typo}'; did you mean '{meant}'"):
        resolve({typo: 60})


def test_an_unknown_squall_key_is_an_error_listing_squall_keys():
    with pytest.raises(ConfigError, match=r"unknown key 'squall\.fancy'; Squall's keys: .*squall\.spout\.batch\.size"):
        resolve({"squall.fancy": True})


@pytest.mark.parametrize("key", ["topology.multilang.log.handler", "topology.kryo.register",
                                 "nimbus.seeds", "supervisor.slots.ports", "ui.port", "storm.zookeeper.servers",
                                 "topology.bolts.window.length.count"])
def test_storm_settings_of_features_squall_lacks_warn_and_the_topology_runs(key):
    msgs = _warnings({key: 4})
    assert len(msgs) == 1
    assert f"'{key}' is a Storm setting Squall does not support yet; it has no effect" in msgs[0]


def test_the_application_keys_pass_silently_and_reach_the_components():
    conf = {"smartcar.speed.limit.kmh": 80, "kafka_topic": "cars", "myapp.retries": 3}
    assert _warnings(conf) == []
    assert resolve(conf)["smartcar.speed.limit.kmh"] == 80


def test_an_unknown_topology_key_unlike_any_known_one_warns_and_is_passed_on():
    msgs = _warnings({"topology.fleet.name": "north"})
    assert msgs == ["topology config: 'topology.fleet.name' is not a Storm or Squall setting; "
                    "it is passed to the components as is"]
    assert resolve({"topology.fleet.name": "north"}, check_unknown=False)["topology.fleet.name"] == "north"


def test_a_warning_is_shown_once_per_key():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            resolve({"topology.kryo.register": ["x"]})
            check_keys({"topology.kryo.register": ["x"]}, "topology config")
    assert len([w for w in caught if issubclass(w.category, ConfigWarning)]) == 1


class ConfReader(Bolt):
    def prepare(self, config, context, collector):
        self.collector, self.value = collector, config.get("fleet.region")

    def process(self, tup):
        ListSink.record("conf-reader", [self.value])
        self.collector.ack(tup)


def test_component_config_keys_are_checked_when_the_topology_is_built():
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[1]], ["n"]))
    b.set_bolt("read", ConfReader()).shuffle_grouping("src").add_configuration(
        "topology.tick.tuple.freq.sec", 1)
    with pytest.raises(ConfigError, match="component 'read' config: unknown key 'topology.tick.tuple.freq.sec'; "
                                          "did you mean 'topology.tick.tuple.freq.secs'"):
        b.build()


def test_a_user_key_reaches_the_components_through_the_run():
    ListSink.reset("conf-reader")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[1]], ["n"]))
    b.set_bolt("read", ConfReader()).shuffle_grouping("src")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        assert run_topology(b.build(), {"fleet.region": "north"}, timeout_s=10).completed
    assert ListSink.values("conf-reader") == [["north"]]
