"""Trident's aggregators over columnar batches: Count, Sum, Min, Max, Avg, and a Python fallback.

The built-ins run as polars kernels over the batch's columns (one partial row per
group and batch); their partials merge across batches, so a persistent state or a
window holds one small record per key, never the records. :class:`Combiner` is the
fallback for anything else: a Python function called once per group and batch with
the group's columns, and a function merging two results.

Semantics: Storm "Trident API Overview" (Aggregation operations; ``Count``, ``Sum``,
``CombinerAggregator``). Squall differs: the input field is given to the aggregator
(``Sum("amount")``) instead of as a separate ``Fields`` argument; Avg, Min and Max are
built in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..extras import require
from .engine import AggKernels
from .errors import PlanError
from .plan import Agg

pl = require("polars", "microbatch")

__all__ = ["Aggregator", "Count", "Sum", "Min", "Max", "Avg", "Combiner", "AggregationKernel"]


class Aggregator:
    """Base of the aggregators given to ``aggregate``, ``persistent_aggregate`` and windows."""

    input_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Builtin(Aggregator):
    field: str | None = None
    kind = ""

    @property
    def input_fields(self) -> tuple[str, ...]:  # type: ignore[override]
        return () if self.field is None else (self.field,)

    def agg(self, name: str) -> Agg:
        return Agg(self.kind, self.field, name)


@dataclass(frozen=True)
class Count(_Builtin):
    """Tuples of the group (``field`` given: its non-null values)."""

    kind = "count"


@dataclass(frozen=True)
class Sum(_Builtin):
    """Sum of ``field``'s non-null values."""

    kind = "sum"


@dataclass(frozen=True)
class Min(_Builtin):
    """Smallest non-null value of ``field``."""

    kind = "min"


@dataclass(frozen=True)
class Max(_Builtin):
    """Largest non-null value of ``field``."""

    kind = "max"


@dataclass(frozen=True)
class Avg(_Builtin):
    """Mean of ``field``'s non-null values; a state keeps its sum and count."""

    kind = "avg"


def _needs_field(agg: _Builtin) -> None:
    if agg.kind != "count" and not agg.field:
        raise PlanError(f"{type(agg).__name__}() needs the field it aggregates, e.g. {type(agg).__name__}('speed')")


@dataclass(frozen=True)
class Combiner(Aggregator):
    """A Python aggregator: ``fn(columns)`` once per group and batch, ``combine(a, b)`` across batches.

    Args:
        fn: takes a DataFrame of ``input_fields`` (the group's rows in this batch) and
            returns the group's value (a JSON value when kept in a key-value state).
        input_fields: the columns ``fn`` reads.
        combine: merges two values (a state's value and a batch's); needed by
            ``persistent_aggregate``; ``None``: per-batch aggregation only.

    Semantics: Storm ``CombinerAggregator`` (``init`` per tuple, ``combine``), with
    ``fn`` taking the group's columns instead of one tuple.
    """

    fn: Callable[[Any], Any]
    input_fields: tuple[str, ...] = ()
    combine: Callable[[Any, Any], Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.input_fields, str):
            object.__setattr__(self, "input_fields", (self.input_fields,))


def _merge(kind: str, a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    if kind == "sum":
        return a + b
    return min(a, b) if kind == "min" else max(a, b)


@dataclass
class AggregationKernel:
    """A list of (aggregator, output field) run over batches, grouped by ``keys``.

    Built-ins go to one polars ``group_by().agg()`` call; :class:`Combiner` functions
    are called per group. A group's *record* (what a state keeps) is the list of the
    built-ins' partials followed by each combiner's value.
    """

    keys: tuple[str, ...]
    aggregators: tuple[Aggregator, ...]
    out_fields: tuple[str, ...]
    builtins: list[tuple[int, Agg]] = field(init=False)
    kernels: AggKernels | None = field(init=False)

    def __post_init__(self) -> None:
        if len(self.aggregators) != len(self.out_fields):
            raise PlanError(f"{len(self.aggregators)} aggregators but {len(self.out_fields)} output fields "
                            f"{list(self.out_fields)}: name one output field per aggregator")
        taken = [*self.keys, *self.out_fields]
        dup = sorted({f for f in taken if taken.count(f) > 1})
        if dup:
            raise PlanError(f"output fields {dup} collide with the group fields or each other; rename them")
        self.builtins = []
        for i, (a, name) in enumerate(zip(self.aggregators, self.out_fields)):
            if isinstance(a, _Builtin):
                _needs_field(a)
                self.builtins.append((i, a.agg(name)))
            elif not isinstance(a, Combiner):
                raise PlanError(f"{a!r} is not an aggregator: use Count, Sum, Min, Max, Avg or Combiner(fn, ...)")
        self.kernels = AggKernels(tuple(a for _, a in self.builtins)) if self.builtins else None
        self.combiners = [(i, a) for i, a in enumerate(self.aggregators) if isinstance(a, Combiner)]

    @property
    def mergeable(self) -> bool:
        """Every aggregator's results merge across batches (a state or global combine needs it)."""
        return all(a.combine is not None for _, a in self.combiners)

    def _groups(self, frame: Any) -> list[tuple[tuple, Any]]:
        if not self.keys:
            return [((), frame)]
        return [(k if isinstance(k, tuple) else (k,), g)
                for k, g in frame.group_by(list(self.keys), maintain_order=True)]

    def partials(self, frame: Any) -> Any:
        """One row per group of ``frame``: the keys, the built-ins' partial columns, then
        one column per combiner (``__c<i>``, its value)."""
        keys = list(self.keys)
        k = self.kernels
        if k is not None:
            out = frame.group_by(keys, maintain_order=True).agg(k.partial) if keys else frame.select(k.partial)
        else:
            out = frame.select(keys).unique(maintain_order=True) if keys else pl.DataFrame({"__dummy": [0]})
        for i, c in self.combiners:
            groups = self._groups(frame)
            values = {key: c.fn(g.select(c.input_fields) if c.input_fields else g) for key, g in groups}
            col = [values.get(tuple(row)) for row in out.select(keys).iter_rows()] if keys \
                else [values[()]]
            out = out.with_columns(pl.Series(f"__c{i}", col, dtype=pl.Object if _opaque(col) else None))
        return out.drop("__dummy", strict=False)

    @property
    def vectorized(self) -> bool:
        """Every aggregator is a built-in: partials are computed and merged by polars alone."""
        return self.kernels is not None and not self.combiners

    def partials_lazy(self, lf: Any) -> Any:
        """Lazy partials of a lazy frame: one row per group (the keys, then the built-ins'
        partial columns), none for an empty input, even without keys. Built-ins only
        (:attr:`vectorized`); what a producer runs before repartitioning, so only the
        groups travel (Trident's partial aggregation of combiner aggregators)."""
        k = self.kernels
        if self.keys:
            return lf.group_by(list(self.keys)).agg(k.partial)
        return lf.select([*k.partial, pl.len().alias("__rows")]).filter(pl.col("__rows") > 0).drop("__rows")

    def combine_partials(self, frame: Any) -> Any:
        """Partial rows of several producers (a group may appear in each) folded into one per group."""
        k = self.kernels
        if self.keys:
            return frame.group_by(list(self.keys), maintain_order=True).agg(k.combine)
        return frame.select(k.combine)

    @property
    def record_columns(self) -> list[str]:
        return [*(self.kernels.partial_names if self.kernels else ()), *(f"__c{i}" for i, _ in self.combiners)]

    def merge_records(self, old: list | None, new: list) -> list:
        """Two records of one group, merged (``old`` may be ``None``)."""
        if old is None:
            return new
        kinds = self.kernels.partial_kinds if self.kernels else []
        out = [_merge(kind, a, b) for kind, a, b in zip(kinds, old, new)]
        for j, (_, c) in enumerate(self.combiners):
            a, b = old[len(kinds) + j], new[len(kinds) + j]
            out.append(b if a is None else a if b is None else c.combine(a, b))
        return out

    def finalize(self, rows: Any) -> Any:
        """Keys and output fields from rows of keys and record columns."""
        finals = list(self.kernels.final) if self.kernels else []
        finals += [pl.col(f"__c{i}").alias(self.out_fields[i]) for i, _ in self.combiners]
        return rows.with_columns(finals).select([*self.keys, *self.out_fields])

    def aggregate(self, frame: Any) -> Any:
        """One batch aggregated: the keys and output fields, one row per group."""
        return self.finalize(self.partials(frame))


def _opaque(values: Sequence[Any]) -> bool:
    """Values polars cannot type as one column (mixed or nested types) travel as objects."""
    types = {type(v) for v in values if v is not None}
    return len(types) > 1 or bool(types & {dict, list, tuple, set})
