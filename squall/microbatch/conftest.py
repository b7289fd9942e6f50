"""Doctest collection of squall.microbatch: without the ``microbatch`` extra its modules
cannot be imported, so their doctests are left out; tests/microbatch skips with the reason."""

import importlib.util

if any(importlib.util.find_spec(m) is None for m in ("polars", "pyarrow")):
    collect_ignore_glob = ["*.py"]
