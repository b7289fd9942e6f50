"""Hashing that agrees across processes: what fields groupings and state redistribution
route keys by, so that a key reaches the same task in every worker and after a restart.

A module of its own, below both: groupings (``squall.grouping``) and the state layer
(``squall.state.redistribute``) use it without importing each other.
"""

from __future__ import annotations

import zlib
from typing import Any

__all__ = ["stable_hash"]


def stable_hash(key: Any, seed: int = 0) -> int:
    """A 32-bit hash of ``key`` that is the same in every process (unlike ``hash``).

    >>> stable_hash("car-7") == stable_hash("car-7")
    True
    """
    if isinstance(key, str):
        data = key.encode("utf-8", "surrogatepass")
    elif isinstance(key, bytes):
        data = key
    else:
        data = repr(key).encode("utf-8", "surrogatepass")
    return zlib.crc32(data, seed)
