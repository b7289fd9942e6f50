#!/usr/bin/env bash
# Install what the tests need on a fresh Debian machine with Python 3.11+ and Java 17,
# then run them. Connector tests start real servers: redis-server from Debian's
# package; Kafka and HBase from Maven Central jars (cached in ~/.cache/squall/jars), as
# are Storm's multilang adapters.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests need: redis-server; maven for the service jars; node and ruby
# run Storm's own multilang adapters (storm.js, storm.rb); chromium drives the UI pages;
# OpenBSD's nc (its -N ends a connection at end of input) serves the socket source's tests.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v node >/dev/null || missing+=(nodejs)
command -v ruby >/dev/null || missing+=(ruby)
command -v mvn >/dev/null || missing+=(maven)    # fetches the Kafka, HBase and Storm jars
command -v chromium >/dev/null || missing+=(chromium)            # the UI tests' browser
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[[ "$(nc -h 2>&1)" == *"OpenBSD netcat"* ]] || missing+=(netcat-openbsd)  # also replaces another nc
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
python3 -m pytest -q "$@"
