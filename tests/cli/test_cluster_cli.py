"""Storm's topology commands, run as a user runs them: ``python -m squall ...`` in its
own process. ``squall local`` on a native topology (this process, then 2 Ray worker
processes) and on a streamparse project stopped by Ctrl-C; ``submit``/``list``/
``deactivate``/``activate``/``kill`` against a real ``ray start --head`` cluster; and
the errors, each one ``squall: error:`` line with exit code 2.

The topologies' sinks are ListSink journals in this process's kit directory
(``SQUALL_TESTKIT_DIR`` given to the commands), so this process reads what the
command's workers received.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from squall.cli.cluster import load_topology
from squall.testing import ListSink
from tests.cli import cluster_topos

ROOT = Path(__file__).resolve().parents[2]
STREAMPARSE_TOPOLOGY = ROOT / "tests" / "multilang" / "components" / "streamparse_wordcount" / "topologies" \
    / "wordcount_topology.py"
# words in one round of the streamparse project's four sentences
STREAMPARSE_WORDS_PER_ROUND = 26
# A guard against a hang, never a speed claim.
GIVE_UP_S = 180

SUMMARY = re.compile(r"^\s+(\S+)\s+(spout|bolt)\s+tasks (\d+)\s+emitted ([\d,]+)\s+acked ([\d,]+)\s+"
                     r"failed ([\d,]+)", re.M)


def _summary(stdout: str) -> dict[str, tuple[int, int, int]]:
    """component -> (emitted, acked, failed) from the lines printed at the end."""
    return {m[1]: tuple(int(m[i].replace(",", "")) for i in (4, 5, 6)) for m in SUMMARY.finditer(stdout)}


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    """The commands' environment: this process's kit directory, no $RAY_ADDRESS."""
    kit = Path(ListSink("cli-probe").journal).parent
    out = {**os.environ, "SQUALL_TESTKIT_DIR": str(kit)}
    out.pop("RAY_ADDRESS", None)
    return out


def squall(*args: str, env: dict[str, str], check_rc: int | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "squall", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=GIVE_UP_S)
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.stdout, proc.stderr)
    return proc


def _final_counts(rows) -> Counter:
    final = Counter()
    for word, n in rows:
        final[word] = max(final[word], n)
    return final


# -- squall local ---------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_local_runs_a_bounded_topology_to_its_end(env, workers):
    ListSink.reset(cluster_topos.WORDCOUNT_SINK)
    proc = squall("local", "tests.cli.cluster_topos:word_count", "--workers", str(workers), "--progress", "0",
                  env=env, check_rc=0)
    assert "topology word_count ended after" in proc.stdout
    words = sum(cluster_topos.expected_counts().values())
    sentences = len(cluster_topos.SENTENCES)
    assert _summary(proc.stdout) == {"sentences": (sentences, sentences, 0), "split": (words, sentences, 0),
                                     "count": (words, words, 0), "sink": (0, words, 0)}
    rows = ListSink.values(cluster_topos.WORDCOUNT_SINK)
    assert len(rows) == words
    # Running counts per task: a word reaching its total means one task saw all of it.
    assert _final_counts(rows) == cluster_topos.expected_counts()


def test_local_in_process_gives_the_callers_signal_handlers_back():
    """Run from Python (click's CliRunner, a notebook), ``squall local`` installs its stop
    handlers for the run only: afterwards Ctrl-C is the caller's again."""
    from click.testing import CliRunner

    from squall.cli import main

    def callers(*_):
        pass
    signals = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.signal(sig, callers) for sig in signals}
    try:
        ListSink.reset(cluster_topos.WORDCOUNT_SINK)
        res = CliRunner().invoke(main, ["local", "tests.cli.cluster_topos:word_count", "--progress", "0"])
        assert res.exit_code == 0, res.output
        assert "topology word_count ended after" in res.stdout
        assert {sig: signal.getsignal(sig) for sig in signals} == {sig: callers for sig in signals}
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_local_runs_a_streamparse_project_until_ctrl_c(env, tmp_path):
    config = tmp_path / "storm.yaml"
    config.write_text("topology.message.timeout.secs: 45\nwordcount.repeat: 7\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "squall", "local", str(STREAMPARSE_TOPOLOGY), "--progress", "0.2",
         "--config", str(config), "-c", "wordcount.repeat=2", "-c", "topology.message.timeout.secs=20"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    seen = []
    give_up = time.monotonic() + GIVE_UP_S
    try:
        # The project's spout emits its sentences wordcount.repeat times, then nothing:
        # once its 8 trees are acked, Ctrl-C (to this process only, as `kill -INT`).
        while "spouts: emitted 8 acked 8 failed 0" not in "".join(seen[-1:]):
            assert proc.poll() is None and time.monotonic() < give_up, "".join(seen)
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        proc.send_signal(signal.SIGINT)
        proc.wait(GIVE_UP_S)    # stderr is the reader's; stdout holds only the summary
        stdout = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(GIVE_UP_S)
    while not lines.empty():
        seen.append(lines.get())
    stderr = "".join(seen)
    assert proc.returncode == 128 + signal.SIGINT, (stdout, stderr)
    # --conf wins over the file; the value was read as a number (resolve refuses a string)
    assert "SIGINT: stopping (spouts stopped, up to 20 s for tuples in flight)" in stderr
    assert "topology wordcount_topology stopped by SIGINT" in stdout
    words = 2 * STREAMPARSE_WORDS_PER_ROUND
    # The components ran unchanged as shell components: split emits words, count
    # emits a running count per word; every tree was acked.
    assert _summary(stdout) == {"sentences": (8, 8, 0), "split": (words, 8, 0), "count": (words, words, 0)}


STORM_PY_TOPOLOGY = """\
import sys
from pathlib import Path

from squall.multilang import ShellBolt
from squall.testing import ListSink, ListSpout
from squall.topology import TopologyBuilder

from tests.cli.cluster_topos import SENTENCES


def topology():
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout([[s] for s in SENTENCES], ["sentence"]))
    split = ShellBolt([sys.executable, "splitsentence.py"], ["word"], cwd=str(Path(__file__).parent))
    b.set_bolt("split", split, 2).shuffle_grouping("sentences")
    b.set_bolt("sink", ListSink("cli-storm-py")).shuffle_grouping("split")
    return b
"""


def test_local_runs_shell_bolts_written_against_storm_py(env, tmp_path):
    if shutil.which("mvn") is None:
        pytest.skip("mvn is not installed: it fetches Storm's multilang jars (.ci/run installs it)")
    from tests.multilang.storm_adapters import extract_storm_adapters

    extract_storm_adapters(tmp_path, ("multilang-python",))
    shutil.copy(ROOT / "tests" / "multilang" / "components" / "splitsentence.py", tmp_path)
    (tmp_path / "storm_py_topology.py").write_text(STORM_PY_TOPOLOGY)
    ListSink.reset("cli-storm-py")
    proc = squall("local", f"{tmp_path / 'storm_py_topology.py'}:topology", "--progress", "0", env=env,
                  check_rc=0)
    words = sorted(w for s in cluster_topos.SENTENCES for w in s.split(" "))
    sentences = len(cluster_topos.SENTENCES)
    assert _summary(proc.stdout) == {"sentences": (sentences, sentences, 0), "split": (len(words), sentences, 0),
                                     "sink": (0, len(words), 0)}
    assert sorted(w for (w,) in ListSink.values("cli-storm-py")) == words


def test_load_topology_accepts_each_shape(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "cli_shapes_mod.py").write_text(
        "from tests.cli.cluster_topos import word_count, word_count_builder\n"
        "TOPOLOGY = word_count()\n"
        "BUILDER = word_count_builder()\n"
        "make_builder = word_count_builder\n")
    for target, name in [("cli_shapes_mod:TOPOLOGY", "TOPOLOGY"), ("cli_shapes_mod:BUILDER", "BUILDER"),
                         ("cli_shapes_mod:make_builder", "make_builder"),
                         (f"{tmp_path / 'cli_shapes_mod.py'}:TOPOLOGY", "TOPOLOGY")]:
        loaded = load_topology(target)
        assert (loaded.name, sorted(loaded.topology.components)) == (name, ["count", "sentences", "sink", "split"])
    loaded = load_topology(f"{STREAMPARSE_TOPOLOGY}:WordCount")
    assert loaded.conf == {"wordcount.repeat": 5}
    assert {c: loaded.topology.components[c].parallelism for c in loaded.topology.components} == \
        {"sentences": 1, "split": 2, "count": 3}
    assert load_topology(str(STREAMPARSE_TOPOLOGY)).name == "wordcount_topology"


# -- errors: one line, exit code 2 ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, message", [
    (["local", "tests.cli.cluster_topos:nope"], "module tests.cli.cluster_topos has no attribute 'nope'"),
    (["local", "tests.cli.cluster_topos:NOT_A_TOPOLOGY"], "is int, not a Topology"),
    (["local", "no_such_module_xyz:topology"], "no module named 'no_such_module_xyz'"),
    (["local", "tests.cli.cluster_topos"], "name the topology as MODULE:ATTR"),
    (["local", "no/such/file.py"], "no/such/file.py: no such file"),
    (["local", "tests/cli/cluster_topos.py"], "defines no streamparse Topology subclass"),
    (["local", "tests.cli.cluster_topos:word_count", "-c", "novalue"], "--conf 'novalue': expected KEY=VALUE"),
    (["local", "tests.cli.cluster_topos:word_count", "-c", "topology.message.timeout.secs=soon"],
     "topology.message.timeout.secs must be int or float, got 'soon'"),
    (["local", "tests.cli.cluster_topos:word_count", "-c", "topology.mesage.timeout.secs=3"],
     "did you mean 'topology.message.timeout.secs'"),
    (["submit", "tests.cli.cluster_topos:word_count", "--name", "a/b", "--address", "127.0.0.1:1"],
     "topology name 'a/b': must be non-empty without any of"),
    (["rebalance", "wc"], "rebalance: give --workers N and/or --executors COMPONENT=N"),
    (["rebalance", "wc", "-e", "count=0"], "--executors 'count=0': expected COMPONENT=N with N >= 1"),
])
def test_errors_are_one_line(env, args, message):
    proc = squall(*args, env=env, check_rc=2)
    assert proc.stderr.count("squall: error:") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_config_file_that_is_not_a_mapping(env, tmp_path):
    config = tmp_path / "storm.yaml"
    config.write_text("- topology.workers\n- 2\n")
    proc = squall("local", "tests.cli.cluster_topos:word_count", "--config", str(config), env=env, check_rc=2)
    assert f"squall: error: --config {config}: expected a mapping of config keys (as in storm.yaml), got list" \
        in proc.stderr


def test_no_cluster_at_the_address(env):
    port = _free_port()
    proc = squall("list", "--address", f"127.0.0.1:{port}", env=env, check_rc=2)
    assert f"squall: error: no Ray cluster answers at 127.0.0.1:{port}" in proc.stderr
    assert f"`ray start --head --port {port}`" in proc.stderr


def test_without_ray_the_error_names_the_extra(env, tmp_path):
    fake = tmp_path / "ray"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n")
    proc = squall("list", env={**env, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}, check_rc=2)
    assert proc.stderr == ("squall: error: the cluster runtime (squall.cluster: worker processes on Ray, "
                           "--workers, squall submit) needs the Python package 'ray', which is not installed: "
                           "pip install 'squall[ray]'\n")


# -- a real cluster: ray start --head ------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_head(env):
    """A Ray cluster started as a user does (`ray start --head`) on a free loopback port,
    with a token of its own; yields (address, the commands' environment)."""
    ray_bin = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    if not Path(ray_bin).exists():
        pytest.skip("the `ray` command is not installed (pip install 'squall[ray]')")
    port = _free_port()
    # Short: Ray's unix sockets live under it, and their paths are limited to 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="sq-ray-", dir="/tmp")
    cluster_env = {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
                   # no 30 s node drain when the test stops the cluster
                   "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    log_path = Path(temp_dir) / "ray-start.log"
    with open(log_path, "w") as log:
        head = subprocess.Popen(
            [ray_bin, "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1",
             "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", temp_dir],
            env=cluster_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        give_up = time.monotonic() + GIVE_UP_S
        while "block forever" not in log_path.read_text():
            assert head.poll() is None and time.monotonic() < give_up, log_path.read_text()
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", cluster_env
    finally:
        head.terminate()
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_for(what: str, check) -> None:
    give_up = time.monotonic() + GIVE_UP_S
    while not check():
        assert time.monotonic() < give_up, f"gave up waiting for {what}"
        time.sleep(0.2)


def _list_rows(address: str, env: dict[str, str]) -> list[list[str]]:
    out = squall("list", "--address", address, env=env, check_rc=0).stdout
    if out.strip() == "No topologies running.":
        return []
    return [line.split() for line in out.splitlines()[2:] if not line.startswith(" ")]


def test_submit_list_deactivate_activate_kill_on_a_cluster(ray_head):
    address, env = ray_head
    ListSink.reset(cluster_topos.ENDLESS_SINK)

    def received() -> int:
        return len(ListSink.values(cluster_topos.ENDLESS_SINK))

    proc = squall("submit", "tests.cli.cluster_topos:endless", "--name", "endless", "--workers", "2",
                  "--address", address, env=env, check_rc=0)
    assert f"Submitted topology: endless (2 workers, 2 tasks) to the Ray cluster at {address}" in proc.stdout
    _wait_for("the first tuples", lambda: received() >= 10)
    rows = _list_rows(address, env)
    assert len(rows) == 1 and rows[0][:4] == ["endless", "ACTIVE", "2", "2"] and rows[0][5] == "running", rows

    proc = squall("submit", "tests.cli.cluster_topos:endless", "--name", "endless", "--address", address,
                  env=env, check_rc=2)
    assert "squall: error: a topology named 'endless' is already running on this cluster" in proc.stderr

    assert squall("deactivate", "endless", "--address", address, env=env, check_rc=0).stdout == \
        "Deactivated topology: endless\n"
    assert _list_rows(address, env)[0][:2] == ["endless", "INACTIVE"]
    # The spout stops: the sink's count stops changing (while active it grows every 5 ms).
    counts = [received()]

    def still() -> bool:
        time.sleep(1.0)
        counts.append(received())
        return counts[-1] == counts[-2]
    _wait_for("the flow to stop", still)

    assert squall("activate", "endless", "--address", address, env=env, check_rc=0).stdout == \
        "Activated topology: endless\n"
    assert _list_rows(address, env)[0][:2] == ["endless", "ACTIVE"]
    _wait_for("the flow to resume", lambda: received() > counts[-1] + 10)

    proc = squall("rebalance", "endless", "--workers", "1", "--address", address, env=env, check_rc=2)
    assert "squall: error: rebalancing 'endless' needs checkpoints" in proc.stderr

    proc = squall("kill", "nosuch", "--address", address, env=env, check_rc=2)
    assert f"squall: error: no topology named 'nosuch' (running: ['endless']) on the Ray cluster at {address}" \
        in proc.stderr
    assert squall("kill", "endless", "--wait", "5", "--address", address, env=env, check_rc=0).stdout == \
        "Killed topology: endless\n"
    assert _list_rows(address, env) == []
    # Killed: its workers are gone, so nothing more arrives.
    after_kill = received()
    assert squall("list", "--address", address, env=env, check_rc=0).stdout == "No topologies running.\n"
    assert received() == after_kill


def test_rebalance_on_a_cluster_moves_a_checkpointed_topology(ray_head, tmp_path):
    address, env = ray_head
    ListSink.reset(cluster_topos.ENDLESS_SINK)
    squall("submit", "tests.cli.cluster_topos:endless_stateful", "--name", "moving", "--workers", "2",
           "--state-dir", tmp_path / "state", "--address", address, env=env, check_rc=0)
    _wait_for("the first tuples", lambda: len(ListSink.values(cluster_topos.ENDLESS_SINK)) >= 10)
    assert squall("rebalance", "moving", "--workers", "1", "--address", address, env=env,
                  check_rc=0).stdout == "Rebalanced topology: moving\n"
    assert _list_rows(address, env)[0][:4] == ["moving", "ACTIVE", "2", "1"]
    before = len(ListSink.values(cluster_topos.ENDLESS_SINK))
    _wait_for("the flow after the move", lambda: len(ListSink.values(cluster_topos.ENDLESS_SINK)) > before + 10)
    squall("kill", "moving", "--address", address, env=env, check_rc=0)
    numbers = [v[0] for v in ListSink.values(cluster_topos.ENDLESS_SINK)]
    assert set(range(max(numbers) + 1)) <= set(numbers), "a number was lost in the move"
