"""Optional dependencies: import one where a feature needs it, or say which extra to install.

The base install runs the embedded pipeline; Kafka, Redis, HBase (and later Ray and the
web UI) come with extras (``pip install 'squall[kafka]'``). A module that needs one calls
:func:`require` at its top, so the package that needs the library is the only one that
imports it, and a user without it gets one sentence instead of a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import SquallError

__all__ = ["MissingExtraError", "require", "EXTRAS"]

EXTRAS: dict[str, str] = {
    "kafka": "the Kafka connector (KafkaSpout, KafkaBolt, --kafka)",
    "redis": "the Redis connector (--redis, --state-backend redis)",
    "hbase": "the HBase connector (--hbase)",
    "microbatch": "the micro-batch mode (squall.microbatch: streaming DataFrame queries on polars/Arrow batches)",
    "ui": "the UI server (squall.ui: Storm UI's REST API and Prometheus /metrics)",
    "ray": "the cluster runtime (squall.cluster: worker processes on Ray, --workers, squall submit)",
}
"""Each extra of ``pyproject.toml`` that a feature needs, and what it enables."""


class MissingExtraError(SquallError, ImportError):
    """A feature's optional dependency is not installed.

    Attributes:
        module: the module that failed to import (``"confluent_kafka"``).
        extra: the extra that installs it (``"kafka"``).
        feature: what needs it, in words.
    """

    def __init__(self, module: str, extra: str, feature: str) -> None:
        super().__init__(f"{feature} needs the Python package {module!r}, which is not installed: "
                         f"pip install 'squall[{extra}]'", name=module)
        self.module = module
        self.extra = extra
        self.feature = feature


def require(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` and return it, or raise :class:`MissingExtraError` naming ``extra``.

    Args:
        module: dotted module name.
        extra: the ``pyproject.toml`` extra that installs it; a key of :data:`EXTRAS`.
        feature: what needs it, for the message (default: :data:`EXTRAS`'s text).

    Raises:
        MissingExtraError: the module (or one it imports) is not installed. Chained to
            the original ``ModuleNotFoundError``.

    >>> require("json", "kafka").dumps([1])
    '[1]'
    >>> require("no_such_module_xyz", "kafka", "the thing")
    Traceback (most recent call last):
    ...
    squall.extras.MissingExtraError: the thing needs the Python package 'no_such_module_xyz', which is not installed: pip install 'squall[kafka]'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MissingExtraError(module, extra, feature or EXTRAS.get(extra, module)) from exc
