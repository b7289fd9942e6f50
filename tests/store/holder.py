"""A second process that holds a data directory's embedded stores open for writing.

RocksDB's lock is per process, so a test that wants to read stores "while a pipeline
holds them" needs the writer in another process. The holder opens both stores (so
it holds both locks), then runs the Python statements the test sends it, one per
line, with ``tables`` (an :class:`EmbeddedTableStore`) and ``kv`` (an
:class:`EmbeddedKeyValueStore`) in scope.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_CODE = """
import sys, traceback
from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore
tables, kv = EmbeddedTableStore(sys.argv[1]).open(), EmbeddedKeyValueStore(sys.argv[1]).open()
tables.tables(), kv.keys()
print("ready", flush=True)
for line in sys.stdin:
    try:
        exec(line, {"tables": tables, "kv": kv})
        print("ok", flush=True)
    except Exception as exc:
        print("error", repr(exc).replace("\\n", " "), flush=True)
"""


class StoreHolder:
    """Hold ``data_dir``'s stores in a child process; ``holder("kv.sadd('s', 'm')")`` writes.

    Use as a context manager; leaving it ends the child (its locks go with it).
    """

    def __init__(self, data_dir: Path) -> None:
        self._proc = subprocess.Popen([sys.executable, "-c", _CODE, str(data_dir)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        ready = self._proc.stdout.readline().strip()
        assert ready == "ready", f"the holder did not start: {ready!r}"

    def __call__(self, statement: str) -> None:
        self._proc.stdin.write(statement + "\n")
        self._proc.stdin.flush()
        reply = self._proc.stdout.readline().strip()
        assert reply == "ok", f"holder: {statement}: {reply}"

    def __enter__(self) -> StoreHolder:
        return self

    def __exit__(self, *exc) -> None:
        self._proc.stdin.close()
        self._proc.wait(timeout=60)
