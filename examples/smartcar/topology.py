"""The smart-car topology: source -> parse -> (table, dead letters) and (CEP -> speeding set, log).

::

    source --shuffle--> parse --default/shuffle--> table      (DriverCarInfo, cf1)
                              --default/global---> cep        (the rule file's EPL)
                              --error/shuffle----> deadletter (DeadLetters)
    cep --shuffle--> speeding (SADD/EXPIRE)
    cep --global---> detections (JSON lines), when a log path is given

The CEP bolt runs as one task fed by a global grouping: a time batch starts at the
first event the engine sees, so splitting cars over several engines would give each
its own batch boundaries, unlike one Esper engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from squall import Spout, Topology, TopologyBuilder
from squall.cep.bolt import CepBolt
from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore, KeyValueStore, TableStore
from squall.store.bolts import DeadLetterBolt, FieldsTableMapper, TableWriterBolt

from .bolts import ERROR_STREAM, DetectionLogBolt, ParseBolt, SpeedingBolt
from .record import EVENT_PROPERTIES, FIELDS

__all__ = ["TABLE", "FAMILY", "DEAD_LETTER_TABLE", "DEFAULT_RULE", "Stores", "build_topology"]

TABLE = "DriverCarInfo"
FAMILY = "cf1"
DEAD_LETTER_TABLE = "DeadLetters"
DEFAULT_RULE = Path(__file__).with_name("speeding.epl")


@dataclass(frozen=True)
class Stores:
    """Where the pipeline writes: a table store and a key-value store.

    Both are configurations (they travel with the topology); each bolt opens its
    store in ``prepare`` on its worker. Read them with ``stores.table.open()``.
    """

    table: TableStore
    kv: KeyValueStore

    @classmethod
    def embedded(cls, data_dir: str | Path) -> Stores:
        return cls(EmbeddedTableStore(data_dir), EmbeddedKeyValueStore(data_dir))


def build_topology(source: Spout, stores: Stores, rule: str, speeding_ttl_s: int = 604800,
                   speeding_log: str | None = None, table_tasks: int = 1,
                   rules_dir: str | Path | None = None) -> Topology:
    """Wire the pipeline around ``source`` (a spout emitting ``line, origin, error``).

    With ``rules_dir`` the CEP bolt watches that directory for new versions of the rule
    (``squall rules apply FILE --rules-dir DIR``) and applies them while it runs; a
    rule file already there replaces ``rule`` at start (see :mod:`squall.cep.rules`).

    Raises:
        EPLSyntaxError / EPLCompileError: ``rule`` does not compile.
        ValueError: the rule's first statement does not select ``carNumber``.
    """
    b = TopologyBuilder()
    b.set_spout("source", source)
    b.set_bolt("parse", ParseBolt()).shuffle_grouping("source")
    b.set_bolt("table", TableWriterBolt(stores.table, TABLE, [FAMILY],
                                        FieldsTableMapper("row_key", FAMILY, FIELDS)),
               table_tasks).shuffle_grouping("parse")
    b.set_bolt("deadletter", DeadLetterBolt(stores.table, DEAD_LETTER_TABLE)) \
        .shuffle_grouping("parse", ERROR_STREAM)
    # A record replayed because a store was down must not count twice in an average.
    cep = CepBolt(rule, "DriverCarInfo", EVENT_PROPERTIES, time_field="event_time_ms", name="speeding",
                  dedupe_field="row_key", rules_dir=rules_dir)
    columns = cep.output_columns()
    if "carNumber" not in columns:
        raise ValueError(f"the speeding rule must select carNumber (its first statement selects "
                         f"{', '.join(columns)})")
    b.set_bolt("cep", cep).global_grouping("parse")
    b.set_bolt("speeding", SpeedingBolt(stores.kv, speeding_ttl_s)).shuffle_grouping("cep")
    if speeding_log:
        b.set_bolt("detections", DetectionLogBolt(speeding_log)).global_grouping("cep")
    return b.build()
