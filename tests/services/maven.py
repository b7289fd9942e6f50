"""Fetch Java artifacts with their dependencies from Maven Central, cached outside the repo.

The cache is ``$SQUALL_JAR_CACHE`` or ``~/.cache/squall/jars``; each artifact set gets
a folder named by a hash of its coordinates, so a second run starts at once.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["jar_cache", "resolve_jars", "classpath"]

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>squall.tests</groupId><artifactId>fetch</artifactId><version>1</version>
  <dependencies>
{deps}
  </dependencies>
</project>
"""
_DEP = ("    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version>"
        "{extra}</dependency>")


def jar_cache() -> Path:
    return Path(os.environ.get("SQUALL_JAR_CACHE") or Path.home() / ".cache" / "squall" / "jars")


def resolve_jars(coordinates: Sequence[str], exclusions: Sequence[str] = ()) -> list[Path]:
    """The jars of ``coordinates`` ("group:artifact:version") and their runtime dependencies.

    ``exclusions`` ("group:artifact") are left out of every coordinate's tree.

    Raises:
        RuntimeError: Maven failed (its output is in the message).
    """
    key = hashlib.sha1("\n".join([*coordinates, "--", *exclusions]).encode()).hexdigest()[:16]
    target = jar_cache() / key
    done = target / ".complete"
    if not done.exists():
        target.mkdir(parents=True, exist_ok=True)
        excl = ""
        if exclusions:
            excl = "<exclusions>" + "".join(
                f"<exclusion><groupId>{e.split(':')[0]}</groupId><artifactId>{e.split(':')[1]}</artifactId>"
                f"</exclusion>" for e in exclusions) + "</exclusions>"
        deps = "\n".join(_DEP.format(g=c.split(":")[0], a=c.split(":")[1], v=c.split(":")[2], extra=excl)
                         for c in coordinates)
        with tempfile.TemporaryDirectory() as tmp:
            pom = Path(tmp) / "pom.xml"
            pom.write_text(_POM.format(deps=deps))
            proc = subprocess.run(
                ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                 "-DincludeScope=runtime", f"-DoutputDirectory={target}"],
                capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"mvn could not fetch {list(coordinates)}:\n{proc.stdout[-4000:]}"
                                   f"{proc.stderr[-2000:]}")
        done.touch()
    return sorted(target.glob("*.jar"))


def classpath(coordinates: Sequence[str], exclusions: Sequence[str] = ()) -> str:
    return os.pathsep.join(str(p) for p in resolve_jars(coordinates, exclusions))
