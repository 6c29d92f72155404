"""Where things lie inside one compare's run folder, decided in one place.

Every stage that names a folder (the runner writing, the judge reading, the
report linking) asks here, so the layout can change without a hunt.

Folder names must never collide: `feature/x` and `feature_x` both sanitise to
`feature_x`, so every label folder also carries a short digest of the exact
label, and every repetition folder the commit it ran, so a branch that moved
never resumes the old commit's results.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from harness import constants as C

SHA_CHARS = 12


def label_dir(label: str) -> str:
    """A branch label as a folder name: readable part plus a digest of the exact label (injective in practice)."""
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", label)[:60]
    return f"{readable}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"


def rep_dir(label: str, rep: int, sha: str = "") -> str:
    """One repetition's folder, relative to the run folder: label, commit and round."""
    commit = f"@{sha[:SHA_CHARS]}" if sha else ""
    return f"{label_dir(label)}{commit}/rep-{rep:03d}"


def heatmap_dir(label: str) -> str:
    """Where the heatmaps of one comparison go, relative to the run folder."""
    return f"{C.HEATMAP_DIR}/{label_dir(label)}"


def variant_root(run_root: Path, variant_id: str) -> Path:
    """The run folder of one held-out parameter variant (its own labels and reps inside)."""
    return run_root / C.VARIANTS_DIR / variant_id


def tree_dir(run_root: Path, sha: str) -> Path:
    """The pristine tree of a commit for this compare, copied into each run's sandbox."""
    return run_root / C.TREES_DIR / sha[:16]
