"""Where things lie inside one compare's run folder, decided in one place.

Every stage that names a folder (the runner writing, the judge reading, the
report linking) asks here, so the layout can change without a hunt.
"""

from __future__ import annotations

import re

from harness import constants as C


def label_dir(label: str) -> str:
    """A branch label as a folder name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", label)


def rep_dir(label: str, rep: int) -> str:
    """One repetition's folder, relative to the run folder."""
    return f"{label_dir(label)}/rep-{rep:03d}"


def heatmap_dir(label: str) -> str:
    """Where the heatmaps of one comparison go, relative to the run folder."""
    return f"{C.HEATMAP_DIR}/{label_dir(label)}"
