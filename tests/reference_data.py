"""Where the tests find real driving logs.

``SAMPLE`` ships with the repository (six trips, ``examples/smartcar/data``), so the
test command passes from a clone alone. ``FLEET`` is the team's full carOBD set beside
the repository (``../shared/data/carobd``, or ``$SQUALL_CAROBD_DIR``) when present, else
the sample: tests that gain from more input (chaos runs, fleet-wide counts) use it, and
still mean the same thing on six trips.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]

SAMPLE = _REPO / "examples" / "smartcar" / "data"
"""The six sample trips shipped in the repository (see its SOURCE.md)."""

_SHARED = Path(os.environ.get("SQUALL_CAROBD_DIR") or _REPO.parent / "shared" / "data" / "carobd")

FLEET = _SHARED if _SHARED.is_dir() and any(_SHARED.glob("*.csv")) else SAMPLE
"""All trips the team has (the full set when present, else the sample)."""
