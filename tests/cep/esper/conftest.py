"""Real Esper as a black-box oracle for the differential tests in this folder.

Esper 8 (esper-common / esper-compiler / esper-runtime, GPL) is fetched from Maven
Central at test time by :mod:`tests.services.maven` into the jar cache outside the repo
(``~/.cache/squall/jars`` or ``$SQUALL_JAR_CACHE``); nothing of it is vendored. Our
``EsperRunner.java`` is compiled there with javac once per source version, and one JVM
(``EsperRunner --serve``) answers every case of the session.

``run_esper(rule_text, events, type_name, time_field, property_types, advance="time",
types=None, type_field=None)`` raises ``EsperRejectedError`` when Esper refuses the case
and ``run_squall`` raises ``SquallRejectedError`` when ``squall epl run`` exits non-zero
(:mod:`tests.cep.esper.oracle`). ``run_esper`` returns the output rows as dicts ``{"time", "statement",
"kind", "row"}``, the format of ``squall epl run``. ``run_squall(rule_text, events,
type_name, time_field, type_field=None, props=None)`` runs the same case through ``squall epl
run`` (``props`` declares ``type_name``'s properties with ``--types``).
Several event types: ``types`` declares the others (``{"B": {"k": "string"}}``) and each
event names its type in ``type_field`` (``--type-field``); events without it are
``type_name``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:      # `tests.services` however pytest was started
    sys.path.insert(0, str(_ROOT))

from tests.cep.esper.oracle import SESSION, EsperRejectedError, SquallRejectedError  # noqa: E402
from tests.services.maven import jar_cache, resolve_jars  # noqa: E402

ESPER_VERSION = "8.9.0"
ESPER = [f"com.espertech:{a}:{ESPER_VERSION}" for a in ("esper-common", "esper-compiler", "esper-runtime")]
_SOURCE = Path(__file__).with_name("EsperRunner.java")


def _tool(name: str) -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / name).exists():
        return str(Path(home) / "bin" / name)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"no {name} on PATH and no JAVA_HOME")
    return found


def build_runner() -> tuple[str, str]:
    """(java binary, classpath) with EsperRunner compiled into the jar cache."""
    java, javac = _tool("java"), _tool("javac")
    if not shutil.which("mvn"):
        raise RuntimeError("no mvn on PATH")
    jars = resolve_jars(ESPER)
    cp = os.pathsep.join(str(p) for p in jars)
    digest = hashlib.sha1(_SOURCE.read_bytes() + ESPER_VERSION.encode()).hexdigest()[:16]
    classes = jar_cache() / f"esper-runner-{digest}"
    if not (classes / ".complete").exists():
        classes.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([javac, "-nowarn", "-d", str(classes), "-cp", cp, str(_SOURCE)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"javac failed:\n{proc.stdout}{proc.stderr}")
        (classes / ".complete").touch()
    return java, os.pathsep.join([str(classes), cp])


class EsperOracle:
    """One ``EsperRunner --serve`` JVM; each case is one request line (a fresh Esper runtime)."""

    def __init__(self, java: str, cp: str) -> None:
        self._proc = subprocess.Popen(
            # UTC: Esper reads crontab schedules in the JVM's zone, Squall in UTC.
            [java, "-Xss4m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Duser.timezone=UTC",
             "-cp", cp, "EsperRunner", "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", bufsize=1)
        self._stderr: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self._proc.stderr:
            self._stderr.append(line)
            del self._stderr[:-50]

    def run(self, rule_text, events, type_name, time_field, property_types, advance="time",
            types=None, type_field=None):
        req = {"rules": rule_text, "type": type_name, "timeField": time_field,
               "props": dict(property_types), "events": list(events), "advance": advance}
        if types:
            req["types"] = {n: dict(p) for n, p in types.items()}
        if type_field:
            req["typeField"] = type_field
        self._proc.stdin.write(json.dumps(req) + "\n")
        self._proc.stdin.flush()
        rows = []
        while True:
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError("EsperRunner exited:\n" + "".join(self._stderr))
            obj = json.loads(line)
            if obj.get("done") is True and "row" not in obj:
                if obj["error"]:
                    raise EsperRejectedError(f"Esper rejected the case: {obj['error']}")
                return rows
            rows.append(obj)

    def close(self) -> None:
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()


@pytest.fixture(scope="session")
def esper_oracle():
    try:
        java, cp = build_runner()
    except RuntimeError as exc:
        pytest.skip(f"Esper oracle unavailable: {exc}")
    oracle = EsperOracle(java, cp)
    yield oracle
    oracle.close()


@pytest.fixture(scope="session")
def run_esper(esper_oracle):
    """``run_esper(rule_text, events, type_name, time_field, property_types, advance="time")``."""
    return esper_oracle.run


def squall_epl_run(rule_text, events, type_name, time_field, type_field=None, props=None):
    """The rows ``squall epl run`` prints for the case (run in-process); ``props``
    ({prop: "double"|"string"|...}) declares ``type_name`` with ``--types``."""
    import tempfile

    from click.testing import CliRunner

    from squall.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        rule = Path(tmp) / "rule.epl"
        rule.write_text(rule_text, encoding="utf-8")
        result = CliRunner().invoke(
            main, ["epl", "run", str(rule), "-", "--type", type_name, "--time-field", time_field]
            + (["--type-field", type_field] if type_field else [])
            + (["--types", json.dumps(props)] if props is not None else []),
            input="".join(json.dumps(e) + "\n" for e in events))
    if result.exit_code != 0:
        raise SquallRejectedError(f"squall epl run failed ({result.exit_code}): {result.output}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def run_squall():
    return squall_epl_run


def pytest_terminal_summary(terminalreporter):
    """How many generated differential cases compared real rows (tests.cep.esper.oracle)."""
    if not SESSION:
        return
    terminalreporter.section("Esper differential: generated cases with non-empty output")
    for name, tally in sorted(SESSION.items()):
        terminalreporter.write_line(f"{name}: {tally.nonempty} of {tally.cases}")
