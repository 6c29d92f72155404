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


#: What the work folder's own .gitignore says (pytest does the same for .pytest_cache).
WORK_DIR_GITIGNORE = "# Created by evalharness: private clones, run folders and the result cache.\n*\n"


def make_work_dir(work_dir: Path) -> Path:
    """The work folder, holding a `.gitignore` of `*`, so it never shows in the `git status` of the repository
    it lies in (the user's own, with `--repo .`), wherever --work-dir puts it; one the user wrote is kept."""
    work_dir.mkdir(parents=True, exist_ok=True)
    ignore = work_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text(WORK_DIR_GITIGNORE, encoding="utf-8")
    return work_dir
