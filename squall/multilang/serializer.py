"""How multilang messages are written to and read from a child process.

Semantics: Storm "Multi-Lang Protocol": every message is JSON followed by a line
``end`` (the delimiter is not JSON); both ends read line by line. pystorm's
``MsgpackSerializer``: msgpack documents back to back, no delimiter.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Iterator
from typing import IO, Any

from ..config import MULTILANG_SERIALIZER, ConfigError
from .errors import ShellProtocolError

__all__ = ["Serializer", "JsonSerializer", "MsgpackSerializer", "serializer_named"]

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

    _CHUNK_BYTES = 1 << 16
    _DELIMITER = b"\nend\n"

    def messages(self, stream: IO[bytes], component: str) -> Iterator[Any]:
        # Whole chunks are split on the delimiter and each message is decoded by the
        # C scanner: line-by-line reading and json.loads cost about 2.5 us a message,
        # more than the rest of a shell bolt's per-message work on our side.
        scan = _scan_once
        read = getattr(stream, "read1", None) or stream.read
        delimiter = self._DELIMITER
        rest = b""
        while True:
            data = read(self._CHUNK_BYTES)
            if not data:
                break
            buf = rest + data if rest else data
            if b"\r" in buf:      # CRLF line ends; a raw CR can only be whitespace in JSON
                buf = buf.replace(b"\r\n", b"\n")
            pieces = buf.split(delimiter)
            rest = pieces.pop()
            for piece in pieces:
                if piece:
                    yield _decode(piece, scan, component)
            if rest and b"\n" in rest:
                _check_start(rest, component)
        if rest.rstrip(b"\n") == b"end" or rest.endswith(b"\nend"):   # the last message, no final newline
            body = rest[:-3].rstrip(b"\n")
            if body:
                yield _decode(body, scan, component)
        elif rest.strip():
            _check_start(rest + b"\n", component)
            raise ShellProtocolError(component, _shown(rest), "closed its output in the middle of a message "
                                     "(no line 'end')")


_scan_once = json.scanner.make_scanner(json.JSONDecoder())
_JSON_SPACE = " \t\n\r"


def _decode(piece: bytes, scan, component: str) -> Any:
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ShellProtocolError(component, _shown(piece), f"wrote a message that is not UTF-8 ({exc})") from exc
    start = 0
    if text[0] not in "{[":
        start = len(text) - len(text.lstrip(_JSON_SPACE))   # blank lines between messages carry nothing
        if start == len(text):
            raise ShellProtocolError(component, "end", "wrote a line 'end' with no message before it")
        if text[start] not in "{[":
            raise ShellProtocolError(component, _shown(text[start:].split("\n", 1)[0].encode()),
                                     _NOT_A_MESSAGE)
    try:
        value, end = scan(text, start)
    except StopIteration as exc:
        raise ShellProtocolError(component, _shown(piece), "wrote a message that is not JSON") from exc
    except ValueError as exc:
        raise ShellProtocolError(component, _shown(piece), f"wrote a message that is not JSON ({exc})") from exc
    if end != len(text) and text[end:].strip(_JSON_SPACE):
        raise ShellProtocolError(component, _shown(piece), "wrote a message that is not JSON (more text after "
                                 "the document, before the line 'end')")
    return value


def _check_start(rest: bytes, component: str) -> None:
    # A stray print is reported as soon as its line is complete, not when the
    # heartbeat times out waiting for an 'end' that never comes.
    body = rest.lstrip(b" \t\n\r")
    if body and body[:1] not in (b"{", b"[") and b"\n" in body:
        raise ShellProtocolError(component, _shown(body.split(b"\n", 1)[0]), _NOT_A_MESSAGE)


_NOT_A_MESSAGE = "wrote a line that is not a multilang message (a JSON object or list followed by a line 'end')"


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
        read = getattr(stream, "read1", None) or stream.read
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


# Storm names the serializer by its Java class; the msgpack ones are third-party
# classes (pyleus's MessagePackSerializer, the one proposed in STORM-1565) that share
# pystorm's framing, so their simple name is what matters.
_BY_SIMPLE_NAME = {"json": JsonSerializer, "jsonserializer": JsonSerializer, "msgpack": MsgpackSerializer,
                   "msgpackserializer": MsgpackSerializer, "messagepackserializer": MsgpackSerializer}


def serializer_named(name: str, where: str = MULTILANG_SERIALIZER) -> Serializer:
    """A new serializer for ``name``: ``"json"``, ``"msgpack"``, or a Storm
    ``topology.multilang.serializer`` class name (``org.apache.storm.multilang.JsonSerializer``,
    Storm's default; a class named ``MessagePackSerializer`` or ``MsgpackSerializer``).

    Raises:
        ConfigError: any other name; the message names ``where`` and the known names.

    >>> type(serializer_named("org.apache.storm.multilang.JsonSerializer")).__name__
    'JsonSerializer'
    >>> type(serializer_named("com.yelp.pyleus.serializer.MessagePackSerializer")).__name__
    'MsgpackSerializer'
    >>> serializer_named("org.example.ThriftSerializer")
    Traceback (most recent call last):
    ...
    squall.config.ConfigError: topology.multilang.serializer: unknown multilang serializer 'org.example.ThriftSerializer'; known: json, msgpack, or a Java class named JsonSerializer, MessagePackSerializer or MsgpackSerializer

    Semantics: Storm ``topology.multilang.serializer`` (``defaults.yaml``:
    ``org.apache.storm.multilang.JsonSerializer``).
    """
    cls = _BY_SIMPLE_NAME.get(str(name).rsplit(".", 1)[-1].lower()) if isinstance(name, str) else None
    if cls is None:
        raise ConfigError(f"{where}: unknown multilang serializer {name!r}; known: json, msgpack, or a Java "
                          f"class named JsonSerializer, MessagePackSerializer or MsgpackSerializer")
    return cls()


def _shown(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."
