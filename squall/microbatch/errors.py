"""Errors of the micro-batch mode; all under :class:`squall.errors.SquallError`."""

from __future__ import annotations

from ..errors import SquallError

__all__ = ["MicroBatchError", "PlanError", "BatchSchemaError", "BatchError"]


class MicroBatchError(SquallError):
    """Root of the errors raised by :mod:`squall.microbatch`."""


class PlanError(MicroBatchError, ValueError):
    """A streaming query is inconsistent; raised when it is built, before any batch runs.

    The message names the operator at fault and how to fix the query.
    """


class BatchSchemaError(MicroBatchError, TypeError):
    """A batch lacks a column the query needs, or the column has the wrong type.

    Attributes:
        operator: the operator that needed the column (``"window"``, ``"with_watermark"``).
        column: the column's name.
        reason: what was expected and what came.
    """

    def __init__(self, operator: str, column: str, reason: str) -> None:
        super().__init__(f"{operator}: column {column!r}: {reason}")
        self.operator = operator
        self.column = column
        self.reason = reason


class BatchError(MicroBatchError):
    """The vectorized engine rejected a batch (a missing column, a bad expression type).

    Attributes:
        batch_id: the micro-batch's id (0 for the first batch of the query).
        operator: the operator spec that failed, as written in the plan.
    """

    def __init__(self, batch_id: int, operator: object, reason: str) -> None:
        super().__init__(f"micro-batch {batch_id}: {operator!r} failed: {reason}")
        self.batch_id = batch_id
        self.operator = operator
        self.reason = reason
