"""The socket text source against real local TCP servers (a Python one, and ``nc`` when installed),
and Flink's SocketWindowWordCount over it."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'squall[microbatch]')")

from squall.errors import SquallError
from squall.microbatch.socket_source import SocketSource, SocketSourceError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "microbatch" / "socket_window_wordcount.py"

TEXT = ("To be, or not to be, that is the question:\n"
        "Whether 'tis nobler in the mind to suffer\n"
        "\n"
        "The slings and arrows of outrageous fortune,\r\n"
        "Or to take arms against a sea of troubles\n")


class Server:
    """A loopback TCP server; each accepted connection is handed to the next of ``sessions``."""

    def __init__(self, *sessions):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, args=(sessions,), daemon=True)
        self.thread.start()

    def _serve(self, sessions):
        for session in sessions:
            conn, _ = self.sock.accept()
            with conn:
                session(conn)
        self.sock.close()          # later connection attempts are refused

    def join(self):
        self.thread.join()


def sending(data):
    return lambda conn: conn.sendall(data)


def lines_of(batches):
    return [line for b in batches for line in b.get_column("line").to_list()]


def test_lines_over_one_connection_end_with_the_servers_close():
    server = Server(sending(TEXT.encode() + b"no newline at the end"))
    batches = list(SocketSource("127.0.0.1", server.port, batch_interval_s=3600).batches())
    server.join()
    assert lines_of(batches) == TEXT.replace("\r\n", "\n").split("\n")[:-1] + ["no newline at the end"]
    assert all(b.columns == ["line"] and b.schema["line"] == pl.String for b in batches)


def test_a_batch_holds_the_lines_received_in_its_interval():
    go = threading.Event()

    def two_parts(conn):
        conn.sendall(b"first\nsecond\npart")       # 'part' completes in the second send
        go.wait()
        conn.sendall(b"ial\nthird\n")
    server = Server(two_parts)
    it = SocketSource("127.0.0.1", server.port, batch_interval_s=0.05).batches()
    seen = []
    while lines_of(seen) != ["first", "second"]:
        seen.append(next(it))
    go.set()
    rest = list(it)
    server.join()
    assert lines_of(rest) == ["partial", "third"]


def test_reconnects_reports_the_outage_once_and_fails_when_retries_are_spent(caplog):
    server = Server(sending(b"a\nb\n"), sending(b"c"))
    errors = []
    src = SocketSource("127.0.0.1", server.port, batch_interval_s=3600, max_retries=4, backoff_initial_s=0.01,
                       backoff_max_s=0.02, on_error=errors.append)
    got = []
    with caplog.at_level(logging.WARNING, logger="squall.microbatch.socket_source"), \
            pytest.raises(SocketSourceError, match=r"127\.0\.0\.1:\d+: cannot connect.*no retry left") as info:
        got.extend(src.batches())
    server.join()
    assert lines_of(got) == ["a", "b", "c"]
    assert src.connections == 2
    assert isinstance(info.value, SquallError) and isinstance(info.value, ConnectionError)
    # Retries: one after each close, then two refused attempts and a third with none left;
    # one outage, reported once.
    assert len(errors) == 1 and "retrying with backoff" in str(errors[0])
    assert [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()] == [str(errors[0])]
    assert src.outage.outages == 1


def test_retries_count_over_the_sources_life_and_the_stream_ends_when_they_are_spent():
    server = Server(sending(b"one\n"), sending(b"two\n"))
    src = SocketSource("127.0.0.1", server.port, batch_interval_s=3600, max_retries=1, backoff_initial_s=0.01)
    got = list(src.batches())
    server.join()
    assert lines_of(got) == ["one", "two"] and src.connections == 2


def test_nothing_listening_and_no_retry_is_an_error_naming_the_address():
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(SocketSourceError, match=rf"socket source 127\.0\.0\.1:{port}: cannot connect"):
        list(SocketSource("127.0.0.1", port).batches())


@pytest.mark.parametrize("kwargs,words", [
    ({"delimiter": ""}, "delimiter"),
    ({"batch_interval_s": 0}, "batch_interval_s"),
    ({"max_batch_lines": 0}, "max_batch_lines"),
    ({"max_retries": -2}, "max_retries"),
    ({"backoff_initial_s": 2, "backoff_max_s": 1}, "backoff"),
])
def test_bad_arguments(kwargs, words):
    with pytest.raises(SocketSourceError, match=words):
        SocketSource("127.0.0.1", 9, **kwargs)


def test_a_custom_delimiter_and_a_line_cap_that_ends_a_batch_before_its_interval():
    go = threading.Event()

    def parts(conn):
        conn.sendall(b"x|")
        go.wait()
        conn.sendall(b"y|z|")
    server = Server(parts)
    # An hour's interval: only the cap can end the first batch (a broken cap hangs here).
    it = SocketSource("127.0.0.1", server.port, delimiter="|", max_batch_lines=1, batch_interval_s=3600).batches()
    assert next(it).get_column("line").to_list() == ["x"]
    go.set()
    rest = list(it)
    server.join()
    assert lines_of(rest) == ["y", "z"]


def _example():
    spec = importlib.util.spec_from_file_location("socket_window_wordcount", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _expected_counts(text):
    return Counter(text.split())


def test_socket_window_word_count_counts_every_word_once():
    server = Server(sending(TEXT.encode()))
    out = []
    # One window spans the whole input: the counts are exact, whatever the timing.
    _example().run("127.0.0.1", server.port, window_s=3600, batch_interval_s=3600, emit=out.append)
    server.join()
    got = Counter()
    for line in out:
        word, _, count = line.rpartition(" : ")
        got[word] += int(count)
    assert got == _expected_counts(TEXT)
    assert len(out) == len(got)                  # one line per word and window


def test_socket_window_word_count_sums_to_the_totals_over_many_windows():
    go = threading.Event()

    def slow(conn):
        for i, line in enumerate(TEXT.splitlines(keepends=True)):
            conn.sendall(line.encode())
            if i == 1:
                go.wait(timeout=30)
    server = Server(slow)
    out = []

    def emit(line):
        out.append(line)
        go.set()                                  # the first window printed: send the rest
    _example().run("127.0.0.1", server.port, window_s=0.1, batch_interval_s=0.05, emit=emit)
    server.join()
    got = Counter()
    for line in out:
        word, _, count = line.rpartition(" : ")
        got[word] += int(count)
    assert got == _expected_counts(TEXT)
    assert len(out) > len(got)                    # some word was in two windows


def _listening(port):
    """True when a socket listens on 127.0.0.1:port (Linux's /proc/net/tcp, state 0A)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if local == f"0100007F:{port:04X}" and state == "0A":
            return True
    return False


@pytest.mark.skipif(shutil.which("nc") is None, reason="nc is not installed (Debian: apt-get install netcat-openbsd)")
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc/net/tcp to see nc listen")
def test_word_count_from_nc(tmp_path):
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    out = []
    with open(text, "rb") as stdin:
        # -N: close the connection at the end of stdin (OpenBSD nc), so the job ends.
        nc = subprocess.Popen(["nc", "-N", "-l", "127.0.0.1", str(port)], stdin=stdin)
        try:
            while not _listening(port):
                assert nc.poll() is None, f"nc exited with {nc.returncode} before listening"
                time.sleep(0.01)
            _example().run("127.0.0.1", port, window_s=3600, batch_interval_s=3600,
                           emit=lambda line: out.append(line.rpartition(" : ")[::2]))
        finally:
            nc.wait(timeout=30)
    assert Counter({w: int(n) for w, n in out}) == _expected_counts(TEXT)
