"""Collection rules for the whole checkout (the package's doctests included)."""

import importlib.util

# Without the `microbatch` extra its modules cannot be imported, so their doctests are
# left out (tests/microbatch skips, saying why). CI installs the extra.
if any(importlib.util.find_spec(m) is None for m in ("polars", "pyarrow")):
    collect_ignore_glob = ["squall/microbatch/*.py"]
