"""``on`` statements over a named window or table: ``on ... select``, ``on ... delete``,
``on ... update`` and ``on ... merge``, and the fire-and-forget ``delete``/``update``.

Each event of the triggering stream (after its filter, ``on Q(v > 0) as q``) is joined
with the rows the target holds now (a :class:`~squall.cep.named_window.WindowStore` or
:class:`~squall.cep.table.TableStore`): every row for which ``where`` holds is a match.
Expressions see the row through the target's alias (or name) and the event through the
trigger's alias (or type name): ``w.speed``, ``q.k``. An unqualified name is a column of
the target when the target's columns are known and include it, else a property of the
trigger.

What each statement does and outputs, per triggering event (as Esper 8.9):

=============================  ==========================================================
statement                      effect; output
=============================  ==========================================================
``on Q select ... from W``     none; the select list over the matches (aggregates over
                               this event's matches only; ``select *``: one column per
                               stream, ``stream_0`` the row, ``stream_1`` the event, or
                               their aliases); nothing when nothing matches,
                               except the row of a fully aggregated select list
``... select and delete ...``  as ``select``, then the matches are deleted
``on Q delete from W``         the matches leave the target; insert stream: the deleted rows
``on Q update W set c = e``    each match's columns set, assignments in order (a later one
                               sees the earlier ones' values); insert stream: the new rows,
                               remove stream: the old ones
``on Q merge W where ...``     per match, the first ``when matched [and cond]`` clause whose
``when [not] matched ...``     condition holds runs its actions (``then update set ...``,
                               ``then delete``, each with an optional ``where``); without
                               a match the first ``when not matched [and cond]`` clause
                               runs its ``then insert select ...`` (the event only is in
                               scope). Output: inserted and updated (new) rows as insert
                               stream, deleted and updated (old) rows as remove stream
=============================  ==========================================================

A named window posts the changes to its own listeners and consumers (deleted rows and
old values as remove stream, new values as insert stream); tables post nothing.

Semantics: Esper 8 reference, 6.2.4 "Triggered Select", 6.2.5 "Triggered Delete",
6.2.6 "Updating Named Windows", 6.2.7 "Triggered Upsert using the On-Merge Clause" and
6.3 for tables; verified against Esper 8.9 in tests/cep/esper/test_esper_named_windows.py
and test_esper_tables.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError
from squall.cep.expressions import Scope, compile_row_expr
from squall.cep.join import JoinRow
from squall.cep.output import compile_shaper
from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.resultset import PROCESSORS
from squall.cep.rows import rewrite
from squall.cep.select import compile_select_statement, stream_filter

__all__ = ["OnActionPlan", "compile_on_action", "resolve_names", "TargetPlan", "compile_target"]


@dataclass(frozen=True)
class TargetPlan:
    """The compiled parts of an ``on`` statement (or fire-and-forget query) over a target."""
    action: str
    store: Any
    aliases: tuple[str, ...]          # (target alias, trigger alias) or (target alias,)
    names: dict                       # property name -> (alias, property | None)
    where: Callable | None            # JoinRow -> bool | None
    rs: Any                           # select.StatementPlan over JoinRows (select only)
    shape: Callable | None            # order by of an on-select (squall.cep.output)
    assignments: tuple                # (column, JoinRow -> value)
    clauses: tuple                    # (matched, condition, ((kind, where, payload), ...))
    and_delete: bool = False


@dataclass(frozen=True)
class OnActionPlan:
    """A compiled ``on`` statement: the trigger type, its filter and the target plan."""
    event_type: str
    stream_filter: Any
    target: TargetPlan
    columns: tuple[str, ...]

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> "OnActionOperator":
        return OnActionOperator(stmt, self)


def resolve_names(exprs, target_alias: str, target_columns, trigger_alias: str | None,
                  trigger_declared) -> dict:
    """``{property name: (alias, property or None)}`` for every property in ``exprs``.

    Raises:
        EPLCompileError: an unqualified name that cannot be placed (neither the target's
            columns nor the trigger's properties are known).
    """
    names = {}
    aliases = {target_alias} | ({trigger_alias} if trigger_alias else set())
    for p in A.nodes_of(exprs, A.Property):
        head, dot, tail = p.name.partition(".")
        if dot and head in aliases:
            names[p.name] = (head, tail)
        elif p.name in aliases:
            names[p.name] = (p.name, None)
        elif target_columns is not None and p.name in target_columns:
            if trigger_declared is not None and p.name in trigger_declared:
                raise EPLCompileError(
                    f"Property named '{p.name}' is ambiguous as it is valid for more than one "
                    f"stream ({target_alias}, {trigger_alias}); qualify it", line=p.line,
                    column=p.column)
            names[p.name] = (target_alias, p.name)
        elif trigger_alias is None:
            names[p.name] = (target_alias, p.name)
        elif target_columns is not None or (trigger_declared is not None and p.name in trigger_declared):
            names[p.name] = (trigger_alias, p.name)
        else:
            raise EPLCompileError(
                f"Property '{p.name}' must be qualified with '{target_alias}.' or "
                f"'{trigger_alias}.' (the columns of '{target_alias}' are not known)",
                line=p.line, column=p.column)
    return names


def compile_target(st: A.OnAction, store, declared_types: dict, ctx) -> TargetPlan:
    """Compile the where clause, select list, assignments and merge clauses of ``st``
    against ``store`` (trigger None: a fire-and-forget ``delete``/``update``).

    Raises:
        EPLCompileError: an assignment to an unknown column or an aggregation column of a
            table, an ``insert into`` another stream in ``merge``, ...
    """
    ta = st.target_alias or st.target
    trigger = st.trigger
    tr = None if trigger is None else (trigger.alias or trigger.event_type)
    if tr is not None:
        st = dataclasses.replace(st, clauses=tuple(
            c if c.matched else _trigger_only(c, ta, tr) for c in st.clauses))
    aliases = (ta,) if tr is None else (ta, tr)
    exprs = [st.where, st.having, *(st.group_by or ()), *(a.expr for a in st.assignments)]
    exprs += [i.expr for i in st.items or ()]
    for c in st.clauses:
        exprs.append(c.condition)
        for a in c.actions:
            exprs += [a.where, *(x.expr for x in a.assignments), *(i.expr for i in a.items or ())]
    exprs = [e for e in exprs if e is not None]
    names = resolve_names(exprs, ta, store.columns, tr,
                          None if trigger is None else declared_types.get(trigger.event_type))
    scope = Scope(None, st.target, "where", None, ctx)

    def compile_cond(e):
        if e is None:
            return None
        f = compile_row_expr(e, scope)
        return lambda row: f(row) is True

    def compile_assignments(assignments):
        out = []
        for a in assignments:
            if store.columns is not None and a.name not in store.columns:
                raise EPLCompileError(f"Property '{a.name}' is not a column of '{st.target}'",
                                      line=a.line, column=a.column)
            if a.name in getattr(store, "aggregated", ()):
                raise EPLCompileError(f"Column '{a.name}' of table '{st.target}' is an aggregation "
                                      "column: it changes through 'into table' only",
                                      line=a.line, column=a.column)
            out.append((a.name, compile_row_expr(a.expr, scope)))
        return tuple(out)

    rs = None
    if st.action == "select":
        items = st.items
        if items is None:
            items = tuple(A.SelectItem(A.Property(alias), None if given else f"stream_{i}")
                          for i, (alias, given) in enumerate(
                              zip(aliases, (st.target_alias, trigger.alias if trigger else None))))
        synthetic = A.StreamDef("$on", (A.View("keepall", ()),))
        select = A.SelectStatement(items, synthetic, None, st.group_by, st.having,
                                   order_by=st.order_by)
        rs = compile_select_statement(select, {}, ctx)
        shape = compile_shaper(select, rs.columns, ctx)
    else:
        shape = None
    clauses = []
    for c in st.clauses:
        actions = []
        for a in c.actions:
            if a.kind == "insert":
                if a.insert_into is not None:
                    raise EPLCompileError("'then insert into <stream>' in 'on ... merge' is not "
                                          "supported yet; insert into the merged window or table",
                                          line=st.line, column=st.column)
                if not c.matched and any(names.get(p.name, (None,))[0] == ta
                                         for p in A.nodes_of(a.items, A.Property)):
                    raise EPLCompileError(
                        f"'when not matched' insert cannot refer to '{ta}': no row matched",
                        line=st.line, column=st.column)
                cols = tuple(i.alias or A.expr_text(i.expr) for i in a.items or ())
                if a.items is None:
                    raise EPLCompileError("'then insert select *' is not supported; name the "
                                          "columns", line=st.line, column=st.column)
                payload = tuple(zip(cols, (compile_row_expr(i.expr, scope) for i in a.items)))
            elif a.kind == "update":
                payload = compile_assignments(a.assignments)
            else:
                payload = None
            actions.append((a.kind, compile_cond(a.where), payload))
        clauses.append((c.matched, compile_cond(c.condition), tuple(actions)))
    return TargetPlan(st.action, store, aliases, names, compile_cond(st.where), rs, shape,
                      compile_assignments(st.assignments), tuple(clauses), st.and_delete)


def _trigger_only(clause: A.MergeClause, ta: str, tr: str) -> A.MergeClause:
    """A ``when not matched`` clause with its unqualified names qualified by the trigger:
    no row matched, so only the triggering event is in scope."""
    def fix(node):
        if isinstance(node, A.SelectItem) and node.alias is None:
            return A.SelectItem(rewrite(node.expr, fix, keep=()), A.expr_text(node.expr))  # keeps its name
        if isinstance(node, A.Property):
            head = node.name.split(".", 1)[0]
            if head in (ta, tr):
                return node
            return A.Property(f"{tr}.{node.name}", node.line, node.column)
        return None
    return rewrite(clause, fix, keep=())


def compile_on_action(st: A.OnAction, declared_types: dict, ctx, catalog: dict) -> OnActionPlan:
    """Validate an ``on ... select/delete/update/merge`` statement.

    Raises:
        EPLCompileError: an unknown named window or table, a data window on the trigger,
            and see :func:`compile_target`.
    """
    store = catalog.get(st.target)
    if store is None:
        raise EPLCompileError(f"A named window or table by name '{st.target}' does not exist",
                              line=st.line, column=st.column)
    trigger = st.trigger
    if isinstance(trigger, A.PatternStream):
        raise EPLCompileError("'on pattern[...]' is not supported yet; trigger on an event type",
                              line=trigger.line, column=trigger.column)
    if trigger.views or trigger.unidirectional:
        raise EPLCompileError("The triggering stream of an 'on' statement takes no data window",
                              line=trigger.line, column=trigger.column)
    target = compile_target(st, store, declared_types, ctx)
    if st.action == "select":
        columns = target.rs.columns
    elif st.action in ("delete", "update", "merge"):
        columns = store.columns or ()
    return OnActionPlan(trigger.event_type,
                        stream_filter(trigger, declared_types.get(trigger.event_type), ctx),
                        target, columns)


def matches(target: TargetPlan, trigger_event) -> list[JoinRow]:
    """The target's rows joined with ``trigger_event`` (None: no trigger) that pass
    ``where``, as JoinRows, in the target's row order."""
    aliases, names, where = target.aliases, target.names, target.where
    out = []
    # As Esper 8.9: a select iterates the data windows (a batch window's current batch),
    # a delete/update/merge searches every row the window holds.
    for row in (target.store.scan() if target.action == "select" else target.store.contents()):
        jr = JoinRow(zip(aliases, (row, trigger_event)))
        jr.names = names
        if where is None or where(jr):
            out.append(jr)
    return out


def apply_changes(target: TargetPlan, rows: list[JoinRow], trigger_event,
                  report: Callable[[Any, str], None] | None = None) -> tuple[list, list]:
    """Run a delete, update or merge over the matched ``rows``; returns the (insert,
    remove) output rows.

    A row a merge cannot insert (a table row whose primary key exists) goes to
    ``report(row, reason)`` and is skipped.

    Raises:
        KeyError: that case, without ``report``.
    """
    store, ta = target.store, target.aliases[0]
    new, old = [], []
    deletes, updates = [], []
    if target.action == "delete":
        deletes = [r[ta] for r in rows]
        new = [dict(r[ta]) for r in rows]
    elif target.action == "update":
        updates = [(r[ta], _assign(target.assignments, r, ta)) for r in rows]
    elif target.action == "merge":
        inserts = []
        if rows:
            for r in rows:
                clause = _first_clause(target.clauses, True, r)
                if clause is None:
                    continue
                for kind, where, payload in clause:
                    if where is not None and not where(r):
                        continue
                    if kind == "update":
                        updates.append((r[ta], _assign(payload, r, ta)))
                    elif kind == "delete":
                        deletes.append(r[ta])
        else:
            jr = JoinRow(zip(target.aliases, (None, trigger_event)))
            jr.names = target.names
            clause = _first_clause(target.clauses, False, jr)
            for kind, where, payload in clause or ():
                if kind == "insert" and (where is None or where(jr)):
                    inserts.append({c: f(jr) for c, f in payload})
        for row in inserts:
            try:
                store.insert(row)
            except KeyError as exc:
                if report is None:
                    raise
                report(row, f"{exc.args[0]}; the row was not inserted")
                continue
            new.append(dict(row))
        old = [dict(d) for d in deletes]
    if deletes or updates:
        pairs = store.change(deletes, updates)
        new += [after for _before, after in pairs]
        old += [before for before, _after in pairs]
    return new, old


def _first_clause(clauses, matched: bool, row):
    for is_matched, cond, actions in clauses:
        if is_matched == matched and (cond is None or cond(row)):
            return actions
    return None


def _assign(assignments, row: JoinRow, ta: str) -> dict:
    """The new column values of one matched row: assignments in order, each seeing the
    values assigned before it."""
    current = dict(row[ta])
    view = JoinRow(row)
    view.names = row.names
    view[ta] = current
    changes = {}
    for col, f in assignments:
        v = f(view)
        current[col] = v
        changes[col] = v
    return changes


class OnActionOperator(Operator):
    """Runs an ``on`` statement (see the module docs)."""

    def __init__(self, stmt: StatementHost, plan: OnActionPlan) -> None:
        self.stmt = stmt
        self.plan = plan
        self.target = plan.target
        self.stopped = False

    def on_events(self, events) -> None:
        flt = self.plan.stream_filter
        target = self.target
        for ev in events:
            if self.stopped:
                return
            if flt is not None and not flt(ev):
                continue
            self.stmt.events_in += 1
            rows = matches(target, ev)
            if target.action == "select":
                rs = target.rs
                if not rows and rs.model != "fully_aggregated":
                    continue   # Esper: a fully aggregated on-select outputs its row anyway
                rsp = PROCESSORS[rs.model](rs, True, False)
                out, _ = rsp.process(rows, [])
                if target.shape is not None:
                    out = target.shape(out)
                if target.and_delete:
                    target.store.change([r[target.aliases[0]] for r in rows], [])
                self.stmt.emit(out, None)
                continue
            new, old = apply_changes(target, rows, ev, self.stmt.report_error)
            if new or old:
                self.stmt.emit_streams(new, old, None)

    def stop(self) -> None:
        self.stopped = True

    def schedule_owners(self) -> dict:
        return {}

    def snapshot_state(self, events) -> None:
        return None

    def restore_state(self, state, events: list) -> None:
        pass
