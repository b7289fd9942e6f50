"""squall.cep.rows: the statement rewrite that table access, subqueries, named-window
aliases, on-merge scoping and match_recognize share; the wrapping operator's behaviour
is covered through tables and subqueries (test_tables.py, test_subquery.py)."""

from __future__ import annotations

from squall.cep import ast as A
from squall.cep.parser import parse
from squall.cep.rows import rewrite


def _unqualify(node):
    if isinstance(node, A.Property) and node.name.startswith("c."):
        return A.Property(node.name[2:], node.line, node.column)
    return None


def test_rewrite_replaces_properties_everywhere_but_in_stream_definitions():
    st = parse("select c.speed from Car(c.speed > 1) as c where c.speed > 80")[0]
    out = rewrite(st, _unqualify)
    assert A.expr_text(out.items[0].expr) == "speed"
    assert A.expr_text(out.where) == "speed>80"
    assert out.stream is st.stream          # a stream's own filter is not entered


def test_rewrite_with_nothing_to_replace_returns_the_same_node():
    st = parse("select speed from Car where speed > 80")[0]
    assert rewrite(st, _unqualify) is st


def test_rewrite_enters_stream_definitions_when_told():
    st = parse("select speed from Car(c.speed > 1) as c")[0]
    out = rewrite(st, _unqualify, keep=())
    assert out.stream is not st.stream and out != st
