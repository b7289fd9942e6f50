"""Components in any language: Storm's multilang protocol over a child's stdin/stdout.

:class:`ShellBolt` and :class:`ShellSpout` run a command in a child process per task
and speak Storm's protocol to it, so components written against Storm's own adapters
(``storm.py``, ``storm.js``, ``storm.rb``) run unchanged. See ``docs/multilang.md``.

Semantics: Storm "Multi-Lang Protocol"; ``ShellBolt``, ``ShellSpout``, ``ShellProcess``.
"""

from .bolt import HEARTBEAT_STREAM, ShellBolt, ShellComponent
from .errors import ShellComponentError, ShellError, ShellProcessError, ShellProtocolError
from .serializer import JsonSerializer, MsgpackSerializer, Serializer, serializer_named
from .spout import ShellSpout
from .streamparse import (StreamparseTopologyError, builder_from_streamparse, load_streamparse_topology,
                          topology_from_streamparse)

__all__ = ["ShellBolt", "ShellSpout", "ShellComponent", "HEARTBEAT_STREAM", "Serializer", "JsonSerializer", "MsgpackSerializer", "serializer_named",
           "ShellError", "ShellProtocolError", "ShellProcessError", "ShellComponentError",
           "builder_from_streamparse", "topology_from_streamparse", "load_streamparse_topology",
           "StreamparseTopologyError"]
