"""The compare report as files: the `md` and `html` exporters.

Both write the report's assets into the same `<stem>_files/` folder
(harness.export.assets), build the one view of the document
(harness.export.compare_view) from the links of the assets present, and hand
it to their renderer. A markdown and an HTML report of one stem therefore
share their images, and show the same rows, ratios and warnings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from harness.export import assets, compare_view, html, markdown
from harness.export.view import Report
from harness.results import CompareDocument

log = logging.getLogger(__name__)


def write_md(doc: CompareDocument, path: Path, run_root: Path | None) -> Path:
    """The markdown report and its asset folder."""
    return _write(doc, path, run_root, markdown.render)


def write_html(doc: CompareDocument, path: Path, run_root: Path | None) -> Path:
    """The HTML report and its asset folder."""
    return _write(doc, path, run_root, html.render)


def _write(doc: CompareDocument, path: Path, run_root: Path | None, render: Callable[[Report], str]) -> Path:
    links = assets.write_all(doc, path, run_root)
    path.write_text(render(compare_view.build(doc, links)), encoding="utf-8")
    log.debug("report assets in %s", assets.asset_dir(path))
    return path
