"""One module per command (asv style): each owns its click command (`command`, its options built from the shared
sets in `options.py`) and the function that command calls; `cli.py` finds them by module name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import __version__
from harness.results import HarnessInfo

HARNESS_ROOT = Path(__file__).resolve().parents[2]


def harness_commit(root: Path = HARNESS_ROOT) -> str | None:
    """The harness's own commit, only when it runs from its own checkout.

    An installed copy lies in site-packages, possibly inside the user's
    repository (a .venv there): `git rev-parse HEAD` would answer with the
    user's commit, so the repository's top level must be the harness's root.
    """
    try:
        proc = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel", "HEAD"], capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.split()
    if proc.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != root.resolve():
        return None
    return lines[1]


def portable_argv(argv: list[str]) -> list[str]:
    """The command line as typed, minus the machine path of the entry point (`evalharness` or `python -m harness`)."""
    if not argv:
        return []
    first = Path(argv[0])
    if first.name == "__main__.py" and first.parent.name == "harness":
        return ["python", "-m", "harness", *argv[1:]]
    return ["evalharness", *argv[1:]] if first.name == "evalharness" else [first.name, *argv[1:]]


def harness_info() -> HarnessInfo:
    """This harness's version, its git commit when run from its own checkout, and the command line."""
    return HarnessInfo(version=__version__, commit=harness_commit(), command_line=portable_argv(list(sys.argv)))
