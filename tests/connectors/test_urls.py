"""Credentials never reach a message: squall.connectors.urls and its users."""

from __future__ import annotations

import subprocess
import sys

import pytest

from squall.connectors.urls import MASK, mask_config, mask_url


@pytest.mark.parametrize("url, shown", [
    ("redis://:pw1@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("redis://alice:pw1@h:6379/2", "redis://alice:***@h:6379/2"),
    ("rediss://alice:pw1@h:6380/0?ssl_cert_reqs=none", "rediss://alice:***@h:6380/0?ssl_cert_reqs=none"),
    ("redis+sentinel://:pw1@s1:26379,s2:26379/cars/1", "redis+sentinel://:***@s1:26379,s2:26379/cars/1"),
    ("redis+cluster://u:pw1@n1:7000,n2:7001", "redis+cluster://u:***@n1:7000,n2:7001"),
    ("redis://h:6379/0?password=pw1", "redis://h:6379/0?password=***"),
    ("redis://h/0?db=1&password=pw1&socket_timeout=2", "redis://h/0?db=1&password=***&socket_timeout=2"),
    ("http://u:pw1@example.com:8080/path?q=1", "http://u:***@example.com:8080/path?q=1"),
    ("SASL_SSL://b1:9093?sasl.password=pw1", "SASL_SSL://b1:9093?sasl.password=***"),
    # A password holding '@' or '/' is hidden whole, not up to its first '@'.
    ("redis://:p@w/1@h:6379/0", "redis://:***@h:6379/0"),
])
def test_mask_url_hides_the_password(url, shown):
    assert mask_url(url) == shown
    assert "pw1" not in mask_url(url) and "p@w" not in mask_url(url)


@pytest.mark.parametrize("text", [
    "b1:9092,b2:9092", "PLAINTEXT://b1:9092,SSL://b2:9093", "redis://127.0.0.1:6379/0",
    "redis://alice@h:6379/0", "unix:///var/run/redis.sock?db=2", "redis://h/0?password=",
])
def test_mask_url_leaves_text_without_secrets_alone(text):
    assert mask_url(text) == text


def test_mask_url_in_a_message():
    msg = "connecting to redis://:pw1@a:1/0 and redis://:pw2@b:2/0 (retrying)"
    assert mask_url(msg) == "connecting to redis://:***@a:1/0 and redis://:***@b:2/0 (retrying)"


def test_mask_config_hides_kafka_secrets_and_keeps_the_rest():
    cfg = {"bootstrap.servers": "b1:9093", "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
           "sasl.username": "app", "sasl.password": "pw1", "ssl.key.password": "pw2",
           "ssl.keystore.password": "pw3", "sasl.oauthbearer.client.secret": "pw4", "ssl.key.pem": "pw5",
           "linger.ms": 5, "nested": {"password": "pw6"}, "url": "redis://:pw7@h/0"}
    masked = mask_config(cfg)
    assert not any(f"pw{i}" in repr(masked) for i in range(1, 8))
    assert masked["sasl.password"] == MASK and masked["sasl.username"] == "app"
    assert masked["linger.ms"] == 5 and masked["bootstrap.servers"] == "b1:9093"
    assert cfg["sasl.password"] == "pw1", "the caller's config is not changed"


def test_imports_no_optional_package():
    code = ("import sys, squall.connectors.urls; "
            "print(sorted(m for m in ('redis', 'confluent_kafka', 'happybase') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_connector_reprs_and_errors_mask_secrets():
    pytest.importorskip("redis")
    pytest.importorskip("confluent_kafka")
    from squall.connectors.kafka import KafkaBolt, KafkaSpoutConfig
    from squall.connectors.redis import RedisKeyValueStore, from_url
    from squall.connectors.redis.errors import RedisConnectionError

    cfg = from_url("redis://:pw1@127.0.0.1:1/0?password=pw2", retries=0, socket_connect_timeout_s=0.5)
    store = RedisKeyValueStore(cfg).open()
    with pytest.raises(RedisConnectionError) as info:
        store.get("k")          # nothing listens on port 1
    store.close()
    sentinel = from_url("redis+sentinel://:pw3@s1:26379/cars/1")
    assert sentinel.sentinel == (("s1", 26379),)     # credentials are not taken for a host
    spout_cfg = KafkaSpoutConfig("b1:9093", "g", topics="t", consumer_config={"sasl.password": "pw4"})
    bolt = KafkaBolt("b1:9093", "t", producer_config={"sasl.password": "pw5", "ssl.key.password": "pw6"})
    shown = " ".join([str(info.value), repr(cfg), cfg.describe(), repr(store), repr(store.store), repr(sentinel),
                      sentinel.describe(), repr(spout_cfg), repr(bolt)])
    assert not any(f"pw{i}" in shown for i in range(1, 7)), shown
    assert "127.0.0.1:1" in str(info.value)
