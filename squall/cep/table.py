"""Tables: ``create table``, ``into table``, table access expressions, and inserting rows.

A table holds one row per primary key (Esper 8 reference, 6.3 "Table Usage"):
``create table T (carNumber string primary key, total sum(double), cnt count(*))``
declares key columns, plain columns (``name type``) and aggregation columns
(``name agg(type)``, any function of :mod:`squall.cep.aggregates`, ``count(*)``). A table
without a primary key holds a single row.

* ``into table T select sum(speed) as total, count(*) as cnt from Car[#window] group by
  carNumber``: each event updates the aggregation columns named by the aliases in the
  row of its group-by key (created when missing; the group by gives the primary key,
  in order); events leaving the statement's data window leave the aggregations. The
  statement outputs, per event (or window post), one row per key it touched, its select
  list read from the table after the change (insert stream only).
* ``T[key, ...].column`` (``T.column`` for a table without primary key) reads a column of
  a row anywhere a single-stream statement reads a property: null when no row has that
  key. ``T[key]`` without column is the row as a dict.
* ``insert into T select ...`` and ``on ... merge ... then insert`` add rows (a key that
  exists is reported and the row skipped); ``on ... update`` sets plain columns;
  ``on ... delete`` and ``on ... merge ... then delete`` remove rows
  (:mod:`squall.cep.on_action`).
* Rows are read by ``on ... select`` and fire-and-forget queries in insertion order of
  their keys. The ``create table`` statement outputs nothing (as Esper's).

Semantics: Esper 8 reference, 6.3 "Table Usage" (6.3.1 "Creating Tables", 6.3.2
"Aggregating Into Table Rows", 6.3.3 "Table Column Keyed-Access Expressions"); verified
against Esper 8.9 in tests/cep/esper/test_esper_tables.py. Not supported: selecting from
a table as a stream (Esper compiles it and outputs nothing), tables in joins and
patterns, ``create table`` column types other than those of ``create window``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from squall.cep import ast as A
from squall.cep.aggregates import AggSpec, build_aggs
from squall.cep.errors import EPLCompileError
from squall.cep.expressions import Scope, compile_row_expr
from squall.cep.named_window import COLUMN_TYPES
from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.rows import AccessOperator, WrappedPlan, rewrite
from squall.cep.select import compile_select_statement
from squall.cep.snapshot import EventTable
from squall.cep.views import GroupWin, TimerHost, make_window_set

__all__ = ["TableStore", "RowView", "CreateTablePlan", "IntoTablePlan", "TableAccessPlan",
           "compile_create_table", "compile_into_table", "compile_table_access", "uses_tables",
           "refuse_table_stream"]


class RowView(dict):
    """A table row as a dict of its columns' current values; ``key`` names the row."""

    __slots__ = ("key",)


class _Row:
    __slots__ = ("values", "accs")

    def __init__(self, values: dict, accs: dict) -> None:
        self.values = values
        self.accs = accs


def _agg_spec(col: A.TableColumn, get=None) -> AggSpec:
    star = col.type_name is None
    return build_aggs([(col.aggregate, col.distinct, None if star else (get or (lambda ev: None)),
                        None, star)], retract=True)


class TableStore:
    """The rows of one table (see the module docs).

    Attributes:
        name: the table's name.
        columns: column names in declaration order; ``keys`` the primary key columns;
            ``aggregated`` the aggregation columns; ``declared`` column -> Python type.
        rows: primary key tuple -> row, in insertion order.
        owner: the ``create table`` statement's operator while it runs, else None.
    """

    kind = "table"

    def __init__(self, name: str, columns: tuple[A.TableColumn, ...]) -> None:
        self.name = name
        self.spec_columns = {c.name: c for c in columns}
        self.columns = tuple(c.name for c in columns)
        self.keys = tuple(c.name for c in columns if c.primary_key)
        self.aggregated = frozenset(c.name for c in columns if c.aggregate)
        self.declared = {c.name: (object if c.aggregate else COLUMN_TYPES[c.type_name.lower()])
                         for c in columns}
        self._specs = {c.name: _agg_spec(c) for c in columns if c.aggregate}
        self.rows: dict[tuple, _Row] = {}
        self.owner = None

    def row(self, key: tuple) -> _Row:
        """The row of ``key``, created (plain columns null, aggregations empty) when missing."""
        r = self.rows.get(key)
        if r is None:
            values = dict(zip(self.keys, key))
            r = self.rows[key] = _Row(values, {c: s.new_acc(None) for c, s in self._specs.items()})
        return r

    def value(self, r: _Row, column: str):
        spec = self._specs.get(column)
        if spec is None:
            return r.values.get(column)
        return spec.values(r.accs[column])[0]

    def view(self, key: tuple, r: _Row) -> RowView:
        out = RowView((c, self.value(r, c)) for c in self.columns)
        out.key = key
        return out

    def lookup(self, key: tuple, column: str | None):
        r = self.rows.get(key)
        if r is None:
            return None
        return self.view(key, r) if column is None else self.value(r, column)

    # -- the store interface of squall.cep.on_action

    def contents(self) -> list[RowView]:
        return [self.view(k, r) for k, r in self.rows.items()]

    scan = contents

    def insert(self, row: dict) -> None:
        key = tuple(row.get(k) for k in self.keys)
        if key in self.rows:
            raise KeyError(f"Unique index violation: table '{self.name}' already has a row with "
                           f"primary key {key if len(key) != 1 else key[0]!r}")
        r = self.row(key)
        for c in self.columns:
            if c not in self.aggregated and c not in self.keys:
                r.values[c] = row.get(c)

    def change(self, deletes: list, updates: list) -> list[tuple[dict, dict]]:
        for v in deletes:
            self.rows.pop(v.key, None)
        pairs = []
        for v, changes in updates:
            r = self.rows.get(v.key)
            if r is None:
                continue
            before = dict(self.view(v.key, r))
            r.values.update(changes)
            key = tuple(r.values.get(k) for k in self.keys)
            if key != v.key:
                del self.rows[v.key]
                self.rows[key] = r
            pairs.append((before, dict(self.view(key, r))))
        return pairs

    # -- snapshots

    def dump(self) -> list:
        return [[list(k), r.values, {c: self._specs[c].dump(a) for c, a in r.accs.items()}]
                for k, r in self.rows.items()]

    def load(self, data) -> None:
        self.rows = {}
        for k, values, accs in data:
            self.rows[tuple(k)] = _Row(dict(values), {c: self._specs[c].load(None, a)
                                                      for c, a in accs.items()})


# ------------------------------------------------------------------ create table

@dataclass(frozen=True)
class CreateTablePlan:
    store: TableStore
    event_type: str
    columns: tuple[str, ...] = ()

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> "CreateTableOperator":
        return CreateTableOperator(stmt, self)


def compile_create_table(st: A.CreateTable, ctx, catalog: dict) -> CreateTablePlan:
    """Validate ``create table`` and add the table to ``catalog``.

    Raises:
        EPLCompileError: a window or table of that name exists, a duplicate column, an
            unknown type or aggregation function, a primary key on an aggregation column.
    """
    if st.name in catalog:
        raise EPLCompileError(f"A named window or table by name '{st.name}' has already been "
                              "created", line=st.line, column=st.column)
    seen = set()
    for c in st.columns:
        if c.name in seen:
            raise EPLCompileError(f"Column '{c.name}' is declared twice", line=c.line, column=c.column)
        seen.add(c.name)
        if c.aggregate is not None:
            if c.aggregate not in A.AGGREGATE_FUNCTIONS:
                raise EPLCompileError(f"Unknown aggregation function '{c.aggregate}' for column "
                                      f"'{c.name}'", line=c.line, column=c.column)
            if c.primary_key:
                raise EPLCompileError(f"Column '{c.name}' is an aggregation and cannot be a "
                                      "primary key", line=c.line, column=c.column)
            if c.type_name is not None and c.type_name.lower() not in COLUMN_TYPES:
                raise EPLCompileError(f"Unknown type '{c.type_name}' of column '{c.name}'",
                                      line=c.line, column=c.column)
        elif c.type_name.lower() not in COLUMN_TYPES:
            raise EPLCompileError(f"Unknown type '{c.type_name}' of column '{c.name}' (use one of "
                                  f"{', '.join(sorted(COLUMN_TYPES))})", line=c.line, column=c.column)
    store = TableStore(st.name, st.columns)
    catalog[st.name] = store
    return CreateTablePlan(store, st.name)


class CreateTableOperator(Operator):
    """Runs a table: holds its rows (for snapshots) and takes ``insert into T`` rows."""

    def __init__(self, stmt: StatementHost, plan: CreateTablePlan) -> None:
        self.stmt = stmt
        self.store = plan.store
        self.stopped = False
        plan.store.owner = self

    def on_events(self, events) -> None:
        for ev in events:
            self.stmt.events_in += 1
            try:
                self.store.insert(ev)
            except KeyError as exc:
                self.stmt.report_error(ev, f"{exc.args[0]}; the row was not inserted")

    def stop(self) -> None:
        self.stopped = True
        if self.store.owner is self:
            self.store.owner = None

    def schedule_owners(self) -> dict:
        return {}

    def snapshot_state(self, events: EventTable):
        return {"rows": self.store.dump()}

    def restore_state(self, state, events: list) -> None:
        self.store.load(state["rows"])


# ------------------------------------------------------------------ into table

@dataclass(frozen=True)
class IntoTablePlan:
    """A compiled ``into table``: the statement's data windows and result-set plan, and
    per aggregation column its updater."""
    store: TableStore
    rs: Any                         # select.StatementPlan (select list, where, view)
    key: Callable                   # event -> primary key tuple
    updaters: tuple                 # (column, AggSpec with this statement's argument)
    agg_columns: tuple              # column of each of rs's aggregate values, in order

    @property
    def columns(self) -> tuple[str, ...]:
        return self.rs.columns

    @property
    def event_type(self) -> str:
        return self.rs.event_type

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> "IntoTableOperator":
        return IntoTableOperator(stmt, self, engine)


def _aggregates_in_order(st: A.SelectStatement) -> list[A.Aggregate]:
    """The statement's aggregates, deduplicated in the order the select compiler numbers
    them (squall.cep.select.compile_select_statement)."""
    aggs: list[A.Aggregate] = []
    for e in [i.expr for i in st.items or ()] + ([st.having] if st.having is not None else []):
        for a in A.nodes_of(e, A.Aggregate):
            if a not in aggs:
                aggs.append(a)
    return aggs


def compile_into_table(st: A.SelectStatement, declared_types: dict, ctx, catalog: dict) -> IntoTablePlan:
    """Validate ``into table T select ...``.

    Raises:
        EPLCompileError: an unknown table, a group by that does not give the primary key,
            an aggregate that is not an aliased aggregation column of the same function.
    """
    store = catalog.get(st.into_table)
    if not isinstance(store, TableStore):
        raise EPLCompileError(f"A table by name '{st.into_table}' does not exist",
                              line=st.stream.line, column=st.stream.column)
    if st.joins or not isinstance(st.stream, A.StreamDef) or st.insert_into or st.output:
        raise EPLCompileError("'into table' is supported on a single-stream select without "
                              "'insert into' or an output clause", line=st.stream.line,
                              column=st.stream.column)
    if len(st.group_by) != len(store.keys):
        raise EPLCompileError(
            f"The group by clause of 'into table {store.name}' must give its primary key "
            f"({', '.join(store.keys) or 'none'}) in order, got {len(st.group_by)} expression(s)",
            line=st.stream.line, column=st.stream.column)
    declared = declared_types.get(st.stream.event_type)
    scope = Scope(declared, st.stream.event_type, "into-table", None, ctx)
    getters = tuple(compile_row_expr(g, scope) for g in st.group_by)
    key = lambda ev: tuple([g(ev) for g in getters])  # noqa: E731
    by_agg = {}
    for item in st.items or ():
        if isinstance(item.expr, A.Aggregate):
            by_agg.setdefault(item.expr, item.alias)
    updaters, agg_columns = [], []
    for agg in _aggregates_in_order(st):
        col = by_agg.get(agg)
        spec_col = store.spec_columns.get(col) if col else None
        if spec_col is None or spec_col.aggregate != agg.func or spec_col.distinct != agg.distinct:
            raise EPLCompileError(
                f"Aggregation '{A.expr_text(agg)}' must be selected with the name of an "
                f"aggregation column of table '{store.name}' of the same function "
                f"('{A.expr_text(agg)} as <column>'; columns: "
                f"{', '.join(sorted(store.aggregated)) or 'none'})", line=agg.line, column=agg.column)
        if (agg.arg is None) != (spec_col.type_name is None):
            raise EPLCompileError(f"Column '{col}' of table '{store.name}' takes "
                                  f"'{spec_col.aggregate}({'*' if spec_col.type_name is None else spec_col.type_name})'",
                                  line=agg.line, column=agg.column)
        get = None if agg.arg is None else compile_row_expr(agg.arg, scope)
        updaters.append((col, _agg_spec(spec_col, get)))
        agg_columns.append(col)
    plain = dataclasses.replace(st, into_table=None)
    rs = compile_select_statement(plain, declared_types, ctx)
    return IntoTablePlan(store, rs, key, tuple(updaters), tuple(agg_columns))


class IntoTableOperator(TimerHost, Operator):
    """Runs ``into table`` (see the module docs)."""

    def __init__(self, stmt: StatementHost, plan: IntoTablePlan, engine: EngineHost) -> None:
        self.stmt = stmt
        self.engine = engine
        self.plan = plan
        self.stopped = False
        self._init_timers()
        view = plan.rs.view
        if view.groupwin is not None:
            self.windows = GroupWin(view.groupwin, view.windows, self)
        else:
            self.windows = make_window_set(view.windows, self, ())

    def on_events(self, events) -> None:
        self.stmt.events_in += len(events)
        flt = self.plan.rs.stream_filter
        insert = self.windows.insert
        for ev in events:
            if flt is None or flt(ev):
                insert(ev)

    def on_due(self, now: int) -> None:
        waiting = self._due.pop(now, None)
        if self.stopped or not waiting:
            return
        waiting.sort(key=lambda o: o.slot)
        for obj in waiting:
            obj.on_timer(now)

    def post(self, new, old, window) -> None:
        plan, store = self.plan, self.plan.store
        where = plan.rs.where
        if where is not None:
            new = [e for e in new if where(e)]
            old = [e for e in old if where(e)]
        if not new and not old:
            return
        touched: dict = {}
        for ev in new:
            k = plan.key(ev)
            r = store.row(k)
            for col, spec in plan.updaters:
                spec.update(r.accs[col], ev)
            touched[k] = ev
        for ev in old:
            k = plan.key(ev)
            r = store.row(k)
            for col, spec in plan.updaters:
                spec.leave(r.accs[col], ev)
            touched.setdefault(k, ev)
        rs = plan.rs
        having = rs.having
        out = []
        for k, ev in touched.items():
            r = store.rows.get(k)
            av = [None if r is None else store.value(r, c) for c in plan.agg_columns]
            if having is None or having(ev, av):
                out.append({c: f(ev, av) for c, f in zip(rs.columns, rs.select)})
        if out:
            self.stmt.emit(out, window)

    def stop(self) -> None:
        self.stopped = True

    def schedule_owners(self) -> dict:
        return {("into",): self}

    def snapshot_state(self, events: EventTable):
        return {"windows": self.windows.dump(events)}

    def restore_state(self, state, events: list) -> None:
        self.windows.load(state["windows"], events)
        self._due = {}
        for obj in self._timed:
            if getattr(obj, "scheduled", None) is not None:
                self._due.setdefault(obj.scheduled, []).append(obj)


def refuse_table_stream(st: A.SelectStatement, store: TableStore) -> None:
    """A table named as a statement's stream (``select * from T``): not supported.

    Raises:
        EPLCompileError: always, saying how to read the table instead.
    """
    raise EPLCompileError(
        f"Selecting from table '{store.name}' as a stream is not supported: read it with "
        f"'on <event> select ... from {store.name}', a table access expression "
        f"({store.name}[key].column) or a fire-and-forget query",
        line=st.stream.line, column=st.stream.column)


# ------------------------------------------------------------------ table access

def _table_of(node, catalog: dict, streams: set) -> TableStore | None:
    if isinstance(node, A.TableAccess):
        return catalog.get(node.table) if isinstance(catalog.get(node.table), TableStore) else None
    if isinstance(node, A.Property) and "." in node.name:
        head = node.name.split(".", 1)[0]
        store = catalog.get(head)
        if isinstance(store, TableStore) and not store.keys and head not in streams:
            return store
    return None


def uses_tables(st: A.SelectStatement, catalog: dict) -> bool:
    """Whether ``st`` reads a table through an access expression."""
    if not any(isinstance(s, TableStore) for s in catalog.values()):
        return any(isinstance(n, A.TableAccess) for n in A.walk(st))
    streams = {getattr(s, "alias", None) or getattr(s, "event_type", None)
               for s in (st.stream, *st.joins)}
    return any(_table_of(n, catalog, streams) is not None or isinstance(n, A.TableAccess)
               for n in A.walk(st))


@dataclass(frozen=True)
class TableAccessPlan(WrappedPlan):
    """A single-stream statement that reads tables: the statement compiled with each
    access expression as a synthetic property, and the accessors answering them."""
    inner: Any
    access: dict

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> "TableAccessOperator":
        return TableAccessOperator(stmt, self, engine)


def compile_table_access(st: A.SelectStatement, declared_types: dict, ctx, catalog: dict,
                         compile_statement: Callable) -> TableAccessPlan:
    """Compile a statement with table access expressions (``T[k].c``, ``T.c``).

    ``compile_statement`` compiles the rewritten statement (the dispatcher's own).

    Raises:
        EPLCompileError: an unknown table or column, a wrong number of keys, a join or
            pattern that reads a table.
    """
    if st.joins or not isinstance(st.stream, A.StreamDef):
        raise EPLCompileError("Table access expressions are supported in single-stream "
                              "statements only", line=st.stream.line, column=st.stream.column)
    tn = st.stream.event_type
    declared = declared_types.get(tn)
    scope = Scope(declared, tn, "table-access", None, ctx)
    streams = {st.stream.alias or tn}
    access: dict[str, Callable] = {}
    types: dict[str, type] = {}
    by_node: dict = {}

    def accessor(store: TableStore, getters, column):
        def read(ev):
            return store.lookup(tuple([g(ev) for g in getters]), column)
        return read

    def replace(node):
        store = _table_of(node, catalog, streams)
        if isinstance(node, A.TableAccess) and store is None:
            raise EPLCompileError(f"A table by name '{node.table}' does not exist",
                                  line=node.line, column=node.column_pos)
        if store is not None:
            if isinstance(node, A.Property):
                keys, column, line, col = (), node.name.split(".", 1)[1], node.line, node.column
            else:
                keys, column, line, col = node.keys, node.column, node.line, node.column_pos
            if len(keys) != len(store.keys):
                raise EPLCompileError(f"Table '{store.name}' has {len(store.keys)} primary key "
                                      f"column(s), the access gives {len(keys)}", line=line, column=col)
            if column is not None and column not in store.columns:
                raise EPLCompileError(f"Column '{column}' is not a column of table '{store.name}' "
                                      f"(columns: {', '.join(store.columns)})", line=line, column=col)
            name = by_node.get(node)
            if name is None:
                name = by_node[node] = f"${store.name}[{len(by_node)}]"
                access[name] = accessor(store, tuple(compile_row_expr(rewrite(k, replace), scope)
                                                     for k in keys), column)
                types[name] = object if column is None else store.declared[column]
            return A.Property(name, line, col)
        return None

    rewritten = rewrite(st, replace)
    inner_types = dict(declared_types)
    if declared is not None:
        inner_types[tn] = {**declared, **types}
    inner = compile_statement(rewritten, inner_types, ctx, catalog)
    return TableAccessPlan(inner, access)


class TableAccessOperator(AccessOperator):
    """Wraps the statement's operator: each event enters as a
    :class:`squall.cep.rows.AccessRow` answering the table accesses."""
