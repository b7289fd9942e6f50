"""What the smart-car benchmarks share: reading stores back and per-component figures."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_REPLAY", "speeding_sets", "table_rows", "component_figures", "print_components"]

_REPO = Path(__file__).resolve().parents[1]
_FULL_SET = _REPO.parent / "shared" / "data" / "carobd"

DEFAULT_REPLAY = _FULL_SET if _FULL_SET.is_dir() else _REPO / "examples" / "smartcar" / "data"
"""The team's 117 carOBD trips beside the repository when present, else the six shipped ones."""


def speeding_sets(kv_store) -> dict[str, list[str]]:
    """Every set of a key-value store (a configuration; opened and closed here), sorted."""
    with kv_store.open() as kv:
        return {k: sorted(kv.smembers(k)) for k in sorted(kv.keys("*"))}


def table_rows(table_store, name: str) -> int:
    """Rows of table ``name`` in a table store (a configuration; opened and closed here), 0 if absent."""
    with table_store.open() as tables:
        return tables.open_table(name).count() if name in tables.tables() else 0


def component_figures(stats, elapsed_s: float) -> dict[str, dict]:
    """Per component: tuples executed, mean execute time, busy seconds and share of the run."""
    out = {}
    for name, st in stats.items():
        busy = (st.execute_latency_ms or 0.0) * st.executed / 1000.0
        out[name] = {"executed": st.executed, "execute_us": round((st.execute_latency_ms or 0.0) * 1000, 2),
                     "busy_s": round(busy, 3), "busy_share": round(busy / elapsed_s, 3),
                     "failed": st.failed, "errors": st.last_errors[-3:]}
    return out


def print_components(run: dict, rest_label: str) -> None:
    """One line per component, then what the components do not account for."""
    for name, c in run["components"].items():
        print(f"    {name:<11} {c['executed']:>9,} executed  {c['execute_us']:>8.2f} us each  "
              f"{c['busy_s']:6.2f} s  {100 * c['busy_share']:5.1f}%")
    rest = run["elapsed_s"] - sum(c["busy_s"] for c in run["components"].values())
    print(f"    {'(other)':<11} {'':>9}           {'':>8}            {rest:6.2f} s  "
          f"{100 * rest / run['elapsed_s']:5.1f}%   {rest_label}")
