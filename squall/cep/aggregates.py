"""Aggregation functions as accumulator-slot closures, with enter and (optionally) leave.

An accumulator is a plain list: ``acc[0]`` is a representative event of the group, the
aggregation functions own consecutive slots after it. Slots hold immutable values
(counts, sums, running means) or, where a function must be able to forget a value,
a sorted list of values or a ``{value: count}`` dict. Everything in an accumulator is
builtin data, so :meth:`AggSpec.dump` / :meth:`AggSpec.load` turn it into plain data
for :meth:`squall.cep.engine.EPLEngine.snapshot` and back.

Two flavours are built from the same functions: *enter-only* (batch windows fused with
their output, where a batch's accumulators are simply dropped) keeps a running min/max,
and *retracting* (sliding windows, where events leave) keeps the values min/max/median
need to forget one.

Semantics: Esper 8 reference, 10.2.1 "Aggregation functions" (``avg count max median
min stddev avedev sum``, the ``distinct`` keyword; nulls are ignored; sum/avg/min/max/
median/avedev of no values are null, count is 0, stddev needs two values); the
standard deviation is the sample standard deviation, maintained incrementally with
Welford's method as Esper does, so results agree to the last bits when events leave.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["AggSpec", "build_aggs", "AGGREGATE_FUNCTIONS"]

AGGREGATE_FUNCTIONS = frozenset({"avg", "sum", "count", "min", "max", "median", "stddev", "avedev"})

Getter = Callable[[dict], Any]

# slot kinds: "v" immutable value, "list" sorted values, "dict" value -> count, "plugin"
# a plug-in aggregator object (its init is the factory)
_V, _LIST, _DICT, _PLUGIN = "v", "list", "dict", "plugin"


@dataclass(frozen=True)
class AggSpec:
    """Per-group accumulator layout and its functions.

    ``new_acc(ev)`` a fresh accumulator with ``ev`` as the representative event;
    ``update(acc, ev)`` adds an event (None when there are no aggregates);
    ``leave(acc, ev)`` removes one (None for enter-only specs);
    ``values(acc)`` the aggregate values, in the order the aggregates were given;
    ``dump(acc)`` the slots as plain data; ``load(ev, data)`` the accumulator back.
    """
    new_acc: Callable[[Any], list]
    update: Callable[[list, dict], None] | None
    values: Callable[[list], list]
    leave: Callable[[list, dict], None] | None = None
    dump: Callable[[list], list] | None = None
    load: Callable[[Any, list], list] | None = None


# ------------------------------------------------------------ value-level functions
# Each factory gets the first slot index and returns
#   (slot kinds, enter_v(acc, v), leave_v(acc, v) | None, final(acc))
# where v is a non-null value.

def _f_count(i, retract):
    def enter(acc, v):
        acc[i] += 1

    def leave(acc, v):
        acc[i] -= 1
    return (_V,), (0,), enter, leave, lambda acc: acc[i]


def _f_sum(i, retract, avg=False):
    j = i + 1

    def enter(acc, v):
        acc[i] += 1
        acc[j] += v

    def leave(acc, v):
        # Esper clears a sum/avg whose leave finds one value or fewer, so a row whose
        # values left more often than they entered (a deleted table row) is null, not
        # negative.
        n = acc[i] - 1
        if n <= 0:
            acc[i] = 0
            acc[j] = 0
        else:
            acc[i] = n
            acc[j] = acc[j] - v
    if avg:
        fin = lambda acc: acc[j] / acc[i] if acc[i] else None  # noqa: E731
    else:
        fin = lambda acc: acc[j] if acc[i] else None  # noqa: E731
    return (_V, _V), (0, 0), enter, leave, fin


def _f_minmax(i, retract, is_min):
    if not retract:
        if is_min:
            def enter(acc, v):
                cur = acc[i]
                if cur is None or v < cur:
                    acc[i] = v
        else:
            def enter(acc, v):
                cur = acc[i]
                if cur is None or v > cur:
                    acc[i] = v
        return (_V,), (None,), enter, None, lambda acc: acc[i]

    def enter_s(acc, v):
        insort(acc[i], v)

    def leave_s(acc, v):
        lst = acc[i]
        k = bisect_left(lst, v)
        if k < len(lst) and lst[k] == v:
            del lst[k]
    if is_min:
        fin = lambda acc: acc[i][0] if acc[i] else None  # noqa: E731
    else:
        fin = lambda acc: acc[i][-1] if acc[i] else None  # noqa: E731
    return (_LIST,), (None,), enter_s, leave_s, fin


def _f_median(i, retract):
    def enter(acc, v):
        insort(acc[i], float(v))

    def leave(acc, v):
        lst = acc[i]
        k = bisect_left(lst, float(v))
        if k < len(lst) and lst[k] == v:
            del lst[k]

    def fin(acc):
        lst = acc[i]
        n = len(lst)
        if n == 0:
            return None
        m = n // 2
        if n % 2:
            return lst[m]
        return (lst[m - 1] + lst[m]) / 2
    return (_LIST,), (None,), enter, leave, fin


def _f_stddev(i, retract):
    # slots: count, mean, sum of squared deviations (Welford)
    n_, mean_, q_ = i, i + 1, i + 2

    def enter(acc, v):
        p = float(v)
        n = acc[n_]
        if n == 0:
            acc[n_], acc[mean_], acc[q_] = 1, p, 0.0
            return
        n += 1
        old = acc[mean_]
        mean = old + (p - old) / n
        acc[n_], acc[mean_] = n, mean
        acc[q_] += (p - old) * (p - mean)

    def leave(acc, v):
        p = float(v)
        n = acc[n_]
        if n <= 1:
            acc[n_], acc[mean_], acc[q_] = 0, 0.0, 0.0
            return
        n -= 1
        old = acc[mean_]
        mean = old - (p - old) / n
        acc[n_], acc[mean_] = n, mean
        acc[q_] -= (p - old) * (p - mean)

    def fin(acc):
        n = acc[n_]
        if n < 2:
            return None
        q = acc[q_] / (n - 1)
        return math.sqrt(q) if q >= 0 else math.nan
    return (_V, _V, _V), (0, 0.0, 0.0), enter, leave, fin


def _f_avedev(i, retract):
    # slots: {value: count}, count, sum
    d_, n_, s_ = i, i + 1, i + 2

    def enter(acc, v):
        p = float(v)
        d = acc[d_]
        d[p] = d.get(p, 0) + 1
        acc[n_] += 1
        acc[s_] += p

    def leave(acc, v):
        p = float(v)
        d = acc[d_]
        c = d.get(p)
        if c is None:
            return
        if c == 1:
            del d[p]
        else:
            d[p] = c - 1
        acc[n_] -= 1
        acc[s_] = acc[s_] - p if acc[n_] else 0.0

    def fin(acc):
        n = acc[n_]
        if n == 0:
            return None
        avg = acc[s_] / n
        return sum(c * abs(x - avg) for x, c in acc[d_].items()) / n
    return (_DICT, _V, _V), (None, 0, 0.0), enter, leave, fin


def _value_function(func: str, i: int, retract: bool):
    if func == "count":
        return _f_count(i, retract)
    if func == "sum":
        return _f_sum(i, retract)
    if func == "avg":
        return _f_sum(i, retract, avg=True)
    if func in ("min", "max"):
        return _f_minmax(i, retract, func == "min")
    if func == "median":
        return _f_median(i, retract)
    if func == "stddev":
        return _f_stddev(i, retract)
    if func == "avedev":
        return _f_avedev(i, retract)
    raise ValueError(f"unknown aggregate function {func!r}")


def _distinct(i, func, retract):
    """``func(distinct x)``: a ``{value: count}`` slot, the function sees a value on its
    first arrival and on its last departure."""
    kinds, inits, enter_v, leave_v, fin = _value_function(func, i + 1, True)

    def enter(acc, v):
        d = acc[i]
        c = d.get(v, 0)
        d[v] = c + 1
        if c == 0:
            enter_v(acc, v)

    def leave(acc, v):
        d = acc[i]
        c = d.get(v)
        if c is None:
            return
        if c == 1:
            del d[v]
            leave_v(acc, v)
        else:
            d[v] = c - 1
    return (_DICT, *kinds), (None, *inits), enter, leave, fin


def _f_plugin(i, factory, get):
    """A plug-in aggregation (squall.cep.plugins): the slot holds the user's aggregator;
    every value, null included, is entered and left."""
    def upd(acc, ev):
        acc[i].enter(get(ev))

    def lv(acc, ev):
        acc[i].leave(get(ev))
    return (_PLUGIN,), (factory,), upd, lv, lambda acc: acc[i].value()


def _function(func, distinct: bool, star: bool, get: Getter | None, name: str | None,
              i: int, retract: bool):
    """-> (kinds, inits, update(acc, ev), leave(acc, ev) | None, final(acc)); ``func`` is
    a built-in function's name or a plug-in aggregation's factory."""
    if not isinstance(func, str):
        if get is None:
            get = (lambda ev: ev.get(name))
        kinds, inits, upd, lv, fin = _f_plugin(i, func, get)
        return kinds, inits, upd, (lv if retract else None), fin
    if star:
        def upd(acc, ev):
            acc[i] += 1

        def lv(acc, ev):
            acc[i] -= 1
        return (_V,), (0,), upd, (lv if retract else None), (lambda acc: acc[i])
    if get is None:
        get = (lambda ev: ev.get(name))
    if distinct:
        kinds, inits, enter_v, leave_v, fin = _distinct(i, func, retract)
    else:
        kinds, inits, enter_v, leave_v, fin = _value_function(func, i, retract)

    # Hot path: the common non-distinct count/sum/avg of a plain property, inlined.
    if not distinct and func in ("sum", "avg") and name is not None:
        j = i + 1

        def upd(acc, ev):
            v = ev.get(name)
            if v is not None:
                acc[i] += 1
                acc[j] += v
    elif not distinct and func == "count" and name is not None:
        def upd(acc, ev):
            if ev.get(name) is not None:
                acc[i] += 1
    else:
        def upd(acc, ev):
            v = get(ev)
            if v is not None:
                enter_v(acc, v)
    lv = None
    if retract:
        def lv(acc, ev):
            v = get(ev)
            if v is not None:
                leave_v(acc, v)
    return kinds, inits, upd, lv, fin


def build_aggs(functions: list[tuple[str, bool, Getter | None, str | None, bool]],
               retract: bool = False) -> AggSpec:
    """Build an :class:`AggSpec`.

    Args:
        functions: per aggregate ``(func, distinct, getter, property_name, star)``:
            ``getter`` computes the argument from an event (None when the argument is
            the plain property ``property_name``); ``star`` for ``count(*)``.
        retract: build ``leave`` too (events leave sliding windows).
    """
    kinds: list[str] = [_V]
    inits: list = [None]
    upds, lvs, fins = [], [], []
    for func, distinct, get, name, star in functions:
        k, init, upd, lv, fin = _function(func, distinct, star, get, name, len(kinds), retract)
        kinds.extend(k)
        inits.extend(init)
        upds.append(upd)
        lvs.append(lv)
        fins.append(fin)
    kinds_t = tuple(kinds)
    mutable = tuple(n for n, k in enumerate(kinds_t) if k != _V)
    template = list(inits)
    if not mutable:
        def new_acc(ev):
            acc = template.copy()  # immutable slot values only: a shallow copy is enough
            acc[0] = ev
            return acc
    else:
        lists = tuple(n for n in mutable if kinds_t[n] == _LIST)
        dicts = tuple(n for n in mutable if kinds_t[n] == _DICT)
        plugins = tuple((n, template[n]) for n in mutable if kinds_t[n] == _PLUGIN)

        def new_acc(ev):
            acc = template.copy()
            acc[0] = ev
            for n in lists:
                acc[n] = []
            for n in dicts:
                acc[n] = {}
            for n, factory in plugins:
                acc[n] = factory()
            return acc

    update = _combine(upds)
    leave = _combine(lvs) if retract else None
    fins_t = tuple(fins)

    def dump(acc):
        out = []
        for k, v in zip(kinds_t[1:], acc[1:]):
            if k == _V:
                out.append(v)
            elif k == _LIST:
                out.append(list(v))
            elif k == _PLUGIN:
                out.append(v.snapshot() if hasattr(v, "snapshot") else None)
            else:
                out.append([[x, c] for x, c in v.items()])
        return out

    def load(ev, data):
        acc = [ev]
        for n, (k, v) in enumerate(zip(kinds_t[1:], data), start=1):
            if k == _V:
                acc.append(v)
            elif k == _LIST:
                acc.append(list(v))
            elif k == _PLUGIN:
                agg = template[n]()
                if v is not None and hasattr(agg, "restore"):
                    agg.restore(v)
                acc.append(agg)
            else:
                acc.append({(tuple(x) if isinstance(x, list) else x): c for x, c in v})
        return acc

    return AggSpec(new_acc, update, lambda acc: [fn(acc) for fn in fins_t], leave, dump, load)


def _combine(fns):
    if not fns:
        return None
    if len(fns) == 1:
        return fns[0]
    fs = tuple(fns)

    def both(acc, ev):
        for f in fs:
            f(acc, ev)
    return both
