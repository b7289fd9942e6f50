"""Parser: both window forms, case, comments, several statements, errors, round-trip."""

import pytest
from hypothesis import given, settings, strategies as st

from squall.cep import EPLSyntaxError
from squall.cep import ast as A
from squall.cep.parser import parse, parse_with_spans

SPEEDING = ("SELECT carNumber, avg(speed) FROM DriverCarInfo#time_batch(30 sec) "
            "GROUP BY carNumber HAVING avg(speed) > 80")


def test_hash_and_win_forms_give_same_query():
    a = parse(SPEEDING)[0]
    b = parse(SPEEDING.replace("#time_batch", ".win:time_batch"))[0]
    assert a.stream.views[0].namespace is None
    assert b.stream.views[0].namespace == "win"
    assert a.stream.views[0].params == b.stream.views[0].params
    assert (a.items, a.group_by, a.having) == (b.items, b.group_by, b.having)


@pytest.mark.parametrize("view", ["#lastevent", ".std:lastevent", "#keepall", ".win:keepall"])
def test_view_without_parameters_may_omit_parentheses(view):
    bare = parse(f"select * from T{view} as t where x > 1")[0]
    full = parse(f"select * from T{view}() as t where x > 1")[0]
    assert bare == full
    assert bare.stream.views[0].params == () and bare.stream.alias == "t"


def test_stream_without_views_parses_with_filter_and_alias():
    st = parse("select * from T(x > 1) as t")[0]
    assert st.stream.views == () and st.stream.alias == "t" and len(st.stream.filters) == 1


def test_speeding_rule_ast():
    s = parse(SPEEDING)[0]
    assert s.items == (A.SelectItem(A.Property("carNumber")),
                       A.SelectItem(A.Aggregate("avg", A.Property("speed"))))
    assert s.stream.event_type == "DriverCarInfo"
    assert s.stream.views[0].params == (A.TimePeriod(((30, "sec"),)),)
    assert s.group_by == (A.Property("carNumber"),)
    assert s.having == A.BinaryOp(">", A.Aggregate("avg", A.Property("speed")), A.Literal(80))


def test_keywords_case_insensitive():
    lowered = SPEEDING
    for kw in ("SELECT", "FROM", "GROUP BY", "HAVING", "AVG", "SEC"):
        lowered = lowered.replace(kw, kw.lower())
    assert parse(lowered)[0] == parse(SPEEDING)[0] == parse(
        "sElEcT carNumber, AVG(speed) fRoM DriverCarInfo#time_batch(30 SEC) "
        "Group By carNumber HaViNg avg(speed) > 80")[0]


def test_comments_and_several_statements():
    text = """
    -- the speeding rule
    select a /* inline, with ; inside */ from T#time_batch(1 min);
    /* second
       statement */ select count(*) from T#length_batch(3) ;
    """
    pairs = parse_with_spans(text)
    assert len(pairs) == 2
    assert pairs[0][1] == "select a /* inline, with ; inside */ from T#time_batch(1 min)"
    assert pairs[1][0].items[0].expr == A.Aggregate("count", None)


@pytest.mark.parametrize("period,msec", [
    ("30 sec", 30_000), ("30 seconds", 30_000), ("1 second", 1000), ("2 min", 120_000),
    ("250 msec", 250), ("1 min 30 sec", 90_000), ("1.5 sec", 1500)])
def test_time_periods(period, msec):
    assert parse(f"select a from T#time_batch({period})")[0].stream.views[0].params[0].msec == msec


def test_operator_precedence():
    e = parse("select a + b * c > 2 and not d or e from T#length_batch(1)")[0].items[0].expr
    p = A.Property
    assert e == A.BinaryOp("or", A.BinaryOp("and", A.BinaryOp(
        ">", A.BinaryOp("+", p("a"), A.BinaryOp("*", p("b"), p("c"))), A.Literal(2)),
        A.UnaryOp("not", p("d"))), p("e"))


@pytest.mark.parametrize("text,line,column,token", [
    ("select a fro T#time_batch(1)", 1, 10, "fro"),
    ("select a, from T#time_batch(1)", 1, 11, "from"),
    ("select a from T#time_batch(1 sex)", 1, 30, "sex"),
    ("select a from T#time_batch(1)\nwhere a >", 2, 10, ""),
    ("select a\nfrom T#time_batch(1)\n  group carNumber", 3, 9, "carNumber"),
    ("select @ from T", 1, 8, "@"),
    ("select a from T#time_batch(1);; select b from T", 1, 31, ";"),
    ("select avg(speed from T", 1, 18, "from"),
])
def test_syntax_errors_point_at_offending_token(text, line, column, token):
    with pytest.raises(EPLSyntaxError) as info:
        parse(text)
    err = info.value
    assert (err.line, err.column, err.token) == (line, column, token)
    assert f"line {line}, column {column}" in str(err)
    assert isinstance(err, ValueError)


# ---- hypothesis: generated select lists / thresholds parse and round-trip

names = st.sampled_from(["speed", "carNumber", "brake", "x1", "_y", "area"])
numbers = st.one_of(st.integers(-10**6, 10**6),
                    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
leaf = st.one_of(names.map(A.Property), numbers.map(A.Literal))


def _exprs(children):
    return st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/", "%"]), children, children).map(
            lambda t: A.BinaryOp(*t)),
        st.tuples(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), children, children).map(
            lambda t: A.BinaryOp(*t)),
        st.tuples(st.sampled_from(["and", "or"]), children, children).map(
            lambda t: A.BinaryOp(*t)),
        children.map(lambda c: A.UnaryOp("not", c)),
        children.map(lambda c: A.IsNull(c, False)),
    )


exprs = st.recursive(leaf, _exprs, max_leaves=6)
aggs = st.one_of(
    st.tuples(st.sampled_from(["avg", "sum", "min", "max", "count"]), names).map(
        lambda t: A.Aggregate(t[0], A.Property(t[1]))),
    st.just(A.Aggregate("count", None)))
items = st.lists(st.tuples(st.one_of(exprs, aggs),
                           st.one_of(st.none(), st.sampled_from(["a1", "total", "v"]))).map(
    lambda t: A.SelectItem(*t)), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(items, numbers, st.sampled_from([">", ">=", "<", "="]))
def test_generated_statements_round_trip(select_items, threshold, op):
    stmt = A.SelectStatement(
        tuple(select_items),
        A.StreamDef("DriverCarInfo", (A.View("time_batch", (A.TimePeriod(((30, "sec"),)),)),)),
        group_by=(A.Property("carNumber"),),
        having=A.BinaryOp(op, A.Aggregate("avg", A.Property("speed")), A.Literal(threshold)))
    text = A.to_epl(stmt)
    assert parse(text) == [stmt], text
