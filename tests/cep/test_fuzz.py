"""Fuzzing the EPL parser and compiler: whatever the text, compiling it either starts
statements or raises EPLSyntaxError / EPLCompileError carrying a line and column inside
the text; never another exception, never a hang. Live rules (RuleSet) turn the same
errors into rejections.

Two sources of text: random text (characters, and tokens of the EPL vocabulary), and
statements built from the grammar (expressions, views, patterns, joins, every clause)
then mutated (tokens deleted, repeated, swapped, inserted, characters replaced, the
text cut short).
"""

import re
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall.cep import EPLCompileError, EPLEngine, EPLSyntaxError, ExternalClock
from squall.cep.rules import RuleSet

# A hang shows as a deadline error; the bound is loose because the machine is shared
# and a slow compile is not what these tests look for.
FUZZ = settings(max_examples=300, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow])

DECLARED = {"speed": float, "car": str, "ts": int, "ok": bool}


def check_compile(text: str, declare: bool = False) -> None:
    engine = EPLEngine(ExternalClock(0))
    if declare:
        engine.define_event_type("D", DECLARED)
    try:
        engine.compile(text)
    except (EPLSyntaxError, EPLCompileError) as exc:
        assert_position(exc, text)


def assert_position(exc, text: str) -> None:
    lines = text.split("\n")
    assert exc.line is not None and exc.column is not None, f"no position: {exc!r} for {text!r}"
    assert 1 <= exc.line <= len(lines), f"line {exc.line} outside the text: {exc!r} for {text!r}"
    assert 1 <= exc.column <= len(lines[exc.line - 1]) + 1, \
        f"column {exc.column} outside line {exc.line}: {exc!r} for {text!r}"


def check_rules(text: str) -> None:
    engine = EPLEngine(ExternalClock(0))
    engine.define_event_type("D", DECLARED)
    report = RuleSet.parse(text).apply(engine)
    for r in report.rejected:
        assert r.line is not None and r.column is not None, f"no position: {r} for {text!r}"
        assert isinstance(r.exception, (EPLSyntaxError, EPLCompileError)), r


# ------------------------------------------------------------------ the EPL vocabulary

KEYWORDS = ["select", "from", "where", "group", "by", "having", "as", "and", "or", "not", "is",
            "null", "true", "false", "distinct", "istream", "rstream", "irstream", "pattern",
            "every", "unidirectional", "in", "between", "like", "escape", "regexp", "case",
            "when", "then", "else", "end", "output", "insert", "into", "order", "asc", "desc",
            "limit", "offset", "all", "first", "last", "snapshot", "events", "sec", "msec", "min",
            "timer", "within", "interval"]
PUNCT = ["(", ")", "[", "]", ",", ";", ".", ":", "#", "@", "*", "+", "-", "/", "%", "=", "!=",
         "<>", "<", "<=", ">", ">=", "->", "'", '"', "`", "--", "/*", "*/", "\n"]
NAMES = ["T", "D", "speed", "car", "ts", "ok", "a", "b", "a.speed", "b.car", "`select`",
         "length", "time", "time_batch", "length_batch", "ext_timed", "ext_timed_batch", "unique",
         "groupwin", "lastevent", "firstevent", "keepall", "win", "std", "avg", "sum", "count",
         "median", "stddev", "avedev", "max", "min", "Name", "Description", "Tag", "f"]
NUMBERS = ["0", "1", "2", "10", "30", "-1", "1.5", "1e3", "1e400", "10L", "0.0",
           "99999999999999999999999", "1e-400", "007", "9" * 4400, "1e308", ".5"]
STRINGS = ["'x'", '"y"', "'a%'", "'(a|aa)+$'", "'['", "'\\\\'", "'\\n'", "''", "'a{9}{9}'",
           "'\\x'", "'\\u12'", "'\\N'", "'\\N{DIGIT ONE}'", "'\\''", "'\\777'"]
JUNK = ["'it''s'", "-5 sec", "2 fortnights", "x events", "limit -1", "'unclosed"]

token = st.sampled_from(KEYWORDS + PUNCT + NAMES + NUMBERS + STRINGS + JUNK)


# ------------------------------------------------------------------ grammar-shaped statements

def sometimes(common, rare, rare_in=8):
    """``common`` most of the time, ``rare`` one time in ``rare_in``: statements mostly
    valid, so they reach the compiler's later checks, with odd values mixed in."""
    # sampled_from draws about uniformly (and shrinks towards the first, common, entry)
    return st.sampled_from([True] * (rare_in - 1) + [False]).flatmap(
        lambda usual: common if usual else rare)


prop = st.sampled_from(["speed", "car", "ts", "ok", "a.speed", "b.car", "`car`", "x"])
literal = sometimes(st.sampled_from(["1", "2.5", "'A'", "'a%'", "true", "null", "30"]),
                    st.sampled_from(NUMBERS + STRINGS + ["false"]))
aggregate = st.builds(lambda f, d, e: f"{f}({d}{e})", st.sampled_from(
    ["avg", "sum", "count", "min", "max", "median", "stddev", "avedev"]),
    sometimes(st.just(""), st.just("distinct ")), prop) | st.just("count(*)")


def _compound(inner):
    # Operands mostly in parentheses, so most statements parse and reach the compiler;
    # the rest exercise the grammar's precedence.
    inner = st.builds(lambda a, bare: a if bare else f"({a})", inner,
                      sometimes(st.just(False), st.just(True)))
    bin_op = st.sampled_from(["+", "-", "*", "/", "%", "=", "!=", "<>", "<", "<=", ">", ">=",
                              "and", "or"])
    neg = sometimes(st.just(""), st.just("not "), 3)
    return st.one_of(
        st.builds(lambda a, o, b: f"{a} {o} {b}", inner, bin_op, inner),
        st.builds(lambda a: f"not {a}", inner),
        st.builds(lambda a: f"-{a}", inner),
        st.builds(lambda a: f"({a})", inner),
        st.builds(lambda a, n: f"{a} is {n}null", inner, neg),
        st.builds(lambda a, n, xs: f"{a} {n}in ({', '.join(xs)})", inner, neg,
                  st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda a, n, lo, hi: f"{a} {n}between {lo} and {hi}", inner, neg, inner, inner),
        st.builds(lambda a, n, p, e: f"{a} {n}like {p}{e}", inner, neg, inner,
                  sometimes(st.just(""), st.sampled_from([" escape '!'", " escape 'xy'"]), 3)),
        st.builds(lambda a, n, p: f"{a} {n}regexp {p}", inner, neg, inner),
        st.builds(lambda w, r, e: f"case when {w} then {r}{e} end", inner, inner,
                  st.sampled_from(["", " else 0", " else 'z'"])),
        st.builds(lambda o, v, r: f"case {o} when {v} then {r} end", inner, inner, inner),
        st.builds(lambda f, a: f"{f}({a})", st.sampled_from(["f", "avg", "count", "abs"]), inner),
    )


row_expr = st.recursive(prop | literal, _compound, max_leaves=6)
agg_expr = st.recursive(prop | literal | aggregate, _compound, max_leaves=6)
count = sometimes(st.sampled_from(["1", "2", "3", "10"]), st.sampled_from(NUMBERS + ["speed"]))
period = sometimes(st.sampled_from(["30 sec", "1 min 30 sec", "500 msec", "10", "1 hour"]),
                   st.sampled_from(["0 sec", "1.5 sec", "0.0001 sec", "99999999999 days", "1e400",
                                    "1e307 days", "1e308 days", "1 sec 1e308 days"]))
view = sometimes(st.one_of(
    st.builds(lambda n: f"#length({n})", count),
    st.builds(lambda n: f"#length_batch({n})", count),
    st.builds(lambda p: f"#time({p})", period),
    st.builds(lambda p: f"#time_batch({p})", period),
    st.builds(lambda e, p: f"#ext_timed({e}, {p})", sometimes(st.just("ts"), row_expr), period),
    st.builds(lambda e, p: f"#ext_timed_batch({e}, {p})", sometimes(st.just("ts"), row_expr), period),
    st.builds(lambda e: f"#unique({e})", sometimes(prop, row_expr)),
    st.builds(lambda e, n: f"#groupwin({e})#length({n})", prop, count),
    st.sampled_from(["#lastevent()", "#firstevent()", "#keepall()", ".win:length(3)",
                     ".std:lastevent()", ".win:time_batch(10 sec)"])),
    st.one_of(st.sampled_from(["#nope(1)", "#groupwin(car)", "#length()", "#time_batch(10 sec, 0L)"]),
              st.builds(lambda e: f"#length({e})", agg_expr)))
stream = st.builds(
    lambda t, f, vs, alias, uni: f"{t}{f}{''.join(vs)}{alias}{uni}",
    st.sampled_from(["T", "D"]),
    sometimes(st.just(""), st.builds(lambda es: f"({', '.join(es)})", st.lists(row_expr, max_size=2)), 3),
    sometimes(st.lists(view, min_size=1, max_size=2), st.lists(view, max_size=3)),
    st.sampled_from(["", " as a", " b", " as b"]),
    sometimes(st.just(""), st.just(" unidirectional")))


def _pattern(inner):
    return st.one_of(
        st.builds(lambda p: f"every {p}", inner),
        st.builds(lambda p: f"not {p}", inner),
        st.builds(lambda p, q: f"{p} -> {q}", inner, inner),
        st.builds(lambda p, q: f"{p} and {q}", inner, inner),
        st.builds(lambda p, q: f"{p} or {q}", inner, inner),
        st.builds(lambda p: f"({p})", inner),
        st.builds(lambda p, w: f"({p}) where timer:within({w})", inner, period),
    )


pattern_atom = st.one_of(
    st.builds(lambda tag, t, f: f"{tag}{t}{f}", st.sampled_from(["", "a=", "b=", "c="]),
              st.sampled_from(["T", "D"]),
              sometimes(st.just(""), st.builds(lambda e: f"({e})", row_expr), 2)),
    st.builds(lambda p: f"timer:interval({p})", period),
    st.just("timer:at(1, 2)"))
pattern = st.recursive(pattern_atom, _pattern, max_leaves=4)
from_clause = st.one_of(
    stream,
    st.builds(lambda a, b: f"{a}, {b}", stream, stream),
    st.builds(lambda p, alias: f"pattern [{p}]{alias}", pattern, st.sampled_from(["", " as p"])))
select_list = sometimes(st.lists(st.builds(
    lambda e, a: f"{e}{a}", agg_expr, st.sampled_from(["", " as n", " as m", " as `x y`"])),
    min_size=1, max_size=3).map(", ".join), st.just("*"), 4)


def optional(clause, rare_in=3):
    """Absent most of the time: every extra clause is one more chance to be refused."""
    return sometimes(st.just(""), clause, rare_in)


output = st.builds(lambda k, r: f" output {k}every {r}", st.sampled_from(["", "all ", "first ",
                                                                         "last ", "snapshot "]),
                   st.sampled_from(["3 events", "0 events", "10 sec", "2 min"]))
statement = st.builds(
    lambda ann, ins, sel, items, frm, where, group, having, out, order, limit:
        f"{ann}{ins}select {sel}{items} from {frm}{where}{group}{having}{out}{order}{limit}",
    sometimes(st.sampled_from(["", "@Name('s') ", "@Description('d') ", "@Tag(name='k', value='v') "]),
              st.sampled_from(["@Name('s') @Name('t') ", "@Hint('x') ", "@Name(1) ", "@Name('') "])),
    optional(st.sampled_from(["insert into R ", "insert into T "]), 5),
    optional(st.sampled_from(["istream ", "rstream ", "irstream "])),
    select_list, sometimes(stream, from_clause, 3),
    optional(row_expr.map(lambda e: f" where {e}"), 2),
    optional(st.lists(row_expr, min_size=1, max_size=2).map(lambda es: " group by " + ", ".join(es))),
    optional(agg_expr.map(lambda e: f" having {e}")),
    optional(output),
    optional(st.lists(st.builds(lambda e, d: f"{e}{d}", agg_expr, st.sampled_from(
        ["", " asc", " desc"])), min_size=1, max_size=2).map(lambda xs: " order by " + ", ".join(xs))),
    optional(st.sampled_from([" limit 2", " limit 1, 2", " limit 2 offset 1", " limit 0"])),
)
statements = sometimes(statement, st.lists(statement, min_size=2, max_size=3).map(";\n".join), 4)

_TOKENS = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\w+|->|<=|>=|!=|<>|\S")


@st.composite
def mutated(draw, source=statements):
    text = draw(source)
    tokens = _TOKENS.findall(text)
    for _ in range(draw(st.integers(1, 4))):
        if not tokens:
            break
        i = draw(st.integers(0, len(tokens) - 1))
        op = draw(st.sampled_from(["delete", "repeat", "swap", "insert", "replace", "char", "cut"]))
        if op == "delete":
            del tokens[i]
        elif op == "repeat":
            tokens.insert(i, tokens[i])
        elif op == "swap" and i + 1 < len(tokens):
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        elif op == "insert":
            tokens.insert(i, draw(token))
        elif op == "replace":
            tokens[i] = draw(token)
        elif op == "char":
            t = tokens[i]
            j = draw(st.integers(0, len(t)))
            tokens[i] = t[:j] + draw(st.characters()) + t[j + 1:]
        elif op == "cut":
            tokens = tokens[:i]
    sep = draw(st.sampled_from([" ", "\n", "  ", "\t"]))
    return sep.join(tokens)


# ------------------------------------------------------------------ the properties

@FUZZ
@given(text=st.text(max_size=200))
def test_random_text_raises_only_positioned_epl_errors(text):
    check_compile(text)


@FUZZ
@given(text=st.lists(token, max_size=40).map(" ".join))
def test_random_token_soup_raises_only_positioned_epl_errors(text):
    check_compile(text)


@FUZZ
@given(text=statements, declare=st.booleans())
def test_grammar_shaped_statements_compile_or_raise_positioned_epl_errors(text, declare):
    check_compile(text.replace(" from T", " from D") if declare else text, declare)


@FUZZ
@given(text=mutated(), declare=st.booleans())
def test_mutated_statements_raise_only_positioned_epl_errors(text, declare):
    check_compile(text, declare)


@FUZZ
@given(text=st.one_of(mutated(), statements, st.lists(token, max_size=40).map(" ".join)))
def test_live_rules_reject_with_positions_and_never_raise(text):
    check_rules(text)


def test_deep_nesting_is_a_positioned_error_not_a_crash():
    for depth in (200, 2000, 20000):
        check_compile("select " + "(" * depth + "speed" + ")" * depth + " from T#lastevent()")
        check_compile("select " + "-" * depth + "speed from T#lastevent()")
        check_compile("select " + "not " * depth + "ok from T#lastevent()")
        check_compile("select speed " + "+ speed " * depth + "from T#lastevent()")
        check_compile("select * from pattern [" + "every " * depth + "T]")
        check_compile("select * from pattern [" + "(" * depth + "T" + ")" * depth + "]")


# What the fuzzing found, pinned: each raised something other than an EPL error, or an
# EPL error without a position.
@pytest.mark.parametrize("text, error, line, column, message", [
    ("select * from T#time(1e400)", EPLSyntaxError, 1, 22, "a number out of range"),
    ("select * from T#time(1e308 days)", EPLSyntaxError, 1, 22, "a time period out of range"),
    ("select count(*) from T#length(1) output every 1e400 sec", EPLSyntaxError, 1, 47,
     "a number out of range"),
    ("select\n  " + "9" * 5000 + " from T#length(1)", EPLSyntaxError, 2, 3, "a number out of range"),
    ("select * from T#length(1) limit " + "9" * 5000, EPLSyntaxError, 1, 33, "a number out of range"),
    ("select '\\x' from T#length(1)", EPLSyntaxError, 1, 8, "an invalid escape sequence"),
    ("select s like 'x' escape '\\u' from T#length(1)", EPLSyntaxError, 1, 26,
     "an invalid escape sequence"),
    ("@Name('\\N') select * from T#length(1)", EPLSyntaxError, 1, 7, "an invalid escape sequence"),
    ("@Name('s') select * from T#length(1);\n  @Name('s') select * from T#length(2)",
     EPLCompileError, 2, 3, "Two statements are named 's'"),
    ("select " + "- " * 300 + "speed from T#length(1)", EPLSyntaxError, 1, None,
     "nested too deeply"),
])
def test_found_by_fuzzing(text, error, line, column, message):
    with pytest.raises(error) as info:
        EPLEngine(ExternalClock(0)).compile(text)
    assert message in str(info.value)
    assert info.value.line == line
    if column is not None:
        assert info.value.column == column
    assert_position(info.value, text)


def test_a_statement_named_as_a_running_one_is_refused_at_its_position():
    engine = EPLEngine(ExternalClock(0))
    engine.compile("@Name('s') select * from T#length(1)")
    with pytest.raises(EPLCompileError, match="already exists") as info:
        engine.compile("\n\n   @Name('s') select * from T#length(2)")
    assert (info.value.line, info.value.column) == (3, 4)


def test_unknown_escapes_stay_as_written_for_regexp_patterns():
    engine = EPLEngine(ExternalClock(0))
    [st] = engine.compile("select s regexp '\\d+' as m from T#lastevent()")
    rows = []
    st.add_listener(lambda new, old: rows.extend(new))
    engine.send("T", {"s": "123"})
    assert rows == [{"m": True}]


def test_the_deepest_accepted_expression_compiles_and_evaluates():
    # MAX_NESTING leaves the compiler and the compiled closures room under Python's
    # recursion limit: the deepest chains accepted run on events.
    from squall.cep.parser import MAX_NESTING
    depth = MAX_NESTING - 8      # the statement's own levels above the expression
    for text in ("select " + "- " * depth + "speed as s from T#lastevent()",
                 "select * from T#lastevent() where " + " or ".join(
                     f"car = 'c{i}'" for i in range(depth)),
                 "select speed " + "+ speed " * depth + "as s from T#lastevent()"):
        engine = EPLEngine(ExternalClock(0))
        [st] = engine.compile(text)
        rows = []
        st.add_listener(lambda new, old: rows.extend(new))
        engine.send("T", {"car": "c5", "speed": 1.0})
        assert len(rows) == 1
