"""Fixtures for the smart-car pipeline tests."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from squall.cli import main


@pytest.fixture(scope="session")
def cli():
    """``cli(*args)`` -> click Result of ``squall ARGS`` run in-process (exit code checked)."""
    runner = CliRunner()

    def invoke(*args, expect_exit: int | None = 0):
        res = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        if expect_exit is not None:
            assert res.exit_code == expect_exit, (
                f"squall {' '.join(map(str, args))} exited {res.exit_code}\n"
                f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}")
        return res
    return invoke
