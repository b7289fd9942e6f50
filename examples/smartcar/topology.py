"""The smart-car topology: source -> parse -> (table, dead letters) and (CEP -> speeding set, log).

::

    source --shuffle--> parse --default/shuffle--> table      (DriverCarInfo, cf1)
                              --default/global---> cep        (the rule file's EPL)
                              --error/shuffle----> deadletter (DeadLetters)
    cep --shuffle--> speeding (SADD/EXPIRE)
    cep --global---> detections (JSON lines), when a log path is given

The CEP bolt runs as one task fed by a global grouping: a time batch starts at the
first event the engine sees, so splitting cars over several engines would give each
its own batch boundaries, unlike one Esper engine. A rule whose statements run in a
keyed context (``speeding_per_car.epl``: each car a partition with its own batches)
can run on ``cep_tasks`` tasks fed by a fields grouping on the partition property
(``car_number``), with the rows of one engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from squall import Spout, Topology, TopologyBuilder, TopologyValidationError
from squall.component import OutputFieldsDeclarer
from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore, KeyValueStore, TableStore

from .bolts import ERROR_STREAM, DetectionLogBolt, ParseBolt, SpeedingBolt
from .record import EVENT_PROPERTIES, FIELDS

__all__ = ["TABLE", "FAMILY", "DEAD_LETTER_TABLE", "DEFAULT_RULE", "PER_CAR_RULE", "PARSE_JS", "Stores", "build_topology"]

TABLE = "DriverCarInfo"
FAMILY = "cf1"
DEAD_LETTER_TABLE = "DeadLetters"
DEFAULT_RULE = Path(__file__).with_name("speeding.epl")
PER_CAR_RULE = Path(__file__).with_name("speeding_per_car.epl")
"""The speeding rule in a keyed context (``partition by carNumber``): it runs on several
CEP tasks (``build_topology(..., cep_tasks=N)``)."""
PARSE_JS = Path(__file__).with_name("parse.js")
"""The parse step in JavaScript (Storm's storm.js must sit next to it at run time)."""


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
                   rules_dir: str | Path | None = None, parse_command: Sequence[str] | None = None,
                   parse_cwd: str | Path | None = None, cep_tasks: int = 1) -> Topology:
    """Wire the pipeline around ``source`` (a spout emitting ``line, origin, error``).

    With ``parse_command`` (e.g. ``["node", "parse.js"]``, run in ``parse_cwd``) the parse
    step is a :class:`~squall.multilang.ShellBolt` running that command, a multilang
    component that must do what :class:`ParseBolt` does: the same streams (default:
    ``row_key``, the record fields, ``event_time_ms``; ``error``: ``record, reason,
    origin``), values and types (floats as floats: write ``12.0``, not ``12``).
    :data:`PARSE_JS` is one, written against Storm's ``storm.js``, which must be in
    ``parse_cwd`` (see docs/multilang.md). The lines travel as JSON, so the source's
    lines must be str (a Kafka source's bytes values cannot be sent).

    With ``rules_dir`` the CEP bolt watches that directory for new versions of the rule
    (``squall rules apply FILE --rules-dir DIR``) and applies them while it runs; a
    rule file already there replaces ``rule`` at start (see :mod:`squall.cep.rules`).

    With ``cep_tasks`` above 1 the CEP bolt runs on that many tasks fed by a fields
    grouping on the rule's partition fields (``car_number`` for :data:`PER_CAR_RULE`);
    the rule must run in a keyed context (see :meth:`CepBolt.partition_fields`). The
    detections are those of one task, in another order. A new rule version applied live
    (``rules_dir``) must keep that context: it is not checked again.

    Raises:
        EPLSyntaxError / EPLCompileError: ``rule`` does not compile.
        ValueError: the rule's first statement does not select ``carNumber``.
        TopologyValidationError: ``cep_tasks`` is below 1, or above 1 with a rule that
            cannot be split by car (the message says why).
    """
    # Imported here: the micro-batch job reads this module's stores and names only, and
    # the CEP engine alone costs it 9-16 MB of its peak memory.
    from squall.cep.bolt import CepBolt
    from squall.multilang import ShellBolt
    from squall.store.bolts import DeadLetterBolt, FieldsTableMapper, TableWriterBolt

    b = TopologyBuilder()
    b.set_spout("source", source)
    if parse_command is None:
        parse = ParseBolt()
    else:
        # The streams ParseBolt declares, so the two cannot drift apart.
        declared = OutputFieldsDeclarer()
        ParseBolt().declare_output_fields(declared)
        streams = {name: list(spec.fields) for name, spec in declared.streams.items()}
        parse = ShellBolt(parse_command, streams.pop("default"), streams=streams,
                          cwd=None if parse_cwd is None else str(parse_cwd))
    b.set_bolt("parse", parse).shuffle_grouping("source")
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
    if cep_tasks < 1:
        raise TopologyValidationError(f"cep_tasks must be at least 1, got {cep_tasks}")
    if cep_tasks == 1:
        b.set_bolt("cep", cep).global_grouping("parse")
    else:
        fields = cep.partition_fields()
        if fields is None:
            raise TopologyValidationError(
                f"cep_tasks={cep_tasks}: the rule cannot run on several CEP tasks: "
                f"{cep.partition_refusal()} (see examples/smartcar/speeding_per_car.epl), or use cep_tasks=1")
        b.set_bolt("cep", cep, cep_tasks).fields_grouping("parse", list(fields))
    b.set_bolt("speeding", SpeedingBolt(stores.kv, speeding_ttl_s)).shuffle_grouping("cep")
    if speeding_log:
        b.set_bolt("detections", DetectionLogBolt(speeding_log)).global_grouping("cep")
    return b.build()
