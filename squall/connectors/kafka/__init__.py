"""Kafka connector: ``KafkaSpout`` (consumer group; checkpointed position) and ``KafkaBolt``
(producer; transactional, commit on checkpoint, when exactly-once).

The only package that imports ``confluent_kafka`` (``pip install squall[kafka]``).

Semantics: Apache Storm's storm-kafka-client (``KafkaSpout``, ``KafkaSpoutConfig``,
``KafkaBolt``).
"""

from squall.extras import require

require("confluent_kafka", "kafka")  # one sentence naming the extra instead of a traceback

from .bolt import (DefaultTopicSelector, FieldNameBasedTupleToKafkaMapper, FieldNameTopicSelector, KafkaBolt,
                   TopicSelector, TupleToKafkaMapper)
from .config import FirstPollOffsetStrategy, KafkaConfigError, KafkaSpoutConfig, RetryBackoff
from .errors import (KafkaConnectorError, KafkaDeliveryError, KafkaOutageError, KafkaRecordDroppedError,
                     KafkaStartupError, KafkaTransactionError)
from .spout import KafkaSpout
from .translator import (DEFAULT_FIELDS, ByTopicRecordTranslator, DefaultRecordTranslator, RecordTranslator,
                         SimpleRecordTranslator)

__all__ = [
    "KafkaSpout", "KafkaSpoutConfig", "FirstPollOffsetStrategy", "RetryBackoff",
    "RecordTranslator", "DefaultRecordTranslator", "SimpleRecordTranslator", "ByTopicRecordTranslator",
    "DEFAULT_FIELDS",
    "KafkaBolt", "TopicSelector", "DefaultTopicSelector", "FieldNameTopicSelector",
    "TupleToKafkaMapper", "FieldNameBasedTupleToKafkaMapper",
    "KafkaConnectorError", "KafkaConfigError", "KafkaOutageError", "KafkaStartupError", "KafkaDeliveryError",
    "KafkaRecordDroppedError", "KafkaTransactionError",
]
