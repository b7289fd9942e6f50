"""Helpers for the smart-car pipeline tests: the real trips, summary and log parsing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path


from tests.reference_data import SAMPLE as CAROBD  # the trips shipped in the repository

# The trips replayed end to end (see test_replay_e2e.py for why these).
TRIPS = ("drive9", "drive11", "live20", "live26", "live39", "idle9")


def copy_trips(dest: Path, names=TRIPS) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(CAROBD / f"{name}.csv", dest / f"{name}.csv")
    return dest


_SUMMARY = {
    "read": re.compile(r"^read ([\d,]+) records", re.M),
    "stored": re.compile(r"^stored ([\d,]+) rows in DriverCarInfo \(([\d,]+) new", re.M),
    "dead": re.compile(r"^dead letters ([\d,]+) in DeadLetters \(([\d,]+) new", re.M),
    "speeding": re.compile(r"^speeding rows from the rule ([\d,]+)", re.M),
}


def parse_summary(stdout: str) -> dict[str, int]:
    """The numbers of ``squall smartcar run``'s summary (fails the test if one is missing)."""
    out = {}
    for key, rx in _SUMMARY.items():
        m = rx.search(stdout)
        assert m, f"summary line {key!r} missing from:\n{stdout}"
        out[key] = int(m.group(1).replace(",", ""))
        if m.lastindex and m.lastindex > 1:
            out[key + "_new"] = int(m.group(2).replace(",", ""))
    out["no_loss"] = bool(re.search(r"^no loss: stored \+ dead letters = records read", stdout, re.M))
    return out


def read_detection_log(path: Path) -> list[dict]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]
