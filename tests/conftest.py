"""Suite-wide rules."""

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # On CI every service can be installed, so a skip means an install step is missing:
    # fail loudly instead of landing a run that tested less than it claims.
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (an install step is missing?): {report.longrepr}"
