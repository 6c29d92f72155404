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
    """Load, validate, and write the document in `fmt`, any registered format (beside the JSON, named by the
    format's suffix, unless `out` is given); the path written (a histogram set: its first PNG)."""
    doc = CompareDocument.load(json_path)
    target = out or export.default_path(json_path, fmt)
    export.check_writable({fmt: target})
    return export.write_outputs(doc, {fmt: target}, run_root or default_run_root(json_path))[0]
