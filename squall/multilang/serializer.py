"""How multilang messages are written to and read from a child process.

Semantics: Storm "Multi-Lang Protocol": every message is JSON followed by a line
``end`` (the delimiter is not JSON); both ends read line by line. pystorm's
``MsgpackSerializer``: msgpack documents back to back, no delimiter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from .errors import ShellProtocolError

__all__ = ["Serializer", "JsonSerializer", "MsgpackSerializer"]

_SHOWN_CHARS = 200
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Serializer:
    """Encodes messages for the child's stdin and decodes the child's stdout.

    Subclasses define both directions; one instance serves one child process.
    """

    def encode(self, message: Any) -> bytes:
        """The bytes of one message, delimiter included.

        Raises:
            TypeError: a value the format cannot carry.
        """
        raise NotImplementedError

    def messages(self, stream: IO[bytes], component: str) -> Iterator[Any]:
        """Decode messages from ``stream`` until it ends (the child closed stdout).

        Raises:
            ShellProtocolError: the child wrote something that is not a message; the
                error names ``component`` and the offending text.
        """
        raise NotImplementedError


class JsonSerializer(Serializer):
    """Storm's JSON serializer: one JSON document, then a line ``end``.

    A document may span lines, but it must start with ``{`` or ``[``: any other first
    line (a stray ``print``) is reported at once, naming the line, instead of being
    buffered until the heartbeat times out.

    >>> import io
    >>> s = JsonSerializer()
    >>> s.encode({"command": "sync"})
    b'{"command":"sync"}\\nend\\n'
    >>> list(s.messages(io.BytesIO(b'{"pid": 7}\\nend\\n[1, 2]\\nend\\n'), "split[3]"))
    [{'pid': 7}, [1, 2]]
    >>> list(s.messages(io.BytesIO(b'hello\\n'), "split[3]"))
    Traceback (most recent call last):
    ...
    squall.multilang.errors.ShellProtocolError: shell component split[3]: wrote a line that is not a multilang message (a JSON object or list followed by a line 'end'): 'hello'
    """

    def encode(self, message: Any) -> bytes:
        return (_dumps(message) + "\nend\n").encode("utf-8")

    def messages(self, stream: IO[bytes], component: str) -> Iterator[Any]:
        loads = json.loads
        parts: list[bytes] = []
        for line in stream:
            body = line.rstrip(b"\r\n")
            if body == b"end":
                text = b"\n".join(parts)
                parts = []
                try:
                    yield loads(text)
                except ValueError as exc:
                    raise ShellProtocolError(component, _shown(text), f"wrote a message that is not JSON ({exc})") from exc
                continue
            if not parts:
                if not body.strip():
                    continue    # blank lines between messages carry nothing
                if body.lstrip()[:1] not in (b"{", b"["):
                    raise ShellProtocolError(component, _shown(body), "wrote a line that is not a multilang message "
                                             "(a JSON object or list followed by a line 'end')")
            parts.append(body)
        if parts:
            raise ShellProtocolError(component, _shown(b"\n".join(parts)),
                                     "closed its output in the middle of a message (no line 'end')")


class MsgpackSerializer(Serializer):
    """pystorm's msgpack serializer: each message is one msgpack document, with no
    delimiter, from the handshake on. The child must use it too (pystorm:
    ``Bolt(serializer="msgpack")``; streamparse: ``serializer="msgpack"``).

    >>> import io
    >>> s = MsgpackSerializer()
    >>> data = s.encode({"pid": 7}) + s.encode([1, 2])
    >>> list(s.messages(io.BytesIO(data), "split[3]"))
    [{'pid': 7}, [1, 2]]
    """

    _CHUNK_BYTES = 1 << 16

    def encode(self, message: Any) -> bytes:
        import msgpack
        return msgpack.packb(message, use_bin_type=True)

    def messages(self, stream: IO[bytes], component: str) -> Iterator[Any]:
        import msgpack
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        read = getattr(stream, "read1", stream.read)
        fed = 0
        while True:
            data = read(self._CHUNK_BYTES)
            if not data:
                if unpacker.tell() != fed:
                    raise ShellProtocolError(component, "", "closed its output in the middle of a msgpack message")
                return
            fed += len(data)
            unpacker.feed(data)
            try:
                yield from unpacker
            except (ValueError, msgpack.UnpackException) as exc:
                raise ShellProtocolError(component, _shown(data), f"wrote bytes that are not msgpack ({exc})") from exc


def _shown(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."
