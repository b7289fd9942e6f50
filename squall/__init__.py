"""Squall: real-time stream processing for Python.

Storm's programming model (spouts, bolts, topologies, groupings, guaranteed message
processing), run natively in Python. The core (this package's top-level modules)
knows nothing of runtimes, connectors or stores.
"""

from .component import (BasicBolt, BasicOutputCollector, Bolt, FailedException, OutputCollector,
                        OutputFieldsDeclarer, ReportedFailedException, Spout, SpoutOutputCollector,
                        Stateful, TopologyContext)
from .errors import RecordError, SquallError, TopologyValidationError
from .grouping import (AllGrouping, CustomStreamGrouping, DirectGrouping, FieldsGrouping,
                       GlobalGrouping, LocalOrShuffleGrouping, NoneGrouping, PartialKeyGrouping,
                       ShuffleGrouping)
from .topology import Topology, TopologyBuilder
from .tuple import DEFAULT_STREAM, Fields, Tuple, Values, is_tick

__version__ = "0.1.0"

__all__ = [
    "AllGrouping", "BasicBolt", "BasicOutputCollector", "Bolt", "CustomStreamGrouping",
    "DEFAULT_STREAM", "DirectGrouping", "FailedException", "Fields", "FieldsGrouping",
    "GlobalGrouping", "LocalOrShuffleGrouping", "NoneGrouping", "OutputCollector",
    "OutputFieldsDeclarer", "PartialKeyGrouping", "RecordError", "ReportedFailedException",
    "ShuffleGrouping", "Spout", "SpoutOutputCollector", "Stateful", "SquallError", "Topology",
    "TopologyBuilder", "TopologyContext", "TopologyValidationError", "Tuple", "Values",
    "is_tick",
]
