"""The CEP package's import layers: no import cycle among squall/cep/*.py, and no module
imports another's private names (``from x import _y``).

Imports under ``if TYPE_CHECKING:`` are annotations only and are not counted; imports
inside functions are (they run, and hide a cycle rather than break it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import squall.cep

PACKAGE = "squall.cep"
CEP_DIR = Path(squall.cep.__file__).parent


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every import node that runs, skipping ``if TYPE_CHECKING:`` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def type_checking_imports(source: str, modules: set[str]) -> set[str]:
    """Sibling modules a module imports under ``if TYPE_CHECKING:`` only."""
    tree = ast.parse(source)
    blocks = [node for node in ast.walk(tree)
              if isinstance(node, ast.If) and _is_type_checking(node.test)]
    wrapped = ast.Module(body=[stmt for b in blocks for stmt in b.body], type_ignores=[])
    deps, _ = module_imports(ast.unparse(wrapped), modules)
    return deps


def module_imports(source: str, modules: set[str]) -> tuple[set[str], list[str]]:
    """(sibling modules imported, private names imported from siblings) of one module's
    source; ``modules`` are the package's module names (``engine``, ``compile``, ...)."""
    deps, private = set(), []
    for node in _imports(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                head, _, name = alias.name.rpartition(".")
                if head == PACKAGE and name in modules:
                    deps.add(name)
            continue
        if node.level == 1:
            base = node.module  # None: from . import x
        elif node.level == 0 and node.module == PACKAGE:
            base = None
        elif node.level == 0 and node.module and node.module.startswith(PACKAGE + "."):
            base = node.module[len(PACKAGE) + 1:]
        else:
            continue
        if base is None:  # from squall.cep import ast / from . import ast
            deps.update(a.name for a in node.names if a.name in modules)
            continue
        base = base.split(".")[0]
        if base not in modules:
            continue
        deps.add(base)
        private += [f"{base}.{a.name}" for a in node.names if a.name.startswith("_")]
    return deps, private


def import_graph(sources: dict[str, str]) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    modules = set(sources)
    graph, private = {}, {}
    for name, src in sources.items():
        graph[name], private[name] = module_imports(src, modules)
        graph[name].discard(name)
    return graph, private


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def _package_sources() -> dict[str, str]:
    # The package __init__ re-exports the engine; it is not a layer of its own.
    return {p.stem: p.read_text() for p in CEP_DIR.glob("*.py") if p.stem != "__init__"}


def test_cep_modules_import_without_a_cycle():
    graph, _ = import_graph(_package_sources())
    assert "compile" in graph and "engine" in graph
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_no_cep_module_imports_private_names_of_another():
    _, private = import_graph(_package_sources())
    offenders = {m: names for m, names in private.items() if names}
    assert offenders == {}


def test_the_compilers_never_import_the_engine():
    graph, _ = import_graph(_package_sources())
    for name in ("expressions", "select", "join", "pattern", "pattern_compile",
                 "pattern_states", "pattern_operator", "variables", "compile",
                 "output", "resultset", "operators", "protocol", "named_window", "table",
                 "on_action", "query", "match_recognize", "match_recognize_compile",
                 "match_recognize_parse", "match_recognize_fast", "types_option", "subquery", "context",
                 "context_compile", "plugins", "schema"):
        assert "engine" not in graph[name], name
    assert "compile" in graph["engine"]


# The operators see the engine and statement through squall.cep.protocol's EngineHost and
# StatementHost; not even their annotations name squall.cep.engine.
OPERATOR_MODULES = ("expressions", "select", "join", "pattern", "pattern_compile",
                    "pattern_states", "pattern_operator", "variables", "compile", "output",
                    "resultset", "operators", "protocol", "views", "rate", "named_window",
                    "table", "on_action", "query", "match_recognize",
                    "match_recognize_compile", "match_recognize_parse", "match_recognize_fast",
                    "subquery", "context", "context_compile", "plugins", "schema")


def test_operator_modules_do_not_even_annotate_with_the_engine():
    sources = _package_sources()
    modules = set(sources)
    assert set(OPERATOR_MODULES) <= modules
    offenders = [name for name in OPERATOR_MODULES
                 if "engine" in type_checking_imports(sources[name], modules)]
    assert offenders == []


def test_the_annotation_check_sees_type_checking_imports():
    src = ("from typing import TYPE_CHECKING\nimport typing\nif TYPE_CHECKING:\n"
           "    from squall.cep.engine import EPLEngine\nif typing.TYPE_CHECKING:\n"
           "    from . import views\nfrom squall.cep.join import J\n")
    assert type_checking_imports(src, {"engine", "views", "join"}) == {"engine", "views"}


@pytest.mark.parametrize("sources, cycle", [
    ({"a": "from squall.cep.b import x\n", "b": "def f():\n    from squall.cep import a\n"},
     ["a", "b", "a"]),
    ({"a": "from .b import x\n", "b": "import squall.cep.a\n"}, ["a", "b", "a"]),
    ({"a": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from squall.cep.b import B\n",
      "b": "from squall.cep.a import x\n"}, None),
])
def test_the_cycle_check_sees_lazy_relative_and_plain_imports(sources, cycle):
    graph, _ = import_graph(sources)
    assert find_cycle(graph) == cycle


def test_the_private_name_check_names_the_import():
    _, private = import_graph({"a": "from squall.cep.b import _hidden, shown\n",
                               "b": "from . import a\nfrom .a import _x\n"})
    assert private == {"a": ["b._hidden"], "b": ["a._x"]}


@pytest.mark.parametrize("rule, kind", [
    ("select count(*) as n from T#time_batch(10 sec)", "_TimeBatch"),
    ("select count(*) as n from T#length_batch(3)", "_LengthBatch"),
    ("select a from T#length(3)", "Pipeline"),
    ("select x.a from T#length(3) as x, U#length(3) as y", "JoinOperator"),
    ("select x.a from pattern [every x=T -> y=U]", "PatternOperator"),
    ("create variable int lim = 80", "_Declaration"),
    ("on T set lim = a", "_OnSet"),
    ("create window W#length(3) as (a string, b double)", "CreateWindowOperator"),
    ("select a from W", "ConsumerOperator"),
    ("on T delete from W where W.a = T.a", "OnActionOperator"),
    ("create table Tb (k string primary key, s sum(double))", "CreateTableOperator"),
    ("into table Tb select sum(b) as s from T#length(3) group by k", "IntoTableOperator"),
    ("select a, Tb[a].s as s from T", "TableAccessOperator"),
    ("select * from T match_recognize (measures A.a as a pattern (A B) "
     "define B as B.b > A.b)", "MatchRecognizeOperator"),
    ("select a, (select max(b) from U#length(3)) as m from T", "SubqueryOperator"),
    ("create context Ctx partition by a from T", "CreateContextOperator"),
    ("context Ctx select a, count(*) as n from T", "ContextOperator"),
    ("create schema S (a string, b double)", "CreateSchemaOperator"),
    ("context Span select a, count(*) as n from T", "TemporalContextOperator"),
])
def test_every_operator_kind_declares_the_operator_protocol(rule, kind):
    from squall.cep import EPLEngine, ExternalClock
    from squall.cep.protocol import Operator

    engine = EPLEngine(ExternalClock(0))
    if rule.startswith("on "):
        engine.compile("create variable int lim = 80")
    if rule.startswith(("select a from W", "on T delete")):
        engine.compile("create window W#length(3) as (a string, b double)")
    if rule.startswith("context Span"):
        engine.compile("create context Span start U end after 1 sec")
    if rule.startswith("context Ctx"):
        engine.compile("create context Ctx partition by a from T")
    if rule.startswith(("into table", "select a, Tb")):
        engine.compile("create table Tb (k string primary key, s sum(double))")
    op = engine.compile(rule)[0]._operator
    assert type(op).__name__ == kind
    assert Operator in type(op).__mro__  # declared, not merely duck-typed
