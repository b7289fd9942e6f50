"""Storm's own multilang adapters, from Storm's jars on Maven Central, next to the
test components (tests/multilang/components) in a temporary directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.multilang.storm_adapters import extract_storm_adapters

COMPONENTS = Path(__file__).parent / "components"
# The components import storm.py, which only exists next to them at test time.
collect_ignore = ["components"]


@pytest.fixture(scope="session")
def storm_adapters(tmp_path_factory) -> Path:
    """A directory holding storm.py, storm.js and storm.rb exactly as Storm ships them."""
    if shutil.which("mvn") is None:
        pytest.skip("mvn is not installed: it fetches Storm's multilang jars (.ci/run installs it)")
    out = tmp_path_factory.mktemp("storm-adapters")
    extract_storm_adapters(out)
    return out


@pytest.fixture
def component_dir(tmp_path, storm_adapters) -> Path:
    """A working directory for shell components: the adapters and the test components."""
    for src in [*storm_adapters.iterdir(), *COMPONENTS.iterdir()]:
        if src.is_file():
            shutil.copy(src, tmp_path / src.name)
    return tmp_path
