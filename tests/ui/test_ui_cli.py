"""``--ui`` on ``squall local``: the run's UI is served while it runs, with the token
given, and stops with it (CliRunner in this process; the run is stopped by SIGINT as a
user's Ctrl-C)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from click.testing import CliRunner

from squall.cli import main

TOKEN = "cli-t0ken"
_HANG_GUARD_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _poke(url: str, seen: dict) -> None:
    """While the command runs: read the UI, deactivate through it, then Ctrl-C."""
    deadline = time.monotonic() + _HANG_GUARD_S
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            while time.monotonic() < deadline:
                try:
                    (row,) = client.get("/api/v1/topology/summary").json()["topologies"]
                    page = client.get(f"/api/v1/topology/{row['id']}").json()
                except (httpx.TransportError, ValueError):
                    time.sleep(0.05)
                    continue
                if page["spouts"][0]["acked"] > 0:
                    break
                time.sleep(0.05)
            seen["summary"] = row
            seen["refused"] = client.post(f"/api/v1/topology/{row['id']}/deactivate").status_code
            seen["deactivate"] = client.post(f"/api/v1/topology/{row['id']}/deactivate",
                                             headers={"Authorization": f"Bearer {TOKEN}"}).status_code
    finally:
        os.kill(os.getpid(), signal.SIGINT)


def test_local_with_ui_serves_the_run_while_it_runs():
    port = _free_port()
    seen: dict = {}
    poker = threading.Thread(target=_poke, args=(f"http://127.0.0.1:{port}", seen), daemon=True)
    poker.start()
    result = CliRunner().invoke(main, ["local", "tests.ui.ui_topos:numbers", "--progress", "0",
                                       "--ui", f"127.0.0.1:{port}", "--ui-token", TOKEN])
    poker.join(_HANG_GUARD_S)
    assert result.exit_code == 128 + signal.SIGINT, result.output
    assert f"Squall UI at http://127.0.0.1:{port}/" in result.output
    assert TOKEN not in result.output, "a token given is never echoed"
    row = seen["summary"]
    assert {k: row[k] for k in ("id", "name", "status", "workersTotal", "executorsTotal", "tasksTotal")} == \
        {"id": "numbers", "name": "numbers", "status": "ACTIVE", "workersTotal": 1, "executorsTotal": 2,
         "tasksTotal": 2}
    assert (seen["refused"], seen["deactivate"]) == (401, 200)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/topology/summary", timeout=2)


@pytest.mark.parametrize("value", ["abc", "host:", "127.0.0.1:99999", ":80"])
def test_a_bad_ui_address_is_a_usage_error(value):
    result = CliRunner().invoke(main, ["local", "tests.ui.ui_topos:numbers", "--ui", value])
    assert result.exit_code == 2 and "[HOST:]PORT" in result.output


def test_submit_to_a_running_cluster_with_ui_points_to_squall_ui():
    # Submit returns at once there, so a UI it served would end with it: refused before joining.
    result = CliRunner().invoke(main, ["submit", "tests.ui.ui_topos:numbers", "--name", "n",
                                       "--address", "127.0.0.1:1", "--ui", "0"])
    assert result.exit_code == 2 and "squall ui --address 127.0.0.1:1" in result.output, result.output


@pytest.mark.parametrize("command", [["submit", "tests.ui.ui_topos:numbers", "--name", "n"],
                                     ["smartcar", "run"]])
def test_submit_and_smartcar_run_check_the_ui_address(command):
    result = CliRunner().invoke(main, [*command, "--ui", "host:"])
    assert result.exit_code == 2 and "[HOST:]PORT" in result.output, result.output


def test_submit_with_ui_serves_the_in_process_ray_run(tmp_path):
    pytest.importorskip("ray")
    import subprocess
    import sys

    from prometheus_client.parser import text_string_to_metric_families

    port = _free_port()
    err = tmp_path / "err"
    proc = subprocess.Popen([sys.executable, "-m", "squall", "submit", "tests.ui.ui_topos:numbers", "--name", "nums",
                             "--workers", "2", "--ui", f"127.0.0.1:{port}", "--ui-token", TOKEN],
                            stdout=subprocess.DEVNULL, stderr=err.open("w"))
    try:
        deadline = time.monotonic() + 4 * _HANG_GUARD_S     # Ray starts in the child first
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            while True:
                assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
                try:
                    rows = client.get("/api/v1/topology/summary").json()["topologies"]
                except (httpx.TransportError, ValueError):
                    rows = []
                if rows:
                    break
                time.sleep(0.2)
            families = {f.name for f in text_string_to_metric_families(client.get("/metrics").text)}
        (row,) = rows
        assert {k: row[k] for k in ("id", "name", "status", "workersTotal")} == \
            {"id": "nums", "name": "nums", "status": "ACTIVE", "workersTotal": 2}
        assert {"squall_acked", "squall_emitted", "squall_topology_active"} <= families
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(_HANG_GUARD_S)
    assert "Squall UI at http://127.0.0.1:" in err.read_text()
