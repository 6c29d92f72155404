"""One module per command (asv style): compare, sweep, report. `cli.py` only parses and calls these."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import __version__
from harness.results import HarnessInfo


def harness_info() -> HarnessInfo:
    """This harness's version, its git commit when run from a checkout, and the command line."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        commit = None
    argv = ["evalharness", *sys.argv[1:]] if sys.argv and sys.argv[0].endswith("evalharness") else list(sys.argv)
    return HarnessInfo(version=__version__, commit=commit, command_line=argv)
