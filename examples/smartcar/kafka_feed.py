"""The smart-car feed from Kafka (``squall smartcar run --kafka``); needs ``squall[kafka]``."""

from __future__ import annotations

from squall import Spout
from squall.connectors.kafka import KafkaSpout, KafkaSpoutConfig, RecordTranslator

__all__ = ["FeedLineTranslator", "kafka_source"]


class FeedLineTranslator(RecordTranslator):
    """A feed message -> ``(line, origin, error)``: the raw value (bytes: the parse bolt
    decodes and dead-letters what is not UTF-8), origin ``topic/partition/offset``."""

    def streams(self):
        return {"default": ("line", "origin", "error")}

    def translate(self, record):
        return "default", [record.value(), f"{record.topic()}/{record.partition()}/{record.offset()}", None]


def kafka_source(bootstrap: str, topic: str, group: str, follow: bool,
                 startup_timeout_s: float = 30.0) -> Spout:
    """A KafkaSpout on ``topic``; without ``follow`` it ends at the end of the topic.

    Checkpointed (``squall smartcar run`` with a state backend), the spout's position
    is in every checkpoint and a rerun resumes from the last one (offsets reach the
    group when a checkpoint completes); without checkpoints it resumes from the group's
    committed offsets. Static group membership lets the rerun after a ``kill -9`` take
    the partitions back at once, instead of finding them held by the dead process (a
    bounded run could then end early). A bounded run whose brokers do not answer (or
    whose topic does not exist) within ``startup_timeout_s`` fails with
    ``KafkaStartupError``; a followed one keeps retrying.
    """
    return KafkaSpout(KafkaSpoutConfig(bootstrap_servers=bootstrap, group_id=group, topics=(topic,),
                                       translator=FeedLineTranslator(), stop_at_end=not follow,
                                       offset_commit_period_s=1.0, static_membership=True,
                                       startup_timeout_s=startup_timeout_s,
                                       # A partition a dead run held goes to another member
                                       # after this long, not Kafka's default 45 s.
                                       consumer_config={"session.timeout.ms": 10000}))
