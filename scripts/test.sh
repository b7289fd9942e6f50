#!/usr/bin/env bash
# Install what the tests need on a fresh Debian machine with Python 3.11+ and Java 17,
# then run them. Connector tests start real servers: redis-server from Debian's
# package; Kafka and HBase from Maven Central jars (cached in ~/.cache/squall/jars).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
python3 -m pytest -q "$@"
