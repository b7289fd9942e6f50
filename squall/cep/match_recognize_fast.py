"""The fast path of ``match_recognize``: the NFA of :mod:`squall.cep.match_recognize`
determinised at compile time and run as generated Python code, for the statements whose
every decision depends only on which ``define`` conditions each event meets.

Which statements: no ``interval``, no ``prev()``, and every ``define`` of the form
``property OP literal`` (or none). Then each condition reads only the event it tests, so
the general operator's step on a partition depends on the event only through the set of
conditions it meets (a bit *mask*), and on the partition only through its partial matches'
NFA states and which of them began together (Esper's ranking and ``after match skip``
compare first events: entries are kept in first-event order, so equal first events are
recorded as groups, not seq numbers). That abstract *configuration* is finite for most
patterns: every configuration reachable under every mask sequence is enumerated when the
statement compiles (up to :data:`MAX_CONFIGS`), by running the general operator's step on
the abstract state, with its ranking and skip rules. A statement whose configurations do
not fit runs on the general operator.

The events a partial match holds are not needed for any decision: each partial match keeps
its *history*, an immutable cons list ``(older, state index, event)`` shared by the
branches that consumed the same events (its first event bare when the pattern has one
start state), and a completed match's row is computed from it
(events per single variable, event lists per group variable, greedy counts) by the same
measure functions the general operator calls. The only run-time choice is among complete
matches with the same first event (greedy counts, Esper's ``rankEndStates``), made with the
general operator's own comparison.

Per event, the generated loop computes the mask inline (each property read once, each
distinct condition evaluated once), finds the partition's record ``[configuration, history,
...]`` and runs the straight-line code of that (configuration, mask) pair: typically one
tuple and one or two stores. The rows, their order and the events that output them are the
general operator's (tests/cep/test_match_recognize_fast.py runs both on generated inputs).

Hand-over: the fast path never reaches the engine's ``max_pattern_instances`` (a batch that
could is given to the general operator, with the partial matches converted), and a
condition that raises ``TypeError`` on a batch (a property of another type) hands the batch
over too, as the general operator then tests event by event. Snapshots use the general
operator's format (partial matches with their events), so a snapshot restores into either.

Semantics: as :mod:`squall.cep.match_recognize` (Esper 8.9's ``RowRecogNFAView``); the
determinisation is Squall's own.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable

from squall.cep.match_recognize import (
    END,
    Entry,
    MatchRecognizeOperator,
    MatchRecognizePlan,
    NFAState,
    Partition,
    always,
    group_cells,
    group_lists,
)
from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.snapshot import EventTable

__all__ = ["FastPath", "FastMatchRecognizeOperator", "build_fast_path", "MAX_CONFIGS"]

#: Most configurations a statement's fast path may have; beyond it the general operator runs.
MAX_CONFIGS = 64
#: Most partial matches in one configuration.
MAX_ENTRIES = 12
#: Most distinct define conditions (the mask has one bit each).
MAX_CONDITIONS = 6

# The comparison of a define as Python source; the general test is operator.<op>(v, literal)
# ``is True``, and ``v OP literal`` calls the same rich comparison.
_OP_SOURCE = {operator.eq: "==", operator.ne: "!=", operator.lt: "<", operator.le: "<=",
              operator.gt: ">", operator.ge: ">="}
_COMPARE = {src: fn for fn, src in _OP_SOURCE.items()}


class _Transition:
    """One (configuration, mask) step: ``new`` the next configuration's entries as
    (state index, group, source) and ``slots`` the complete matches output (per slot the
    candidates with one first event, as sources); a source is ("e", old entry index,
    accepting state index) or ("s", -1, accepting state index); ``admitted`` the partial
    matches the general operator counts before the skip (for the cap)."""

    __slots__ = ("new", "slots", "admitted", "emptied")

    def __init__(self, new, slots, admitted, emptied):
        self.new, self.slots, self.admitted, self.emptied = new, slots, admitted, emptied


def _canonical(entries) -> tuple:
    """Entries (state index, group, ...) with groups renumbered 0, 1, ... in order."""
    seen: dict[int, int] = {}
    return tuple((e[0], seen.setdefault(e[1], len(seen))) for e in entries)


def _step(plan: MatchRecognizePlan, cfg: tuple, ok: Callable[[NFAState], bool]) -> _Transition:
    """The general operator's step (``on_events`` for one event, ``_advance``,
    ``_complete``, ``_rank_multi``, the skip and ``_output``'s partition removal) on an
    abstract configuration; ``ok(state)``: whether the event meets the state's condition."""
    states = plan.all_states
    nxt: list = []
    ends: list = []

    def advance(group, src, st):
        for n in st.next:
            if n is END:
                ends.append((group, src))
            else:
                nxt.append((n.index, group, src))

    for i, (si, g) in enumerate(cfg):
        st = states[si]
        if ok(st):
            advance(g, ("e", i, si), st)
    new_group = 1 + max((g for _, g in cfg), default=-1)
    for st in plan.start_states:
        if ok(st):
            advance(new_group, ("s", -1, st.index), st)
    admitted = len(nxt)
    slots: list = []
    if ends:
        if plan.all_matches:
            slots = [(g, [src]) for g, src in ends]
        else:
            by_begin: dict[int, list] = {}
            for g, src in ends:
                by_begin.setdefault(g, []).append(src)
            for g in sorted(by_begin):
                lst = by_begin[g]
                if not lst:
                    continue
                slots.append((g, lst))
                if plan.skip == "past last row":
                    # the kept match ends on this event: every later first event is dropped
                    for k in by_begin:
                        if k > g:
                            by_begin[k] = []
        if plan.skip != "to current row":
            for g, _ in slots:
                if plan.skip == "past last row":
                    nxt = []
                else:
                    nxt = [e for e in nxt if e[1] > g]
    emptied = bool(slots) and not nxt
    return _Transition(nxt, [lst for _, lst in slots], admitted, emptied)


def _explore(plan: MatchRecognizePlan, bit_of: list) -> tuple[list, dict] | None:
    """Every configuration reachable from the empty one under every mask, and the
    transitions: (configurations, {(configuration index, mask): _Transition}); None when
    they do not fit the limits."""
    nbits = 1 + max((b for b in bit_of if b is not None), default=-1)
    configs: list[tuple] = [()]
    index = {(): 0}
    trans: dict[tuple[int, int], _Transition] = {}
    k = 0
    while k < len(configs):
        cfg = configs[k]
        for mask in range(1 << nbits):
            t = _step(plan, cfg, lambda st: bit_of[st.index] is None or bool(mask >> bit_of[st.index] & 1))
            new = _canonical(t.new)
            if len(new) > MAX_ENTRIES or t.admitted > MAX_ENTRIES:
                return None
            if new not in index:
                if len(configs) >= MAX_CONFIGS:
                    return None
                index[new] = len(configs)
                configs.append(new)
            trans[(k, mask)] = t
        k += 1
    return configs, trans


class FastPath:
    """The compiled fast path of one statement: the generated batch loop and the tables
    its operator needs. Built by :func:`build_fast_path`."""

    def __init__(self, configs: list, run: Callable, max_admitted: int, source: str) -> None:
        self.configs = configs
        self.index = {c: i for i, c in enumerate(configs)}
        self.run = run
        self.max_admitted = max_admitted
        self.source = source

    def make_operator(self, stmt: StatementHost, plan: MatchRecognizePlan,
                      engine: EngineHost) -> FastMatchRecognizeOperator:
        return FastMatchRecognizeOperator(stmt, plan, engine, self)


def build_fast_path(plan: MatchRecognizePlan, conditions: dict[int, tuple[str, Callable, Any]],
                    partition_property: str | None) -> FastPath | None:
    """The fast path of ``plan``, or None when the statement is outside its shape (see the
    module docs).

    Args:
        plan: the compiled statement (the general operator's plan).
        conditions: per state index with a define, ``(property, comparison, literal)``
            for ``property OP literal``; a state with a define not listed here keeps the
            statement on the general operator.
        partition_property: the property of a ``partition by`` with one property (read
            inline), else None (``plan.partition`` is called).
    """
    if plan.interval_ms is not None or plan.or_terminated or plan.prev_depth:
        return None
    states = plan.all_states
    distinct: dict[tuple, int] = {}
    bit_of: list = []
    for st in states:
        if st.test is always:
            bit_of.append(None)
            continue
        cond = conditions.get(st.index)
        if cond is None or cond[1] not in _OP_SOURCE:
            return None
        prop, fn, value = cond
        key = (prop, _OP_SOURCE[fn], type(value).__name__, repr(value))
        bit_of.append(distinct.setdefault(key, len(distinct)))
    if len(distinct) > MAX_CONDITIONS:
        return None
    explored = _explore(plan, bit_of)
    if explored is None:
        return None
    configs, trans = explored
    tests = [(prop, op, next(cond[2] for i, cond in conditions.items() if bit_of[i] == bit))
             for (prop, op, _, _), bit in sorted(distinct.items(), key=lambda kv: kv[1])]
    ns: dict[str, Any] = {"partition": plan.partition}
    src = _Source(plan, configs, trans, bit_of, tests, ns).module(partition_property)
    code = compile(src, "<match_recognize fast path>", "exec")
    # The source is built here from the pattern's structure alone: property names,
    # literals and functions reach it only as names bound in ``ns``.
    exec(code, ns)
    return FastPath(configs, ns["run"], max((t.admitted for t in trans.values()), default=0), src)


class _Source:
    """Writes the fast path's ``run(events, parts, inst, out) -> (inst, None or the event
    whose condition raised)``: per event the partition's record, then per configuration
    the conditions the general operator would test for it (those of its partial matches'
    states and of the start states, each distinct condition once) and a decision tree on
    them down to the straight-line code of each step.

    When every property the configuration tests holds a float and every literal it
    compares with is a number a float represents exactly, the tests cannot raise and
    give the same booleans against the literal as a float, so they are written inline in
    the tree (float against float is the cheap comparison: against an int literal it
    took a quarter of the step on the benchmark). Constants are default arguments of
    ``run`` (local reads)."""

    def __init__(self, plan, configs, trans, bit_of, tests, ns) -> None:
        self.plan, self.configs, self.trans, self.bit_of = plan, configs, trans, bit_of
        self.index = {c: i for i, c in enumerate(configs)}
        self.tests, self.ns = tests, ns
        self.props: dict[str, str] = {}
        self.floats: dict[int, bool] = {}
        self.codes: dict[tuple[int, int], tuple[str, ...]] = {}
        for bit, (prop, _, value) in enumerate(tests):
            if prop not in self.props:
                self.props[prop] = f"v{len(self.props)}"
                ns[f"P{self.props[prop]}"] = prop
            ns[f"L{bit}"] = value
            exact = type(value) in (int, float, bool) and float(value) == value
            self.floats[bit] = exact
            if exact:
                ns[f"F{bit}"] = float(value)

    def module(self, partition_property: str | None) -> str:
        ns = self.ns
        if partition_property is not None:
            ns["PKEY"] = partition_property
            key_expr = "ev.get(PKEY)"
        elif self.plan.partition is not None:
            key_expr = "partition(ev)"
        else:
            key_expr = "None"
        body = ["    for ev in events:",
                f"        key = {key_expr}",
                "        rec = parts.get(key)",
                "        if rec is None:",
                "            rec = parts[key] = [0]",
                "        c = rec[0]"]
        body += self.configs_tree(list(range(len(self.configs))), 2)
        body.append("    return inst, None")
        ns["type_"], ns["float_"] = type, float
        consts = "".join(f", {k}={k}" for k in ns if k != "__builtins__")
        return "\n".join([f"def run(events, parts, inst, out{consts}):"] + body) + "\n"

    def configs_tree(self, ids: list, depth: int) -> list[str]:
        pad = "    " * depth
        if len(ids) == 1:
            return self.config(ids[0], depth)
        mid = len(ids) // 2
        return ([f"{pad}if c < {ids[mid]}:"] + self.configs_tree(ids[:mid], depth + 1)
                + [f"{pad}else:"] + self.configs_tree(ids[mid:], depth + 1))

    def config(self, c: int, depth: int) -> list[str]:
        """The tests of configuration ``c`` and its decision tree."""
        pad = "    " * depth
        plan = self.plan
        states = [plan.all_states[si] for si, _ in self.configs[c]] + list(plan.start_states)
        bits = sorted({self.bit_of[st.index] for st in states} - {None})
        # the other conditions are not tested: the step does not depend on them
        masks = [sum(1 << b for k, b in enumerate(bits) if combo >> k & 1)
                 for combo in range(1 << len(bits))]
        if not bits:
            return self.masks_tree(c, masks, depth, None)
        props = list(dict.fromkeys(self.props[self.tests[b][0]] for b in bits))
        lines = [f"{pad}{v} = ev.get(P{v})" for v in props]
        general = [pad + "    try:"]
        for bit in bits:
            prop, op, _ = self.tests[bit]
            v = self.props[prop]
            general.append(f"{pad}        t{bit} = {v} is not None and ({v} {op} L{bit}) is True")
        general += [pad + "    except Exception:", pad + "        return inst, ev"]
        general += self.masks_tree(c, masks, depth + 1, lambda b: f"t{b}")
        if all(self.floats[b] for b in bits):
            lines.append(pad + "if " + " and ".join(f"type_({v}) is float_" for v in props) + ":")
            need = sum(1 << b for b in bits)
            real = {r & need for r in self.float_masks()}
            lines += self.masks_tree(c, [m for m in masks if m in real], depth + 1,
                                     self.float_test)
            lines.append(pad + "else:")
            return lines + general
        return lines + [pad + "if True:"] + general

    def code(self, c: int, mask: int) -> tuple[str, ...]:
        key = (c, mask)
        code = self.codes.get(key)
        if code is None:
            code = self.codes[key] = tuple(_transition_code(
                c, self.trans[key], self.configs, self.index, len(self.plan.start_states) == 1))
        return code

    def float_masks(self) -> set[int]:
        """The masks float values can give (conditions on one property exclude each other
        or imply each other: ``speed <= 80`` and ``speed > 80`` are never both true), so
        the float branch's tree does not test what the first tests decided. A condition
        compares with a literal, so its value is constant between two literals: one
        float per interval (and each literal, the infinities and NaN) gives every mask."""
        by_prop: dict[str, list[int]] = {}
        real = {0}
        for bit, (prop, _, _) in enumerate(self.tests):
            if self.floats[bit]:
                by_prop.setdefault(prop, []).append(bit)
            else:   # never in a float branch: either value
                real |= {r | 1 << bit for r in real}
        for prop, bits in by_prop.items():
            cuts = sorted({float(self.tests[b][2]) for b in bits})
            points = [-math.inf, math.inf, math.nan] + cuts
            points += [math.nextafter(a, b) for a, b in zip(cuts, cuts[1:])]
            points += [math.nextafter(cuts[0], -math.inf), math.nextafter(cuts[-1], math.inf)]
            masks = {sum(1 << b for b in bits if _COMPARE[self.tests[b][1]](x, float(self.tests[b][2])))
                     for x in points}
            real = {r | m for r in real for m in masks}
        return real

    def float_test(self, bit: int) -> str:
        prop, op, _ = self.tests[bit]
        return f"{self.props[prop]} {op} F{bit}"

    def masks_tree(self, c: int, masks: list, depth: int, test) -> list[str]:
        """A decision tree on the conditions (``test(bit)``: the expression of one) down
        to the code of each distinct step."""
        pad = "    " * depth
        codes = {m: self.code(c, m) for m in masks}
        if len(set(codes.values())) == 1:
            code = codes[masks[0]]
            return [pad + line for line in code] if code else [pad + "pass"]
        # split on a condition the steps depend on (both sides then differ), else on any
        # condition that splits the masks
        splits = [b for b in range(max(masks).bit_length())
                  if any(m >> b & 1 for m in masks) and not all(m >> b & 1 for m in masks)]
        bit = next((b for b in splits if {codes[m] for m in masks if m >> b & 1}
                    != {codes[m] for m in masks if not m >> b & 1}), splits[0])
        return ([f"{pad}if {test(bit)}:"]
                + self.masks_tree(c, [m for m in masks if m >> bit & 1], depth + 1, test)
                + [f"{pad}else:"]
                + self.masks_tree(c, [m for m in masks if not m >> bit & 1], depth + 1, test))


def _transition_code(c: int, t: _Transition, configs, index, bare_root: bool) -> list[str]:
    """Straight-line code of one step on ``rec`` (the partition's record); ``bare_root``:
    the pattern has one start state, so a history's first event is kept as itself (no
    tuple for the event that starts a match)."""
    old = configs[c]
    new = _canonical(t.new)
    target = index[new]
    lines: list[str] = []
    names: dict[tuple, str] = {}

    def hist(src) -> str:
        name = names.get(src)
        if name is None:
            kind, i, si = src
            if kind == "s" and bare_root:
                return "ev"
            name = names[src] = f"h{len(names)}"
            lines.append(f"{name} = ({'None' if kind == 's' else f'rec[{i + 1}]'}, {si}, ev)")
        return name

    new_exprs = [hist(src) for _, _, src in t.new]
    slot_exprs = ["(" + "".join(hist(src) + ", " for src in lst) + ")" for lst in t.slots]
    delta = len(new) - len(old)
    if delta:
        lines.append(f"inst += {delta}")
    if t.emptied:
        lines.append("del parts[key]")
    elif len(new) == len(old):
        if target != c:
            lines.append(f"rec[0] = {target}")
        for j, e in enumerate(new_exprs):
            lines.append(f"rec[{j + 1}] = {e}")
    else:
        lines.append("rec[:] = (" + ", ".join([str(target)] + new_exprs) + ",)")
    if t.slots:
        lines.append(f"out(key, ({''.join(s + ', ' for s in slot_exprs)}), {t.emptied})")
    return lines


class FastMatchRecognizeOperator(Operator):
    """Runs a ``match_recognize`` statement on its :class:`FastPath` (see the module
    docs), with the general :class:`MatchRecognizeOperator` for hand-overs, ranking and
    snapshots."""

    def __init__(self, stmt: StatementHost, plan: MatchRecognizePlan, engine: EngineHost,
                 fast: FastPath) -> None:
        self.stmt, self.plan, self.engine, self.fast = stmt, plan, engine, fast
        self.general = MatchRecognizeOperator(stmt, plan, engine)
        self.on_general = False
        self.stopped = False
        self.parts: dict[Any, list] = {}
        self.inst = 0
        self.seq = 0
        self._states = plan.all_states

    # -- engine interface

    def on_events(self, events) -> None:
        """Run the batch through the generated loop (see the module docs)."""
        if self.on_general:
            self.general.on_events(events)
            return
        self.stmt.events_in += len(events)
        flt = self.plan.stream_filter
        if flt is not None:
            events = [ev for ev in events if flt(ev)]
        fast = self.fast
        if self.inst + len(events) * fast.max_admitted >= self.engine.max_pattern_instances:
            self._hand_over()
            self.general.step(events)
            return
        self.seq += len(events)
        try:
            self.inst, failed = fast.run(events, self.parts, self.inst, self._output)
        except BaseException:
            # a partition expression, measure or listener raised: the events before it
            # are done, as on the general operator; recount the partial matches
            self.inst = sum(len(r) - 1 for r in self.parts.values())
            raise
        if failed is not None:
            # a condition raised on this event: the general operator then tests event by
            # event what its partial matches need (it may not need the one that raised)
            rest = events[next(i for i, ev in enumerate(events) if ev is failed):]
            self.seq -= len(rest)
            self._hand_over()
            self.general.step(rest)

    def stop(self) -> None:
        self.stopped = True
        self.general.stop()

    def schedule_owners(self) -> dict[tuple, Any]:
        return self.general.schedule_owners()

    # -- output

    def _output(self, key, slots: tuple, emptied: bool) -> None:
        """The matches one event completed, one slot per first event (its candidates in
        the general operator's order); as ``MatchRecognizeOperator._output``, an event
        with several matches of a partition it leaves empty outputs none of them."""
        plan = self.plan
        rows = []
        dropped = False
        for cands in slots:
            if dropped:
                return
            h = cands[0] if len(cands) == 1 else self._best(cands)
            events, groups, _ = self._replay(h)
            row = plan.measures(events, groups)
            rows.append(row if plan.select is None else plan.select(row))
            dropped = emptied and key is not None
        if rows and not self.stopped:
            self.stmt.emit(rows, None)

    def _best(self, cands: tuple):
        """Esper's rankEndStates among matches with one first event (the general
        operator's ``_rank``: the first, unless a later one has better greedy counts)."""
        found = cands[0]
        best = self._replay(found)[2]
        for h in cands[1:]:
            g = self._replay(h)[2]
            if self.general._better(g, best):
                found, best = h, g
        return found

    def _replay(self, h) -> tuple[list, list | None, list]:
        """A history as the general operator's entry: (single events per slot, group
        lists or None, greedy counts per state)."""
        items = []
        base = None
        while h is not None:
            if type(h) is not tuple:    # the first event, on the only start state
                items.append((self.plan.start_states[0].index, h))
                break
            prev, si, ev = h
            if si < 0:
                base = ev
                break
            items.append((si, ev))
            h = prev
        plan, states = self.plan, self._states
        if base is None:
            events, groups, greedy = [None] * plan.num_streams, None, [0] * len(states)
        else:
            events, groups, greedy = list(base[0]), base[1], list(base[2])
            if groups is not None:
                groups = [None if g is None else list(g) for g in groups]
        for si, ev in reversed(items):
            st = states[si]
            if st.multiple:
                if groups is None:
                    groups = [None] * plan.num_multi
                if groups[st.multi] is None:
                    groups[st.multi] = []
                groups[st.multi].append(ev)
            else:
                events[st.stream] = ev
            if st.greedy:
                greedy[si] += 1
        return events, groups, greedy

    # -- hand-over and snapshots: the general operator's state

    def _to_general(self) -> None:
        """Put the partial matches into the general operator (first events numbered
        afresh, in their order per partition: only their order matters)."""
        g = self.general
        g.seq = self.seq
        g.instances = self.inst
        g.partitions = {}
        cfgs = self.fast.configs
        zeros = g._zeros
        for key, rec in self.parts.items():
            p = g.partitions[key] = Partition()
            cfg = cfgs[rec[0]]
            groups = 1 + max((grp for _, grp in cfg), default=-1)
            for (si, grp), h in zip(cfg, rec[1:]):
                events, lists, greedy = self._replay(h)
                cells = None if lists is None else [None if x is None else group_cells(x)
                                                    for x in lists]
                p.states.append(Entry(self.seq - groups + 1 + grp, 0, self._states[si], events,
                                       cells, greedy if g._has_greedy else zeros, key))

    def _from_general(self) -> bool:
        """Take the general operator's partial matches, if each partition's fits a
        configuration; returns whether it did."""
        g = self.general
        if g.held or g.due is not None:
            return False
        index = self.fast.index
        parts: dict[Any, list] = {}
        for key, p in g.partitions.items():
            begins = [e.begin for e in p.states]
            if begins != sorted(begins) or p.prev:
                return False
            cid = index.get(_canonical([(e.state.index, e.begin) for e in p.states]))
            if cid is None:
                return False
            parts[key] = [cid] + [(None, -1, (list(e.events), group_lists(e.groups), list(e.greedy)))
                                  for e in p.states]
        self.parts = parts
        self.inst = sum(len(r) - 1 for r in parts.values())
        self.seq = g.seq
        g.partitions = {}
        g.instances = 0
        return True

    def _hand_over(self) -> None:
        self._to_general()
        self.parts = {}
        self.on_general = True

    def snapshot_state(self, events: EventTable) -> Any:
        if self.on_general:
            return self.general.snapshot_state(events)
        self._to_general()
        try:
            return self.general.snapshot_state(events)
        finally:
            self.general.partitions = {}
            self.general.instances = 0

    def restore_state(self, state: Any, events: list) -> None:
        self.general.restore_state(state, events)
        self.on_general = not self._from_general()
