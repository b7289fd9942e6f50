"""Collection rules for the whole checkout (the package's doctests included)."""

import importlib.util

# A package of an extra cannot be imported without it, so its doctests are left out
# (its tests skip, saying why). CI installs every extra. squall/cluster has no entry:
# it imports ray only inside the functions that start Ray, so its modules import without it.
_EXTRA_PACKAGES = {
    "squall/microbatch/*.py": ("polars", "pyarrow", "sqlglot"),
    "examples/smartcar/microbatch.py": ("polars", "pyarrow"),
    "examples/microbatch/*.py": ("polars", "pyarrow"),
    "squall/ui/*.py": ("fastapi", "uvicorn", "prometheus_client"),
}
collect_ignore_glob = [glob for glob, modules in _EXTRA_PACKAGES.items()
                       if any(importlib.util.find_spec(m) is None for m in modules)]
