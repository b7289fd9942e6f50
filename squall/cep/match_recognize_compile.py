"""``match_recognize`` statement AST -> :class:`MatchRecognizePlan`: the row pattern as an
NFA, and the partition, define, measure and select expressions as closures.

The NFA is Esper's (``RowRecogHelper.buildStartStates``): one state per pattern variable
occurrence, after repeats ``{n,m}`` were expanded into copies (``RowRecogPatternExpandUtil``);
each state tests its variable's ``define`` condition (none: always true) and lists its next
states, the end state among them when the pattern may end after it; ``*`` and ``+`` states
loop to themselves, a quantified group loops from its end states to its start states. The
order of next states, the flat state numbers and the greedy flags follow Esper's build
order, because Esper's choice between matches that end on the same event depends on them
(see :mod:`squall.cep.match_recognize`).

Variables: a variable is a *group variable* (its events collected in a list) when it has
a ``*``/``+`` quantifier, sits in a group with one, or occurs more than once; otherwise a
*single variable* (one event, or null). Expressions:

* ``define V as cond``: ``W.prop`` for a single variable W (null until matched) or for V
  itself (the event being tested); a bare ``prop`` when V sees no other variable;
  ``prev(expr[, n])``: ``expr`` on the n-th event (default 1) before the current one in
  its partition (null before the first).
* measures: ``W.prop`` of a single variable; ``G[i].prop`` the i-th event of a group
  variable (null when there is none); ``first(G.prop)``, ``last(G.prop)`` and the
  aggregates ``count sum avg min max median stddev avedev`` over a group variable's events.
* select list: the measure columns; ``where``: like a filter on the stream, the events'
  properties, tested before an event reaches the pattern (as in Esper).

Semantics: Esper 8 reference, 8 "EPL Reference: Match Recognize"; Esper 8.9 source for the
NFA construction and the validation messages mirrored here.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from squall.cep import ast as A
from squall.cep.aggregates import build_aggs
from squall.cep.errors import EPLCompileError
from squall.cep.expressions import Scope, column_name, compile_expr, compile_row_expr
from squall.cep.match_recognize import END, MatchRecognizePlan, NFAState
from squall.cep.match_recognize_fast import build_fast_path
from squall.cep.match_recognize_parse import (
    INDEXED_PROPERTY,
    MatchRecognize,
    RowAlt,
    RowAtom,
    RowConcat,
)
from squall.cep.rows import rewrite

if TYPE_CHECKING:
    from squall.cep.matching import EvalContext

# MatchRecognizePlan is defined next to the operator it makes (squall.cep.match_recognize,
# which imports nothing from here); the statement compilers import it from this module.
__all__ = ["MatchRecognizePlan", "compile_match_recognize_statement"]

# Esper's RowRecogNFATypeEnum, as (kind, reluctant): kind one of single, zero_many,
# one_many, optional.
_KIND = {"one": "single", "*": "zero_many", "+": "one_many", "?": "optional"}


# ------------------------------------------------------------------ pattern expansion

@dataclass
class _Atom:
    name: str
    kind: str
    reluctant: bool
    line: int | None = None
    column: int | None = None


@dataclass
class _Nested:
    child: Any
    kind: str
    reluctant: bool


@dataclass
class _Concat:
    children: list


@dataclass
class _Alt:
    children: list


def _optional_of(kind):
    return {"single": "optional", "one_many": "zero_many"}.get(kind, kind)


def _many_of(kind):
    return {"single": "zero_many", "optional": "zero_many", "one_many": "zero_many"}.get(kind, kind)


def _repeat(make, kind, reluctant, repeat) -> list:
    """Esper's ``RowRecogPatternExpandUtil.expandRepeat``: ``{n}`` -> n copies,
    ``{n,m}`` -> n copies and m-n optional ones, ``{n,}`` -> n copies and one ``*``,
    ``{,m}`` -> m optional copies."""
    lo, hi = repeat
    if lo is not None and hi is not None:
        return [make(kind, reluctant) for _ in range(lo)] + \
            [make(_optional_of(kind), reluctant) for _ in range(lo, hi)]
    if hi is None:
        return [make(kind, reluctant) for _ in range(lo)] + [make(_many_of(kind), reluctant)]
    return [make(_optional_of(kind), reluctant) for _ in range(hi)]


def _expand(p, in_concat: bool) -> list:
    """The pattern with repeats expanded: a list of nodes to splice into a concatenation
    (``in_concat``) or a one-element list."""
    def wrap(items):
        return items if in_concat or len(items) == 1 else [_Concat(items)]

    if isinstance(p, RowAtom):
        q = p.quantifier
        if q.repeat is None:
            return [_Atom(p.name, _KIND[q.kind], q.reluctant, p.line, p.column)]
        return wrap(_repeat(lambda k, r: _Atom(p.name, k, r, p.line, p.column), _KIND[q.kind],
                            q.reluctant, q.repeat))
    if isinstance(p, RowConcat):
        out = []
        for c in p.children:
            out.extend(_expand(c, True))
        return [_Concat(out)]
    if isinstance(p, RowAlt):
        return [_Alt([_expand(c, False)[0] for c in p.children])]
    q = p.quantifier
    child = _expand(p.child, False)[0]
    if q.repeat is None:
        return [_Nested(child, _KIND[q.kind], q.reluctant)]
    return wrap(_repeat(lambda k, r: _Nested(_copy(child), k, r), _KIND[q.kind], q.reluctant,
                        q.repeat))


def _copy(node):
    if isinstance(node, _Atom):
        return dataclasses.replace(node)
    if isinstance(node, _Nested):
        return _Nested(_copy(node.child), node.kind, node.reluctant)
    return type(node)([_copy(c) for c in node.children])


def _multiple(kind) -> bool:
    return kind in ("zero_many", "one_many")


def _inspect(node, is_multiple: bool, singles: dict, multiples: dict) -> None:
    """Esper's ``RowRecogHelper.recursiveInspectVariables`` (dicts as ordered sets)."""
    if isinstance(node, _Nested):
        _inspect(node.child, _multiple(node.kind) or is_multiple, singles, multiples)
    elif isinstance(node, _Alt):
        for c in node.children:
            s, m = {}, {}
            _inspect(c, is_multiple, s, m)
            multiples.update(m)
            singles.update(s)
        for name in multiples:
            singles.pop(name, None)
    elif isinstance(node, _Atom):
        name = node.name
        if name in multiples:
            return
        if name in singles:
            del singles[name]
            multiples[name] = None
            return
        if _multiple(node.kind) or is_multiple:
            multiples[name] = None
        else:
            singles[name] = None
    else:
        for c in node.children:
            _inspect(c, is_multiple, singles, multiples)


def _atoms(node) -> list:
    if isinstance(node, _Atom):
        return [node]
    if isinstance(node, _Nested):
        return _atoms(node.child)
    return [a for c in node.children for a in _atoms(c)]


def _visibility(root) -> dict[str, set[str]]:
    """Esper's ``RowRecogHelper.determineVisibility``: per variable, the variables before
    it in any enclosing concatenation."""
    out: dict[str, set[str]] = {}

    def visit(node, path):
        if isinstance(node, _Atom):
            seen: set[str] | None = None
            for i, parent in enumerate(path):
                if not isinstance(parent, _Concat):
                    continue
                child = path[i + 1] if i + 1 < len(path) else node
                idx = next(k for k, c in enumerate(parent.children) if c is child)
                if seen is None and idx > 0:
                    seen = set()
                for c in parent.children[:idx]:
                    seen.update(a.name for a in _atoms(c) if a.name != node.name)
            if seen is not None:
                out.setdefault(node.name, set()).update(seen)
            return
        kids = [node.child] if isinstance(node, _Nested) else node.children
        for c in kids:
            visit(c, path + [node])

    visit(root, [])
    return out


@dataclass
class _Strand:
    start: list
    end: list
    all: list
    passthrough: bool


def _build(node, make_state) -> _Strand:
    """Esper's ``RowRecogHelper.recursiveBuildStatesInternal``."""
    if isinstance(node, _Alt):
        start, end, every, through = [], [], [], False
        for c in node.children:
            s = _build(c, make_state)
            start += s.start
            end += s.end
            every += s.all
            through = through or s.passthrough
        return _Strand(start, end, every, through)
    if isinstance(node, _Concat):
        strands = [_build(c, make_state) for c in node.children]
        every = [x for s in strands for x in s.all]
        through = all(s.passthrough for s in strands)
        start = []
        for s in strands:
            start += s.start
            if not s.passthrough:
                break
        end = []
        for s in reversed(strands):
            end += s.end
            if not s.passthrough:
                break
        for i in range(len(strands) - 1, 0, -1):
            for j in range(i - 1, -1, -1):
                for e in strands[j].end:
                    e.next.extend(strands[i].start)
                if not strands[j].passthrough:
                    break
        return _Strand(start, end, every, through)
    if isinstance(node, _Nested):
        s = _build(node.child, make_state)
        through = s.passthrough or node.kind in ("zero_many", "optional")
        if _multiple(node.kind):
            for e in s.end:
                for st in s.start:
                    if not any(n is st for n in e.next):
                        e.next.append(st)
        return _Strand(s.start, s.end, s.all, through)
    st = make_state(node)
    return _Strand([st], [st], [st], node.kind in ("zero_many", "optional"))


# ------------------------------------------------------------------ expressions

class _Lookup:
    """The ``ev`` an expression compiled here sees: ``get(name)`` reads a property name
    through the getter compiled for it, from the current evaluation's data (``a``, ``b``)."""

    __slots__ = ("getters", "a", "b")

    def __init__(self, getters: dict) -> None:
        self.getters = getters
        self.a = None
        self.b = None

    def get(self, name):
        return self.getters[name](self)


def _err(msg: str, node) -> EPLCompileError:
    return EPLCompileError(msg, line=getattr(node, "line", None), column=getattr(node, "column", None))


def _split(name: str) -> tuple[str | None, str]:
    head, dot, tail = name.partition(".")
    return (head, tail) if dot else (None, name)


_COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}


def _compare_to_literal(e) -> tuple[Callable, Callable, tuple] | None:
    """``prop OP literal`` as ``(test, batch, form)``, else None: ``test(event, partition)
    -> bool`` in one call, ``batch(events) -> [bool, ...]`` for a whole batch in one
    comprehension (no Python call per event), and ``form`` = ``(prop, comparison
    function, literal)`` for the fast path's generated code.

    The same values as the compiled expression tested ``is True`` (squall.cep.expressions:
    a null property gives null, so false); the general path costs four calls per test,
    which was most of a define's cost."""
    if not (isinstance(e, A.BinaryOp) and e.op in _COMPARE):
        return None
    fn, left, right = _COMPARE[e.op], e.left, e.right
    if not (isinstance(left, A.Property) and isinstance(right, A.Literal) and right.value is not None):
        return None
    name, value = left.name, right.value

    def prop_op_literal(ev, part):
        v = ev.get(name)
        return v is not None and fn(v, value) is True

    def prop_op_literal_batch(events):
        return [(v := ev.get(name)) is not None and fn(v, value) is True for ev in events]
    return prop_op_literal, prop_op_literal_batch, (name, fn, value)


class _Compiler:
    def __init__(self, mr: MatchRecognize, declared: dict[str, type] | None, type_name: str,
                 ctx: "EvalContext", streams: dict[str, int], multi: dict[str, int],
                 visible: dict[str, set[str]]) -> None:
        self.mr, self.declared, self.type_name, self.ctx = mr, declared, type_name, ctx
        self.streams, self.multi, self.visible = streams, multi, visible
        self.prev_depth = 0
        self._n = 0

    def synthetic(self) -> str:
        self._n += 1
        return f"\x00mr{self._n}"

    def check_prop(self, prop: str, node, clause: str) -> None:
        if self.declared is not None and prop not in self.declared:
            raise _err(f"Failed to validate match-recognize {clause} expression: property "
                       f"named '{prop}' is not valid in event type '{self.type_name}'", node)

    def variable(self, name: str, node, clause: str) -> str:
        if name not in self.streams:
            raise _err(f"Failed to validate match-recognize {clause} expression: '{name}' is "
                       "not a pattern variable (variables: " + ", ".join(self.streams) + ")", node)
        return name

    # -- define: pure tests see (event, partition), the others (events per stream with the
    #    event tested in its variable's slot, partition); the partition is read by prev()

    def define(self, var: str, cond: A.Expr) -> tuple[Callable, bool, Callable | None, tuple | None]:
        """``(test, pure, batch, form)`` for ``define var as cond``: ``pure`` when the
        condition reads only the event tested (and ``prev()``), so the operator evaluates
        it once per event; ``batch`` (or None) tests a batch of events at once (see
        :class:`squall.cep.match_recognize.NFAState`); ``form``: None, or for ``prop OP
        literal`` ``(prop, comparison function, literal)`` (see
        :mod:`squall.cep.match_recognize_fast`)."""
        getters: dict[str, Callable] = {}
        reads: dict[str, tuple[str, str]] = {}    # property name -> (variable, property)
        clause = "define"

        def repl(e):
            if isinstance(e, A.FunctionCall) and e.name.lower() == "prev":
                return self.prev(e, getters)
            if isinstance(e, A.FunctionCall) and e.name.lower() in ("first", "last") \
                    or isinstance(e, A.Aggregate):
                raise _err(f"Aggregation and first/last in a define condition are not supported "
                           f"('{A.expr_text(e)}')", e)
            if isinstance(e, A.Property):
                if INDEXED_PROPERTY.match(e.name):
                    raise _err(f"Indexed access in a define condition is not supported "
                               f"('{e.name.replace('$', '[', 1).replace('$', ']', 1)}')", e)
                head, prop = _split(e.name)
                if head is None:
                    if self.visible.get(var):
                        raise _err(f"Failed to validate match-recognize define expression: "
                                   f"property named '{prop}' is ambiguous as is valid for more "
                                   f"then one stream (write {var}.{prop})", e)
                    head = var
                self.variable(head, e, clause)
                if head in self.multi and head != var:
                    raise _err(f"Failed to resolve property '{e.name}' (property '{head}' is an "
                               "indexed property and requires an index or enumeration method to "
                               "access values)", e)
                self.check_prop(prop, e, clause)
                reads[e.name] = (head, prop)
            return None

        cond = rewrite(cond, repl)
        scope = Scope(None, self.type_name, "define", None, self.ctx)
        pure = all(head == var for head, _ in reads.values())
        if pure and not getters:
            # Only the event's own properties: compiled over the event itself, with no
            # lookup object between (the common case, and the hot one).
            own = rewrite(cond, lambda e: A.Property(reads[e.name][1], e.line, e.column)
                           if isinstance(e, A.Property) else None)
            fast = _compare_to_literal(own)
            if fast is not None:
                return fast[0], True, fast[1], fast[2]
            f = compile_expr(own, scope)
            return (lambda ev, part: f(ev, None) is True), True, None, None
        for name, (head, prop) in reads.items():
            if pure:
                getters[name] = lambda c, prop=prop: c.a.get(prop)
            else:
                def g(c, k=self.streams[head], prop=prop):
                    ev = c.a[k]
                    return None if ev is None else ev.get(prop)
                getters[name] = g
        f = compile_expr(cond, scope)
        lookup = _Lookup(getters)

        def test(a, part):
            lookup.a, lookup.b = a, part
            return f(lookup, None) is True
        return test, pure, None, None

    def prev(self, call: A.FunctionCall, getters: dict) -> A.Property:
        args = call.args
        if not args or len(args) > 2 or (len(args) == 2 and not (
                isinstance(args[1], A.Literal) and isinstance(args[1].value, int)
                and not isinstance(args[1].value, bool) and args[1].value >= 0)):
            raise _err("prev() takes an expression and an optional constant non-negative index, "
                       f"e.g. prev(B.speed, 2) ('{A.expr_text(call)}')", call)
        n = args[1].value if len(args) == 2 else 1
        self.prev_depth = max(self.prev_depth, n)
        inner_getters: dict[str, Callable] = {}

        def repl(e):
            if isinstance(e, A.Property):
                head, prop = _split(e.name)
                if head is not None:
                    self.variable(head, e, "define")
                self.check_prop(prop, e, "define")
                inner_getters[e.name] = lambda c, prop=prop: c.a.get(prop)
            elif isinstance(e, (A.FunctionCall, A.Aggregate)):
                raise _err(f"prev() of '{A.expr_text(e)}' is not supported", e)
            return None

        inner = compile_expr(rewrite(args[0], repl), Scope(None, self.type_name, "define", None,
                                                             self.ctx))
        lookup = _Lookup(inner_getters)
        name = self.synthetic()

        def g(c):
            buf = c.b.prev
            if len(buf) <= n:
                return None
            lookup.a = buf[-1 - n]
            return inner(lookup, None)
        getters[name] = g
        return A.Property(name)

    # -- measures: a = single events per stream, b = group variables' event lists

    def measure(self, e: A.Expr) -> Callable:
        getters: dict[str, Callable] = {}
        clause = "measure"

        def repl(x):
            if isinstance(x, A.Aggregate) or (isinstance(x, A.FunctionCall)
                                               and x.name.lower() in ("first", "last")):
                return self.aggregate(x, getters)
            if isinstance(x, A.FunctionCall) and x.name.lower() == "prev":
                raise _err("prev() is supported in define conditions only", x)
            if isinstance(x, A.Property):
                m = INDEXED_PROPERTY.match(x.name)
                if m:
                    var, idx, prop = m.group(1), int(m.group(2)), m.group(3)
                    self.variable(var, x, clause)
                    if var not in self.multi:
                        raise _err(f"Indexed access '{var}[{idx}]' needs a group variable (one "
                                   "with a * or + quantifier, or repeated)", x)
                    if prop is None:
                        raise _err(f"Indexed access '{var}[{idx}]' needs a property, e.g. "
                                   f"{var}[{idx}].speed", x)
                    self.check_prop(prop, x, clause)
                    j = self.multi[var]

                    def g(c, j=j, idx=idx, prop=prop):
                        lst = c.b[j] if c.b is not None else None
                        return lst[idx].get(prop) if lst is not None and idx < len(lst) else None
                    getters[x.name] = g
                    return None
                head, prop = _split(x.name)
                if head is None:
                    raise _err(f"Failed to validate match-recognize measure expression: property "
                               f"'{prop}' needs its pattern variable, e.g. A.{prop}", x)
                self.variable(head, x, clause)
                if head in self.multi:
                    raise _err(f"Failed to resolve property '{x.name}' (property '{head}' is an "
                               "indexed property and requires an index or enumeration method to "
                               f"access values; use e.g. {head}[0].{prop} or last({x.name}))", x)
                self.check_prop(prop, x, clause)
                k = self.streams[head]

                def g(c, k=k, prop=prop):
                    ev = c.a[k]
                    return None if ev is None else ev.get(prop)
                getters[x.name] = g
            return None

        f = compile_expr(rewrite(e, repl), Scope(None, self.type_name, "measures", None, self.ctx))
        lookup = _Lookup(getters)

        def value(events, groups):
            lookup.a, lookup.b = events, groups
            return f(lookup, None)
        return value

    def aggregate(self, x, getters: dict) -> A.Property:
        func = x.func if isinstance(x, A.Aggregate) else x.name.lower()
        arg = x.arg if isinstance(x, A.Aggregate) else (x.args[0] if len(x.args) == 1 else None)
        if arg is None:
            raise _err("Aggregation functions in the measure-clause must refer to one or more "
                       "properties of exactly one group variable returning multiple events", x)
        props = A.nodes_of(arg, A.Property)
        heads = {_split(p.name)[0] for p in props}
        if len(heads) != 1 or None in heads or next(iter(heads)) not in self.multi:
            raise _err("Aggregation functions in the measure-clause must refer to one or more "
                       "properties of exactly one group variable returning multiple events", x)
        var = next(iter(heads))
        inner_getters = {}
        for p in props:
            prop = _split(p.name)[1]
            self.check_prop(prop, p, "measure")
            inner_getters[p.name] = (lambda c, prop=prop: c.a.get(prop))
        if A.nodes_of(arg, A.Aggregate) or any(
                isinstance(n, A.FunctionCall) for n in A.walk(arg)):
            raise _err(f"Nested functions in '{A.expr_text(x)}' are not supported", x)
        lookup = _Lookup(inner_getters)
        inner = compile_row_expr(arg, Scope(None, self.type_name, "measures", None, self.ctx))

        def arg_of(ev):
            lookup.a = ev
            return inner(lookup)
        j = self.multi[var]
        name = self.synthetic()
        if func in ("first", "last"):
            pick = 0 if func == "first" else -1

            def g(c):
                lst = c.b[j] if c.b is not None else None
                return arg_of(lst[pick]) if lst else None
        else:
            distinct = isinstance(x, A.Aggregate) and x.distinct
            spec = build_aggs([(func, distinct, arg_of, None, False)])

            def g(c):
                lst = c.b[j] if c.b is not None else None
                acc = spec.new_acc(None)
                for ev in lst or ():
                    spec.update(acc, ev)
                return spec.values(acc)[0]
        getters[name] = g
        return A.Property(name)


def compile_match_recognize_statement(st: A.SelectStatement,
                                      declared_types: dict[str, dict[str, type]],
                                      ctx: "EvalContext") -> MatchRecognizePlan:
    """Validate a ``select ... from T match_recognize (...)`` statement and build its plan.

    Raises:
        EPLCompileError: an unsupported clause next to match_recognize, an unknown variable
            or property, a group variable read without index or aggregation, a define for
            a variable not in the pattern, ...
    """
    mr: MatchRecognize = st.match_recognize
    stream = st.stream
    pos = dict(line=mr.line, column=mr.column)
    if stream.views:
        raise EPLCompileError("match_recognize over a data window is not supported yet (use the "
                              "stream without a window)", **pos)
    for what, present in (("group by", st.group_by), ("having", st.having is not None),
                          ("output", st.output is not None),
                          ("a stream selector", st.stream_selector != "istream")):
        if present:
            raise EPLCompileError(f"'{what}' is not supported with match_recognize", **pos)
    declared = declared_types.get(stream.event_type)
    expanded = _expand(mr.pattern, False)[0]
    singles, multiples = {}, {}
    _inspect(expanded, False, singles, multiples)
    order = [a.name for a in _atoms(expanded)]
    names = list(dict.fromkeys(order))
    streams = {n: i for i, n in enumerate(names)}
    multi = {n: i for i, n in enumerate(n for n in names if n in multiples)}
    defines = {}
    for d in mr.defines:
        if d.name not in streams:
            raise EPLCompileError(f"Variable '{d.name}' does not occur in pattern", line=d.line,
                                  column=d.column)
        if d.name in defines:
            raise EPLCompileError(f"Variable '{d.name}' has already been defined", line=d.line,
                                  column=d.column)
        defines[d.name] = d.condition
    c = _Compiler(mr, declared, stream.event_type, ctx, streams, multi, _visibility(expanded))
    conds = {n: c.define(n, e) for n, e in defines.items()}

    def make_state(atom: _Atom) -> NFAState:
        kind = atom.kind
        if kind == "zero_many" or kind == "optional":
            greedy = not atom.reluctant
        elif kind == "one_many":
            # Esper 8.9 passes a one-or-more state's arguments swapped, so its greedy flag
            # is "the define needs the group's events" (never here): false.
            greedy = False
        else:
            greedy = None
        loops = kind in ("zero_many", "one_many")
        test, pure, batch, _ = conds.get(atom.name, (None, True, None, None))
        st = NFAState(atom.name, streams[atom.name], atom.name in multi,
                      multi.get(atom.name, -1), greedy, test, pure, loops, batch)
        if loops:
            st.next.append(st)     # Esper's */+ state lists itself first
        return st

    strand = _build(expanded, make_state)
    for e in strand.end:
        e.next.append(END)
    for i, s in enumerate(strand.all):
        s.index = i
    for s in strand.all:
        s.next = tuple(s.next)

    measure_fns = [(m.name, c.measure(m.expr)) for m in mr.measures]
    seen = set()
    for m in mr.measures:
        if m.name in seen:
            raise EPLCompileError(f"Measure column '{m.name}' is named twice", **pos)
        seen.add(m.name)

    def measures(events, groups):
        return {n: f(events, groups) for n, f in measure_fns}

    mcols = tuple(m.name for m in mr.measures)
    row_scope = Scope({n: object for n in mcols}, "match_recognize", "select-clause", None, ctx)
    select = None
    if st.items is None:
        columns = mcols
    else:
        for i in st.items:
            aggs = A.nodes_of(i.expr, A.Aggregate)
            if aggs:
                raise EPLCompileError(f"Aggregate functions in the select clause of a "
                                      f"match_recognize statement are not supported "
                                      f"('{A.expr_text(aggs[0])}')", line=aggs[0].line,
                                      column=aggs[0].column)
        columns = tuple(column_name(i) for i in st.items)
        fns = [(column_name(i), compile_expr(i.expr, row_scope)) for i in st.items]

        def select(row):
            return {n: f(row, None) for n, f in fns}
    partition = None
    if mr.partition_by:
        pscope = Scope(declared, stream.event_type, "partition-by", None, ctx)
        getters = [compile_row_expr(e, pscope) for e in mr.partition_by]
        if len(getters) == 1 and isinstance(mr.partition_by[0], A.Property):
            # the event's own get, without a Python frame per event
            partition = operator.methodcaller("get", mr.partition_by[0].name)
        elif len(getters) == 1:
            partition = getters[0]
        else:
            def partition(ev):
                return tuple(g(ev) for g in getters)
    stream_filter = None
    if stream.filters or st.where is not None:
        # Esper filters the events before they reach the pattern with both: the stream's
        # filter and the where clause (over the event's properties, not the measures).
        fscope = Scope(declared, stream.event_type, "filter", None, ctx)
        fs = [compile_expr(f, fscope) for f in stream.filters]
        if st.where is not None:
            fscope.clause = "where-clause"
            fs.append(compile_expr(st.where, fscope))

        def stream_filter(ev):
            return all(f(ev, None) is True for f in fs)
    interval_ms = None
    if mr.interval is not None:
        interval_ms = int(mr.interval.msec)
    plan = MatchRecognizePlan(stream.event_type, columns, tuple(strand.start), tuple(strand.all),
                              len(names), len(multi), partition, c.prev_depth, measures, select,
                              stream_filter, mr.all_matches, mr.skip, interval_ms,
                              mr.or_terminated)
    forms = {s.index: conds[s.var][3] for s in strand.all if s.var in conds and conds[s.var][3]}
    single_property = (mr.partition_by[0].name if len(mr.partition_by) == 1
                       and isinstance(mr.partition_by[0], A.Property) else None)
    fast = build_fast_path(plan, forms, single_property)
    return plan if fast is None else dataclasses.replace(plan, fast=fast)
