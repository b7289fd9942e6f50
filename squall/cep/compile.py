"""The statement compiler's dispatcher: statement AST -> plan, by statement kind.

=========================  =========================================================
statement                  compiled by
=========================  =========================================================
``create variable``        :func:`squall.cep.variables.compile_create_variable`
``on ... set``             :func:`squall.cep.variables.compile_on_set`
``pattern [...]``          :func:`squall.cep.pattern.compile_pattern_statement`
a join (several streams)   :func:`squall.cep.join.compile_join_statement`
``match_recognize (...)``  :func:`squall.cep.match_recognize_compile.compile_match_recognize_statement`
``create window``          :func:`squall.cep.named_window.compile_create_window`
a select from a window     :func:`squall.cep.named_window.compile_consumer`
``create table``           :func:`squall.cep.table.compile_create_table`
``into table ... select``  :func:`squall.cep.table.compile_into_table`
``create schema``          :func:`squall.cep.schema.compile_create_schema`
``create context``         :func:`squall.cep.context_compile.compile_create_context`
``context C select ...``   :func:`squall.cep.context_compile.compile_context_statement`
a select with subqueries   :func:`squall.cep.subquery.compile_subquery_statement`
a select with ``T[k].c``   :func:`squall.cep.table.compile_table_access`
``on ... select/delete/    :func:`squall.cep.on_action.compile_on_action`
update/merge``
a select over one stream   :func:`squall.cep.select.compile_select_statement`
=========================  =========================================================

Named windows and tables are looked up in ``catalog`` (name -> store), which the
``create window`` / ``create table`` compilers fill.

Layers: :mod:`squall.cep.expressions` (expressions, scopes) <- the statement compilers
(select, join, pattern, variables) <- this module <- :mod:`squall.cep.engine`, which
builds each plan's operator (:mod:`squall.cep.operators`). Nothing here imports the
engine.
"""

from __future__ import annotations

import dataclasses
from typing import Union

from squall.cep import ast as A
from squall.cep.aggregates import AggSpec
from squall.cep.expressions import column_name
from squall.cep.join import JoinPlan, compile_join_statement
from squall.cep.matching import EvalContext
from squall.cep.match_recognize_compile import MatchRecognizePlan, compile_match_recognize_statement
from squall.cep.pattern import PatternPlan, compile_pattern_statement
from squall.cep.rate import RatedPlan, compile_output
from squall.cep.select import MODELS, OutputModel, StatementPlan, compile_select_statement
from squall.cep.variables import (CreateVariablePlan, OnSetPlan, compile_create_variable,
                                  compile_on_set, resolve_variables)
from squall.cep.named_window import (ConsumerPlan, CreateWindowPlan, WindowStore,
                                     compile_consumer, compile_create_window)
from squall.cep.on_action import OnActionPlan, compile_on_action
from squall.cep.context import ContextPlan, CreateContextPlan
from squall.cep.context_compile import compile_context_statement, compile_create_context
from squall.cep.plugins import apply_plugin_aggregates
from squall.cep.schema import CreateSchemaPlan, compile_create_schema
from squall.cep.subquery import SubqueryPlan, compile_subquery_statement, uses_subqueries
from squall.cep.table import (CreateTablePlan, IntoTablePlan, TableAccessPlan, TableStore,
                              compile_create_table, compile_into_table, compile_table_access,
                              refuse_table_stream, uses_tables)

__all__ = ["StatementPlan", "AggSpec", "Plan", "compile_statement", "splits_streams", "column_name", "MODELS",
           "OutputModel"]

#: What :func:`compile_statement` returns; each plan kind builds its operator
#: (:func:`squall.cep.operators.make_operator`).
Plan = Union[StatementPlan, JoinPlan, PatternPlan, CreateVariablePlan, OnSetPlan,
             CreateWindowPlan, ConsumerPlan, CreateTablePlan, IntoTablePlan, TableAccessPlan,
             OnActionPlan, MatchRecognizePlan, SubqueryPlan, CreateContextPlan, ContextPlan,
             CreateSchemaPlan]


def splits_streams(st) -> bool:
    """Whether ``insert into`` receives other streams than the listeners: ``insert rstream
    into`` / ``insert irstream into`` (except ``insert rstream into ... select rstream``),
    or ``insert into ... select rstream`` (Esper 8.9, verified: the listeners get the
    remove stream, the inserted stream the insert stream). False for other statements
    (an ``on ... insert into`` has its own rules)."""
    if not isinstance(st, A.SelectStatement) or st.insert_into is None:
        return False
    ins, sel = st.insert_selector, st.stream_selector
    return (ins == "istream" and sel == "rstream") or (ins == "rstream" and sel != "rstream") \
        or ins == "irstream"


def compile_statement(st: A.SelectStatement | A.CreateVariable | A.OnSet, declared_types: dict[str, dict[str, type]],
                      ctx: EvalContext | None = None, catalog: dict | None = None) -> Plan:
    """Validate a statement and build its plan (see the module docs for who compiles
    which kind).

    ``ctx`` is the statement's evaluation context (pattern limits, error path; see
    :mod:`squall.cep.matching`); the engine passes its own, a fresh one reports nowhere.
    Names in ``ctx.variables`` are read as variables. ``catalog`` holds the named windows
    and tables (name -> :class:`~squall.cep.named_window.WindowStore` /
    :class:`~squall.cep.table.TableStore`); ``create window``/``create table`` add to it.

    Raises:
        EPLCompileError: unknown property of a declared type, type mismatch
            (:mod:`squall.cep.typecheck`), misplaced or nested aggregate, unsupported view
            or stream selector, ...
    """
    if ctx is None:
        ctx = EvalContext()
    return _compiled_output(_compile_statement(st, declared_types, ctx, catalog), ctx)


def _compiled_output(plan: Plan, ctx: EvalContext) -> Plan:
    """``plan`` with its output clause compiled (:func:`squall.cep.rate.compile_output`),
    also in a plan it wraps (a join's or a consumer's result-set plan): select.py keeps
    the clause's AST, as its ``when`` / ``then set`` read variables, whose module imports
    select.py."""
    if isinstance(plan, StatementPlan) and isinstance(plan.output, A.OutputRate):
        return dataclasses.replace(plan, output=compile_output(plan.output, ctx))
    if dataclasses.is_dataclass(plan) and not isinstance(plan, StatementPlan):
        changes = {f.name: _compiled_output(getattr(plan, f.name), ctx)
                   for f in dataclasses.fields(plan)
                   if isinstance(getattr(plan, f.name), StatementPlan)}
        changes = {n: v for n, v in changes.items() if v is not getattr(plan, n)}
        if changes:
            return dataclasses.replace(plan, **changes)
    return plan


def _compile_statement(st: A.SelectStatement | A.CreateVariable | A.OnSet,
                       declared_types: dict[str, dict[str, type]], ctx: EvalContext,
                       catalog: dict | None) -> Plan:
    if splits_streams(st):
        # the statement computes both streams; Statement.emit_streams gives each its own
        st = dataclasses.replace(st, stream_selector="irstream")
    if ctx.aggregations and not isinstance(st, (A.CreateContext, A.CreateSchema)):
        st = apply_plugin_aggregates(st, ctx.aggregations)
    if isinstance(st, A.CreateVariable):
        return compile_create_variable(st, ctx)
    if isinstance(st, A.OnSet):
        return compile_on_set(st, declared_types, ctx)
    if catalog is None:
        catalog = {}
    if isinstance(st, A.CreateWindow):
        return compile_create_window(st, declared_types, ctx, catalog)
    if isinstance(st, A.CreateTable):
        return compile_create_table(st, ctx, catalog)
    if isinstance(st, A.CreateSchema):
        return compile_create_schema(st, declared_types)
    if isinstance(st, A.CreateContext):
        return compile_create_context(st, declared_types, ctx, catalog)
    if getattr(st, "context", None) is not None:
        return compile_context_statement(st, declared_types, ctx, catalog, compile_statement)
    st = resolve_variables(st, ctx.variables, declared_types)
    if isinstance(st, A.OnAction):
        return compile_on_action(st, declared_types, ctx, catalog)
    if st.into_table is not None:
        return compile_into_table(st, declared_types, ctx, catalog)
    if uses_subqueries(st):
        return compile_subquery_statement(st, declared_types, ctx, catalog, compile_statement)
    if uses_tables(st, catalog):
        return compile_table_access(st, declared_types, ctx, catalog, compile_statement)
    target = catalog.get(st.stream.event_type) if isinstance(st.stream, A.StreamDef) else None
    if isinstance(target, WindowStore) and not st.joins:
        return compile_consumer(st, target, declared_types, ctx)
    if isinstance(target, TableStore):
        refuse_table_stream(st, target)
    if isinstance(st.stream, A.PatternStream):
        if st.output is None:
            return compile_pattern_statement(st, declared_types, ctx)
        # the output clause wraps the pattern's rows (squall.cep.rate)
        return RatedPlan(compile_pattern_statement(dataclasses.replace(st, output=None),
                                                   declared_types, ctx), compile_output(st.output, ctx))
    if st.match_recognize is not None:
        return compile_match_recognize_statement(st, declared_types, ctx)
    if st.joins:
        return compile_join_statement(st, declared_types, ctx)
    return compile_select_statement(st, declared_types, ctx)
