"""WindowManager without a runtime: Storm's watermark example, jumps over empty windows."""

from __future__ import annotations

from squall.windowing import Duration, WindowManager


def test_storm_docs_watermark_example():
    # Storm docs, "Watermarks": length 20 s, slide 10 s, lag 5 s; e1..e6 at
    # 6:00:03 05 07 18 26 36 -> watermark 6:00:31 fires windows ending :10, :20, :30.
    m = WindowManager(Duration(20_000), Duration(10_000))
    for name, s in (("e1", 3), ("e2", 5), ("e3", 7), ("e4", 18), ("e5", 26), ("e6", 36)):
        assert m.add(s * 1000, name)
    fired = m.advance(36_000 - 5_000)
    assert [(x.start_ms, x.end_ms, x.get()) for x in fired] == [
        (-10_000, 10_000, ["e1", "e2", "e3"]),
        (0, 20_000, ["e1", "e2", "e3", "e4"]),
        (10_000, 30_000, ["e4", "e5"]),
    ]


def test_empty_windows_are_skipped_and_expire_what_they_pass():
    m = WindowManager(Duration(10), Duration(5))
    for ts in (1, 2, 100):
        m.add(ts, ts)
    fired = m.advance(101)
    assert [(x.end_ms, x.get(), x.get_new(), x.get_expired()) for x in fired] == [
        (5, [1, 2], [1, 2], []), (10, [1, 2], [], []), (100, [100], [100], [1, 2])]


def test_watermark_never_goes_back_and_item_at_watermark_is_not_late():
    m = WindowManager(Duration(10), Duration(10))
    m.add(15, "x")
    m.advance(10)
    m.advance(3)
    assert m.watermark_ms == 10
    assert m.add(10, "at") and not m.add(9, "before")
    assert [x.get() for x in m.advance(11)] == [["at"]]   # (0, 10] fires once 10 < watermark


def test_item_before_a_jumped_to_window_is_not_lost():
    m = WindowManager(Duration(10), Duration(5))
    m.add(100, "far")
    assert m.advance(50) == []          # first window would end at 100
    assert m.add(60, "near")            # 60 >= watermark 50: on time, window (50, 60]
    assert [(x.end_ms, x.get()) for x in m.advance(101)] == [
        (60, ["near"]), (65, ["near"]), (100, ["far"])]


def test_timestamp_on_a_slide_boundary_is_in_its_tumbling_window():
    m = WindowManager(Duration(10), Duration(10))
    m.add(10, "b")
    m.add(20, "c")
    fired, held = m.flush()
    assert [(x.start_ms, x.end_ms, x.get()) for x in fired] == [(0, 10, ["b"]), (10, 20, ["c"])]
    assert held == ["c"]
