"""The HBase connector: a table store and bolts over the HBase Thrift server (happybase).

* :class:`HBaseTableStore` (a frozen configuration) whose ``open()`` returns an
  :class:`HBaseTableConnection`, and :class:`HBaseTable` - the
  :class:`~squall.store.table.TableStore` contract on real HBase, so
  :class:`~squall.store.bolts.TableWriterBolt` and the smart-car pipeline run on it
  unchanged;
* :class:`HBaseBolt` with :class:`SimpleHBaseMapper` - storm-hbase's buffered writer
  (columns and counters, batch size, flush interval, ack after flush, fail and back off
  while HBase is unreachable);
* :class:`HBaseLookupBolt` - get by row key, emit the input fields plus columns.

Only this package imports happybase (``pip install squall[hbase]``).
"""

from squall.extras import require

require("happybase", "hbase")  # one sentence naming the extra instead of a traceback

from squall.connectors.hbase.bolts import HBaseBolt, HBaseLookupBolt
from squall.connectors.hbase.errors import HBaseConnectionError, HBaseError, HBaseServerError
from squall.connectors.hbase.mappers import SimpleHBaseMapper
from squall.connectors.hbase.table import HBaseTable, HBaseTableConnection, HBaseTableStore, decode_counter

del require  # the public surface is __all__

__all__ = [
    "HBaseTableStore",
    "HBaseTableConnection",
    "HBaseTable",
    "HBaseBolt",
    "HBaseLookupBolt",
    "SimpleHBaseMapper",
    "decode_counter",
    "HBaseError",
    "HBaseConnectionError",
    "HBaseServerError",
]
