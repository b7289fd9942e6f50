"""Fire-and-forget queries: one-off statements over what named windows and tables hold
now (:meth:`squall.cep.engine.EPLEngine.execute_query`, ``squall epl query``).

* ``select ... from W [as w] [where ...] [group by ...] [having ...] [order by ...]
  [limit ...]``: the rows W (a named window or table) holds now, through the select list
  as a statement over a data window holding them would output them once (aggregates over
  all matching rows; a fully aggregated query gives one row even when nothing matches);
* ``delete from W [as w] [where ...]``: deletes the matching rows, returns them (none
  for a table, as Esper);
* ``update W [as w] set c = expr, ... [where ...]``: sets the columns of the matching
  rows (assignments in order), returns the new rows (none for a table).

A named window posts what a fire-and-forget delete or update changes to its listeners
and consumers, as ``on ... delete``/``on ... update`` do. Nothing is compiled into the
engine: the query runs once and is gone.

Semantics: Esper 8 reference, 17 "EPL Reference: Fire-and-Forget Queries" (Esper's
``EPFireAndForgetService.executeQuery``); verified against Esper 8.9 in
tests/cep/esper/test_esper_named_windows.py.
"""

from __future__ import annotations

import dataclasses

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError
from squall.cep.named_window import WindowStore, strip_alias
from squall.cep.on_action import apply_changes, compile_target, matches
from squall.cep.output import compile_shaper
from squall.cep.resultset import PROCESSORS
from squall.cep.select import compile_select_statement

__all__ = ["execute_query"]


def _store(catalog: dict, name: str, line, column):
    store = catalog.get(name)
    if store is None or store.owner is None:
        known = ", ".join(sorted(n for n, s in catalog.items() if s.owner is not None
                                 and s.kind in ("window", "table"))) or "none"
        raise EPLCompileError(f"A named window or table by name '{name}' does not exist (named "
                              f"windows and tables: {known})", line=line, column=column)
    return store


def execute_query(st, catalog: dict, declared_types: dict, ctx) -> list[dict]:
    """Run one fire-and-forget query (its AST, variables resolved) over ``catalog``.

    Returns:
        the result rows as dicts keyed by column (select), the deleted rows (delete) or
        the updated rows' new values (update).

    Raises:
        EPLCompileError: not a select/delete/update over one named window or table, an
            unknown window, table or column.
    """
    if isinstance(st, A.OnAction) and st.trigger is None:
        store = _store(catalog, st.target, st.line, st.column)
        target = compile_target(st, store, declared_types, ctx)
        new, _old = apply_changes(target, matches(target, None), None)
        # Esper returns the deleted or updated rows of a named window, none of a table
        return new if isinstance(store, WindowStore) else []
    if not isinstance(st, A.SelectStatement) or st.joins or not isinstance(st.stream, A.StreamDef) \
            or st.insert_into or st.into_table or st.output:
        raise EPLCompileError("A fire-and-forget query is 'select ... from <window or table>', "
                              "'delete from ...' or 'update ... set ...' over one named window or "
                              "table", line=getattr(st, "line", None), column=getattr(st, "column", None))
    stream = st.stream
    store = _store(catalog, stream.event_type, stream.line, stream.column)
    if stream.views:
        v = stream.views[0]
        raise EPLCompileError("A fire-and-forget query takes no data window", line=v.line,
                              column=v.column)
    plain = strip_alias(st, stream.alias)
    plain = dataclasses.replace(plain, stream=dataclasses.replace(
        stream, views=(A.View("keepall", ()),), alias=None))
    types = {k: v for k, v in declared_types.items() if k != store.name}
    if store.declared is not None:
        types[store.name] = store.declared
    plan = compile_select_statement(plain, types, ctx)
    rows = store.scan()   # Esper's fire-and-forget select iterates the data windows
    flt = plan.stream_filter
    if flt is not None:
        rows = [r for r in rows if flt(r)]
    if plan.where is not None:
        rows = [r for r in rows if plan.where(r)]
    rsp = PROCESSORS[plan.model](plan, True, False)
    out, _ = rsp.process(rows, [])
    if isinstance(store, WindowStore) and plan.wildcard:
        out = [dict(r) for r in out]
    shape = compile_shaper(plain, plan.columns, ctx)
    return shape(out) if shape is not None else out

