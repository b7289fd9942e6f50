"""Storm's JSON framing as the child's stdout delivers it: in pieces of any size."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.multilang import JsonSerializer, ShellProtocolError

MESSAGES = [{"command": "emit", "anchors": ["7"], "tuple": ["snow", 1.5, None, True]},
            [3, 4], {"command": "ack", "id": "7"}, {"command": "log", "msg": "été ✓ \u2028 end"},
            {"command": "emit", "tuple": ["a\nend\nb"]}]


class Trickle:
    """A pipe that hands out the bytes in the given sizes, as read1 on a pipe does."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.pos = data, sizes, 0

    def read1(self, n: int) -> bytes:
        size = min(n, self.sizes[self.pos % len(self.sizes)] if self.sizes else n)
        out = self.data[self.pos:self.pos + size] if size else b""
        self.pos += len(out)
        return out


def _framed(messages, line_end=b"\n", pretty=False) -> bytes:
    out = b""
    for m in messages:
        body = json.dumps(m, indent=1 if pretty else None, ensure_ascii=False).encode()
        out += body.replace(b"\n", line_end) + line_end + b"end" + line_end
    return out


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=8), line_end=st.sampled_from([b"\n", b"\r\n"]),
       pretty=st.booleans(), blank=st.booleans())
def test_messages_come_out_whole_whatever_the_chunking(sizes, line_end, pretty, blank):
    data = _framed(MESSAGES, line_end, pretty)
    if blank:       # blank lines between messages carry nothing
        data = data.replace(b"end" + line_end, b"end" + line_end + line_end, 2)
    assert list(JsonSerializer().messages(Trickle(data, sizes), "split[3]")) == MESSAGES


@pytest.mark.parametrize("sizes", [[1], [5], [1 << 16]])
def test_a_stray_print_is_reported_with_its_line_before_the_next_message_ends(sizes):
    data = _framed(MESSAGES[:1]) + b"debug: got a tuple\n" + b'{"command": "ack", "id": "1"}\n'
    got = []
    with pytest.raises(ShellProtocolError, match=r"split\[3\].*not a multilang message.*'debug: got a tuple'"):
        for m in JsonSerializer().messages(Trickle(data, sizes), "split[3]"):
            got.append(m)
    assert got == MESSAGES[:1]


@pytest.mark.parametrize("data, reason", [
    (b'{"command": "ack"} trailing\nend\n', r"not JSON \(more text after the document"),
    (b'{"command": "ack", }\nend\n', r"not JSON"),
    (b'{"command": "ack"}\n', r"closed its output in the middle of a message"),
    (b'\xff{"command": "ack"}\nend\n', r"not a multilang message|not UTF-8"),
    (b'{"command": "\xff"}\nend\n', r"not UTF-8"),
    (b'end\n', r"not a multilang message.*'end'"),
])
def test_broken_messages_are_protocol_errors_naming_the_component(data, reason):
    with pytest.raises(ShellProtocolError, match=r"split\[3\].*" + reason):
        list(JsonSerializer().messages(Trickle(data, [1 << 16]), "split[3]"))


def test_a_last_end_without_a_final_newline_still_ends_the_message():
    assert list(JsonSerializer().messages(Trickle(b'[1]\nend\n{"a": 2}\nend', [3]), "c[1]")) == [[1], {"a": 2}]
