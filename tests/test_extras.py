"""Optional dependencies stay optional: the base install runs the embedded pipeline.

Each test runs Squall in a subprocess whose ``sitecustomize`` makes importing the
optional packages fail, as on a machine where only ``pip install squall`` ran: every
module that does not need them imports, every command's ``--help`` works, the smart-car
command runs to the end on the simulator and on a replay, and each feature that needs
an extra fails with one line naming the extra (exit 2, no traceback).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.reference_data import SAMPLE

OPTIONAL = ("confluent_kafka", "redis", "hiredis", "happybase", "thriftpy2", "polars", "pyarrow", "sqlglot",
            "fastapi", "uvicorn", "prometheus_client", "starlette", "ray")

# Modules that need an extra, and the extra their error must name.
NEEDS_EXTRA = {
    "squall.connectors.kafka": "kafka",
    "squall.connectors.redis": "redis",
    "squall.connectors.hbase": "hbase",
    "squall.state.redis": "redis",
    "squall_smartcar.kafka_feed": "kafka",
    "squall.microbatch": "microbatch",
    "squall_smartcar.microbatch": "microbatch",
    "squall.ui": "ui",
}

_BLOCKER = f"""
import sys

class _BlockOptional:
    names = {set(OPTIONAL)!r}

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)

sys.meta_path.insert(0, _BlockOptional())
"""


@pytest.fixture(scope="module")
def blocked_env(tmp_path_factory):
    """Environment variables for a subprocess in which the optional packages cannot be imported."""
    site = tmp_path_factory.mktemp("blocked-site")
    (site / "sitecustomize.py").write_text(_BLOCKER)
    import os
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(Path(__file__).resolve().parents[1])])
    return env


def run_py(env, code: str, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=timeout)


def squall(env, *args, cwd=None, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "squall", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_the_blocker_blocks(blocked_env):
    proc = run_py(blocked_env, "import redis")
    assert proc.returncode != 0 and "blocked by the test" in proc.stderr


def test_every_module_imports_without_extras_except_those_that_name_their_extra(blocked_env):
    proc = run_py(blocked_env, f"""
        import importlib, json, pkgutil
        import squall, squall_smartcar
        from squall.extras import MissingExtraError
        needs = {NEEDS_EXTRA!r}
        result = {{}}
        for pkg in (squall, squall_smartcar):
            for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
                name = info.name
                if name.endswith(".__main__"):   # runs the command when imported
                    continue
                if any(name == n or name.startswith(n + ".") for n in needs):
                    continue
                try:
                    importlib.import_module(name)
                    result[name] = "ok"
                except Exception as exc:
                    result[name] = f"{{type(exc).__name__}}: {{exc}}"
        for name in needs:
            try:
                importlib.import_module(name)
                result[name] = "imported"
            except MissingExtraError as exc:
                result[name] = "extra:" + exc.extra
        print(json.dumps(result))
    """)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    base = {name: r for name, r in result.items() if name not in NEEDS_EXTRA}
    assert len(base) > 40, f"the walk found too few modules: {sorted(base)}"
    assert {name: r for name, r in base.items() if r != "ok"} == {}
    assert {name: result[name] for name in NEEDS_EXTRA} == {n: f"extra:{e}" for n, e in NEEDS_EXTRA.items()}


def test_every_help_works_without_extras(blocked_env):
    proc = run_py(blocked_env, """
        import click, json
        from squall.cli import main
        paths = []
        def walk(cmd, path):
            paths.append(path)
            if isinstance(cmd, click.Group):
                ctx = click.Context(cmd)
                for name in cmd.list_commands(ctx):
                    walk(cmd.get_command(ctx, name), path + [name])
        walk(main, [])
        print(json.dumps(paths))
    """)
    assert proc.returncode == 0, proc.stderr
    paths = json.loads(proc.stdout)
    assert ["smartcar", "run"] in paths and ["collect"] in paths and ["rules", "apply"] in paths
    for path in paths:
        res = squall(blocked_env, *path, "--help")
        assert res.returncode == 0 and "Usage:" in res.stdout, (path, res.stderr[-2000:])


def test_simulator_run_to_the_end_without_extras(blocked_env, tmp_path):
    res = squall(blocked_env, "smartcar", "run", "--cars", 10, "--duration", 120, "--data-dir", tmp_path / "d")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "no loss: stored + dead letters = records read (1,200)" in res.stdout


def test_replay_run_to_the_end_without_extras(blocked_env, tmp_path):
    res = squall(blocked_env, "smartcar", "run", "--replay", SAMPLE, "--data-dir", tmp_path / "d")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "no loss: stored + dead letters = records read" in res.stdout
    speeding = squall(blocked_env, "smartcar", "speeding", "--date", "20240101", "--data-dir", tmp_path / "d")
    assert speeding.returncode == 0, speeding.stderr
    assert {"drive9", "live26", "live39"} <= set(speeding.stdout.split())


@pytest.mark.parametrize(("args", "extra"), [
    (("smartcar", "run", "--kafka", "127.0.0.1:1"), "kafka"),
    (("smartcar", "run", "--redis", "redis://127.0.0.1:1/0"), "redis"),
    (("smartcar", "run", "--hbase", "127.0.0.1:1"), "hbase"),
    (("smartcar", "run", "--state-backend", "redis", "--redis", "redis://127.0.0.1:1/0"), "redis"),
    (("smartcar", "produce", "--kafka", "127.0.0.1:1", "--topic", "t", "--cars", 1, "--duration", 1), "kafka"),
    (("collect", "--tail", "cars.log", "--kafka", "127.0.0.1:1", "--topic", "t"), "kafka"),
])
def test_a_feature_without_its_extra_is_one_line(blocked_env, tmp_path, args, extra):
    (tmp_path / "cars.log").write_text("")
    res = squall(blocked_env, *args, "--data-dir", tmp_path / "d", cwd=tmp_path) if args[0] == "smartcar" \
        and args[1] == "run" else squall(blocked_env, *args, cwd=tmp_path)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith("squall: error: ") and f"pip install 'squall[{extra}]'" in lines[0]
