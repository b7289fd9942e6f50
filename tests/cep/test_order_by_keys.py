"""Order-by keys that are not selected, evaluated on each row's event (unit level; the
Esper differential tests are in tests/cep/esper/test_esper_order_by_keys.py)."""

from __future__ import annotations

import pytest

from squall.cep import EPLCompileError, EPLEngine, ExternalClock
from squall.cep.select import OutputModel

T = "T"


def _rows(rule: str, events: list[dict]):
    engine = EPLEngine(ExternalClock(0))
    st = engine.compile(rule)[0]
    seen = []
    st.add_listener(lambda new, old: seen.append((new, old)))
    engine.send_many(T, events)
    return st, seen


_EVENTS = [{"k": "a", "v": 5, "w": 1}, {"k": "b", "v": 2, "w": 3}, {"k": "c", "v": 9, "w": 2}]


def test_unselected_property_sorts_rows_and_stays_out_of_them():
    st, seen = _rows("select k from T#length_batch(3) order by v", _EVENTS)
    assert seen == [([{"k": "b"}, {"k": "a"}, {"k": "c"}], [])]
    assert st.columns == ("k",)


def test_selected_and_unselected_keys_mix():
    _, seen = _rows("select k as x, w from T#length_batch(3) order by w * 0, v desc", _EVENTS)
    assert [r["x"] for r in seen[0][0]] == ["c", "a", "b"]


def test_insert_and_remove_streams_are_sorted_apart():
    _, seen = _rows("select irstream k from T#length_batch(3) order by w desc", _EVENTS * 2)
    assert seen[1] == ([{"k": "b"}, {"k": "c"}, {"k": "a"}], [{"k": "b"}, {"k": "c"}, {"k": "a"}])


def test_grouped_statement_ordered_by_an_ungrouped_property_posts_a_row_per_event():
    st, seen = _rows("select k, count(*) as n from T#length_batch(4) group by k order by v",
                     _EVENTS + [{"k": "a", "v": 1, "w": 0}])
    assert st.plan.model is OutputModel.AGGREGATED_GROUPED
    assert seen[0][0] == [{"k": "a", "n": 2}, {"k": "b", "n": 1}, {"k": "a", "n": 2}, {"k": "c", "n": 1}]


def test_fully_aggregated_statement_keeps_one_row():
    st, seen = _rows("select count(*) as n from T#length_batch(3) order by v", _EVENTS)
    assert st.plan.model is OutputModel.FULLY_AGGREGATED and seen == [([{"n": 3}], [])]


def test_insert_into_gets_rows_without_the_hidden_key():
    engine = EPLEngine(ExternalClock(0))
    _, reader = engine.compile("insert into R select k from T#length_batch(3) order by v desc; "
                               "select * from R")
    seen = []
    reader.add_listener(lambda new, old: seen.extend(new))
    engine.send_many(T, _EVENTS)
    assert seen == [{"k": "c"}, {"k": "a"}, {"k": "b"}]


def test_output_clause_can_deliver_a_row_again():
    # output snapshot delivers the held rows at each output: the hidden key must survive
    _, seen = _rows("select k from T#length(2) output snapshot every 2 events order by v", _EVENTS * 2)
    assert [[r["k"] for r in new] for new, _ in seen] == [["b", "a"], ["a", "c"], ["b", "c"]]


def test_unselected_aggregate_is_rejected_as_in_esper():
    with pytest.raises(EPLCompileError, match="Aggregate functions in the order-by clause must also "
                                              "occur in the select expression"):
        EPLEngine(ExternalClock(0)).compile(
            "select k, count(*) from T#length(3) group by k order by v, sum(v)")
