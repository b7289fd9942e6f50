"""Storm's own multilang adapters (storm.py, storm.js, storm.rb) extracted unchanged from
Storm's multilang jars on Maven Central; for code outside pytest (benchmarks/multilang.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.services.maven import resolve_jars

STORM_VERSION = "2.8.3"   # 2.8.4's parent pom is missing from Central, so Maven cannot resolve it
ADAPTERS = {"multilang-python": "resources/storm.py", "multilang-javascript": "resources/storm.js",
            "multilang-ruby": "resources/storm.rb"}


def extract_storm_adapters(out: Path, artifacts: tuple[str, ...] = tuple(ADAPTERS)) -> list[Path]:
    """Write the adapters of ``artifacts`` (e.g. ``("multilang-python",)``) into ``out``.

    Returns the written files. Raises whatever ``resolve_jars`` raises when Maven
    cannot fetch the jars (``mvn`` missing, no network).
    """
    jars = resolve_jars([f"org.apache.storm:{a}:{STORM_VERSION}" for a in artifacts])
    written = []
    for artifact in artifacts:
        member = ADAPTERS[artifact]
        jar = next(j for j in jars if j.name.startswith(f"{artifact}-"))
        with zipfile.ZipFile(jar) as z:
            target = out / Path(member).name
            target.write_bytes(z.read(member))
            written.append(target)
    return written
