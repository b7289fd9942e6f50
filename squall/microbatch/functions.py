"""Aggregates for ``group_by(window(...), *keys).agg(...)``, named as Spark's ``functions``.

Use as ``from squall.microbatch import functions as F`` then ``F.avg("speed")``. The
default output name is Spark's (``"avg(speed)"``, ``"count(1)"``); ``.alias(name)``
renames. Nulls are skipped as in SQL (``count()`` counts rows, ``count(col)`` non-null
values).

Semantics: Spark SQL built-in aggregate functions (count, sum, avg, min, max).

>>> avg("speed")
Agg(kind='avg', column='speed', name='avg(speed)')
>>> count().alias("events").name
'events'
"""

from __future__ import annotations

from .plan import Agg

__all__ = ["count", "sum", "avg", "mean", "min", "max"]


def count(column: str | None = None) -> Agg:
    """Rows of the window and key (``column`` given: its non-null values)."""
    return Agg("count", column, f"count({column or 1})")


def sum(column: str) -> Agg:  # noqa: A001 (Spark's name, inside this module's namespace)
    """Sum of ``column``'s non-null values."""
    return Agg("sum", column, f"sum({column})")


def avg(column: str) -> Agg:
    """Mean of ``column``'s non-null values (null when there are none)."""
    return Agg("avg", column, f"avg({column})")


mean = avg


def min(column: str) -> Agg:  # noqa: A001
    """Smallest non-null value of ``column``."""
    return Agg("min", column, f"min({column})")


def max(column: str) -> Agg:  # noqa: A001
    """Largest non-null value of ``column``."""
    return Agg("max", column, f"max({column})")
