"""Storm's own multilang adapters, from Storm's jars on Maven Central, next to the
test components (tests/multilang/components) in a temporary directory."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from tests.services.maven import resolve_jars

STORM_VERSION = "2.8.3"   # 2.8.4's parent pom is missing from Central, so Maven cannot resolve it
_ADAPTERS = {"multilang-python": "resources/storm.py", "multilang-javascript": "resources/storm.js",
             "multilang-ruby": "resources/storm.rb"}
COMPONENTS = Path(__file__).parent / "components"
# The components import storm.py, which only exists next to them at test time.
collect_ignore = ["components"]


@pytest.fixture(scope="session")
def storm_adapters(tmp_path_factory) -> Path:
    """A directory holding storm.py, storm.js and storm.rb exactly as Storm ships them."""
    if shutil.which("mvn") is None:
        pytest.skip("mvn is not installed: it fetches Storm's multilang jars (.ci/run installs it)")
    jars = resolve_jars([f"org.apache.storm:{a}:{STORM_VERSION}" for a in _ADAPTERS])
    out = tmp_path_factory.mktemp("storm-adapters")
    for artifact, member in _ADAPTERS.items():
        jar = next(j for j in jars if j.name.startswith(f"{artifact}-"))
        with zipfile.ZipFile(jar) as z:
            (out / Path(member).name).write_bytes(z.read(member))
    return out


@pytest.fixture
def component_dir(tmp_path, storm_adapters) -> Path:
    """A working directory for shell components: the adapters and the test components."""
    for src in [*storm_adapters.iterdir(), *COMPONENTS.iterdir()]:
        if src.is_file():
            shutil.copy(src, tmp_path / src.name)
    return tmp_path
