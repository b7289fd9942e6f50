"""Plug-in commands: ``squall`` finds commands through the ``squall.commands`` entry
points, imports each only when it runs, and survives a plug-in that cannot load.

Most tests install a fake distribution (a ``.dist-info`` directory with an
``entry_points.txt``, found by importlib.metadata on ``PYTHONPATH``) and run ``squall``
in a subprocess, so the discovery is the real one and ``sys.modules`` starts empty.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest

import squall.cli
from squall.cli import main
from squall.cli.plugins import ENTRY_POINT_GROUP

CLI_DIR = Path(squall.cli.__file__).parent

# Modules a plug-in brings; none may be loaded unless its command runs.
PLUGIN_MODULES = ("squall.cep", "squall_smartcar", "squall_fake")


@pytest.fixture()
def fake_site(tmp_path):
    """A directory holding the distribution squall-fake-plugin 1.0 and its modules."""
    site = tmp_path / "site"
    info = site / "squall_fake_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: squall-fake-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [squall.commands]
        hello = squall_fake_hello:hello
        broken = squall_fake_broken:cmd
        notacommand = squall_fake_value:NOT_A_COMMAND
        table = squall_fake_hello:hello
    """))
    (site / "squall_fake_hello.py").write_text(textwrap.dedent('''\
        import click


        @click.command()
        @click.option("--name", default="world")
        def hello(name):
            """Say hello from a plug-in.

            A second paragraph that the command list does not show.
            """
            click.echo(f"hello, {name}")
    '''))
    (site / "squall_fake_value.py").write_text("NOT_A_COMMAND = 42\n")
    (site / "squall_fake_broken.py").write_text(textwrap.dedent('''\
        import squall_fake_missing_dependency

        import click


        @click.command()
        def cmd():
            """A plug-in whose dependency is not installed."""
    '''))
    return site


def _env(site: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    return env


def squall_cmd(site, *args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "squall", *map(str, args)], env=_env(site), cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def invoke_and_list_modules(site, args, cwd) -> dict:
    """Run ``squall ARGS`` in a fresh interpreter; its exit code, output and the plug-in modules it loaded."""
    code = textwrap.dedent(f"""
        import json, sys
        from click.testing import CliRunner
        from squall.cli import main
        res = CliRunner().invoke(main, {list(map(str, args))!r})
        print(json.dumps({{"exit": res.exit_code, "output": res.output,
                          "loaded": sorted(m for m in sys.modules if m.startswith({PLUGIN_MODULES!r}))}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=_env(site), cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_cep_and_example_commands_are_entry_points_not_built_ins():
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert found["epl"] == "squall.cep.cli:epl"
    assert found["rules"] == "squall.cep.cli:rules"
    assert found["smartcar"] == "squall_smartcar.cli:smartcar"
    assert set(main.commands) == {"table", "kv", "collect", "local", "submit", "list", "kill", "activate",
                                  "deactivate", "rebalance"}
    from squall.cep.cli import epl, rules
    from squall_smartcar.cli import smartcar
    ctx = click.Context(main)
    assert main.get_command(ctx, "smartcar") is smartcar
    assert main.get_command(ctx, "epl") is epl and main.get_command(ctx, "rules") is rules
    assert {"epl", "rules", "smartcar", "table", "kv", "collect"} <= set(main.list_commands(ctx))


def _code_strings_and_imports(path: Path) -> tuple[list[str], list[str]]:
    """String constants other than docstrings, and imported module names, of one module."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    strings = [n.value for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]
    imports = [alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names]
    imports += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    return strings, imports


def test_the_core_command_names_no_plugin():
    modules = sorted(CLI_DIR.glob("*.py"))
    assert {p.name for p in modules} >= {"__init__.py", "common.py", "store.py", "collect.py", "plugins.py"}
    for path in modules:
        strings, imports = _code_strings_and_imports(path)
        assert [s for s in strings if "smartcar" in s or "cep" in s.split(".") or s in ("epl", "rules")] == [], path
        assert [m for m in imports if m.startswith(("squall.cep", "squall_smartcar"))] == [], path


def test_help_lists_plugins_from_their_docstrings_without_importing_them(fake_site, tmp_path):
    res = invoke_and_list_modules(fake_site, ["--help"], tmp_path)
    assert res["exit"] == 0, res["output"]
    # Only the entry point without a docstring to read is imported, for its line.
    assert res["loaded"] == ["squall_fake_value"]
    commands = res["output"].split("Commands:\n", 1)[1].splitlines()
    by_name = {line.split()[0]: " ".join(line.split()[1:]) for line in commands if line.startswith("  ")
               and not line.startswith("   ")}
    assert by_name["hello"] == "Say hello from a plug-in."
    assert by_name["smartcar"] == "The smart-car reference pipeline: run it, list flagged cars."
    assert by_name["epl"] == "EPL rules: run them over recorded events."
    # Listed from its source although it cannot be imported; a built-in shadows `table`.
    assert by_name["broken"] == "A plug-in whose dependency is not installed."
    assert by_name["table"] == "Wide-column tables (the HBase shell's role)."
    # Not a command: imported for its line, and says it cannot be loaded.
    assert by_name["notacommand"] == "(cannot be loaded: TypeError)"


def test_a_store_command_imports_no_plugin(fake_site, tmp_path):
    (tmp_path / "d").mkdir()
    res = invoke_and_list_modules(fake_site, ["table", "list", "--data-dir", tmp_path / "d"], tmp_path)
    assert (res["exit"], res["output"], res["loaded"]) == (0, "", [])


def test_a_plugin_command_runs_through_its_entry_point(fake_site, tmp_path):
    res = squall_cmd(fake_site, "hello", "--name", "storm", cwd=tmp_path)
    assert (res.returncode, res.stdout, res.stderr) == (0, "hello, storm\n", "")
    shadowed = squall_cmd(fake_site, "table", "list", "--data-dir", tmp_path, cwd=tmp_path)
    assert (shadowed.returncode, shadowed.stdout) == (0, ""), shadowed.stderr


@pytest.mark.parametrize("args", [["broken"], ["broken", "run", "--fast", "x"], ["broken", "--help"]])
def test_a_plugin_that_cannot_be_imported_fails_with_one_line(fake_site, tmp_path, args):
    res = squall_cmd(fake_site, *args, cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == "", (res.stdout, res.stderr)
    assert res.stderr.splitlines() == [
        "squall: error: command 'broken' cannot be loaded: ModuleNotFoundError: No module named "
        "'squall_fake_missing_dependency' (entry point 'broken = squall_fake_broken:cmd' in group "
        "squall.commands, distribution squall-fake-plugin 1.0)"]


def test_a_plugin_object_that_is_not_a_command_fails_with_one_line(fake_site, tmp_path):
    res = squall_cmd(fake_site, "notacommand", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.splitlines() == [
        "squall: error: command 'notacommand' cannot be loaded: TypeError: squall_fake_value:NOT_A_COMMAND "
        "is not a click command (type int) (entry point 'notacommand = squall_fake_value:NOT_A_COMMAND' in "
        "group squall.commands, distribution squall-fake-plugin 1.0)"]


def test_a_broken_plugin_leaves_help_and_other_commands_working(fake_site, tmp_path):
    assert squall_cmd(fake_site, "--help", cwd=tmp_path).returncode == 0
    ok = squall_cmd(fake_site, "kv", "set", "k", "v", "--data-dir", tmp_path / "d", cwd=tmp_path)
    assert (ok.returncode, ok.stdout) == (0, "OK\n"), ok.stderr
    assert squall_cmd(fake_site, "hello", cwd=tmp_path).stdout == "hello, world\n"


def test_verbose_logs_why_a_plugin_failed(fake_site, tmp_path):
    res = squall_cmd(fake_site, "-vv", "broken", cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" in res.stderr and "import squall_fake_missing_dependency" in res.stderr
    assert res.stderr.splitlines()[-1].startswith("squall: error: command 'broken' cannot be loaded")


def test_python_dash_m_squall_cli_is_the_command(tmp_path):
    res = subprocess.run([sys.executable, "-m", "squall.cli", "--help"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and "smartcar" in res.stdout, res.stderr
