"""Connectors to real systems: Kafka, Redis, HBase.

Each sub-package is the only place that imports its client library
(``confluent_kafka``, ``redis``, ``happybase``); the core never imports a connector.
Install the extras: ``pip install squall[kafka,redis,hbase]``.
"""
