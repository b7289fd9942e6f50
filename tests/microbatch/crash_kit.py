"""Runs a micro-batch job script in a child process, and SIGKILLs it mid-run: what the
kill -9 tests of Trident and DStreams share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GIVE_UP_S = 300.0     # only fails a run that would otherwise hang


def run_job(job: Path, directory: Path, kill_after: int | None = None, progress: str = "progress") -> str:
    """Run ``python JOB DIRECTORY`` (the job's own directory on its path).

    Without ``kill_after``: wait for its end (exit 0) and return its stdout. With it:
    SIGKILL the job once ``directory/progress`` has ``kill_after`` lines, and return "".
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(job.parent), *sys.path])}
    proc = subprocess.Popen([sys.executable, str(job), str(directory)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    if kill_after is None:
        out, err = proc.communicate(timeout=GIVE_UP_S)
        assert proc.returncode == 0, err
        return out
    lines = directory / progress
    deadline = time.monotonic() + GIVE_UP_S
    while True:
        done = len(lines.read_text().splitlines()) if lines.exists() else 0
        if done >= kill_after or proc.poll() is not None:
            break
        assert time.monotonic() < deadline, f"the job wrote {done} of {kill_after} lines in {GIVE_UP_S:.0f} s"
        time.sleep(0.01)
    assert proc.poll() is None, f"the job ended before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return ""
