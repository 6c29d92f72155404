"""`evalharness report COMPARE.json`: re-render a stored compare, running nothing."""

from __future__ import annotations

from pathlib import Path

from harness import constants as C
from harness import export
from harness.results import CompareDocument


def default_run_root(json_path: Path) -> Path | None:
    """A compare.json inside its run folder knows where its images are."""
    return json_path.parent if json_path.name == C.COMPARE_JSON else None


def rerender(json_path: Path, fmt: str, out: Path | None, run_root: Path | None) -> Path:
    """Load, validate, and write the document in `fmt` (beside the JSON unless `out` is given)."""
    doc = CompareDocument.load(json_path)
    target = out or json_path.with_suffix(f".{fmt}")
    export.check_writable({fmt: target})
    export.write_outputs(doc, {fmt: target}, run_root or default_run_root(json_path))
    return target
