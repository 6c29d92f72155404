"""The report's files: charts and thumbnails in a sibling `<stem>_files/` folder, linked relatively.

The report is meant to be committed next to the code it judges: every asset
goes into the folder under a name derived from the document alone (a
thumbnail is named by its image's sha256, so identical images are stored
once), and links are relative. Which assets a document has is a pure function
of the document; the links handed to the view are those of the files present,
so `evalharness report COMPARE.json` re-renders a committed report byte for
byte, with or without the run folder the images came from. Every renderer of
the report (markdown, HTML) links the same folder.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from harness.export import histogram, leaderboard, ratios
from harness.results import ArtifactRow, CandidateVerdict, CompareDocument, Summary

log = logging.getLogger(__name__)

THUMB_MAX_WIDTH = 480  # wider images are downscaled so the report stays light to commit
HEATMAP_KEY = "heatmap-key.png"


@dataclass(frozen=True)
class Asset:
    """One file of the report's folder: its name there and where its content comes from."""

    name: str
    source: str | None = None  # path relative to the run folder (an image to thumbnail)
    chart_of: str | None = None  # the candidate whose speed chart this is
    drawn: bool = False  # the heatmap's colour key (drawn from nothing, so any re-render can add it)


@dataclass(frozen=True)
class Links:
    """Relative links of the assets present: per candidate by role ("chart", "baseline", "candidate", "heatmap",
    "heatmap_key"), the leaderboard's plot, and the timing histograms by phase. Empty: a report without images."""

    candidates: dict[str, dict[str, str]] = field(default_factory=dict)
    leaderboard: dict[str, str] = field(default_factory=dict)
    histograms: dict[str, str] = field(default_factory=dict)

    def of(self, candidate: str) -> dict[str, str]:
        return self.candidates.get(candidate, {})


def asset_dir(report: Path) -> Path:
    return report.parent / f"{report.stem}_files"


# --------------------------------------------------------------------------- #
# Which assets a document has (pure)
# --------------------------------------------------------------------------- #


def order(row: ArtifactRow) -> tuple[int, str]:
    """Artifacts by step, then name (a final artifact without a step first)."""
    return (row.key if row.key is not None else -1, row.name)


def shown_row(rows: Sequence[ArtifactRow]) -> ArtifactRow | None:
    """The first differing image, else the last one: the image worth looking at (other files have no picture)."""
    ordered = sorted((r for r in rows if r.image or (r.name == "" and r.key is not None)), key=order)
    differing = [r for r in ordered if not r.identical]
    return differing[0] if differing else (ordered[-1] if ordered else None)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "candidate"


def image_asset_name(path: str, sha: str | None) -> str:
    """Content-addressed where the image's sha256 is known, else named by its (unique) path in the run folder."""
    if sha:
        return f"img-{sha[:16]}.png"
    return f"src-{hashlib.sha256(path.encode()).hexdigest()[:16]}.png"


def candidate_assets(index: int, cand: CandidateVerdict, judged: bool,
                     baseline_timing: dict[str, Summary | None] | None = None) -> dict[str, Asset]:
    """Role → asset for one candidate: its speed chart (when it has a speedup to show) and the thumbnails of its
    telling step.

    An identical candidate image is shown as the baseline's file: the pixels
    are the same, so the report stores it once.
    """
    assets: dict[str, Asset] = {}
    base = baseline_timing or {}
    if judged and any(ratios.speedup(v, base.get(p), cand.timing.get(p)) for p, v in cand.speed.items()):
        assets["chart"] = Asset(f"{index:02d}-{_slug(cand.name)}-speedup.png", chart_of=cand.name)
    row = shown_row(cand.images)
    if row is None:
        return assets
    cand_path, cand_sha = (row.baseline, row.baseline_sha256) if row.identical else (row.candidate, row.candidate_sha256)
    for role, path, sha in (("baseline", row.baseline, row.baseline_sha256), ("candidate", cand_path, cand_sha),
                            ("heatmap", row.heatmap, None)):
        if path:
            assets[role] = Asset(image_asset_name(path, sha), source=path)
    if row.heatmap:
        assets["heatmap_key"] = Asset(HEATMAP_KEY, drawn=True)
    return assets


def document_assets(doc: CompareDocument) -> dict[str, dict[str, Asset]]:
    """Candidate name → role → asset, for the whole document."""
    judged = not doc.settings.quick
    return {c.name: candidate_assets(i, c, judged, doc.baseline_timing) for i, c in enumerate(doc.candidates, start=1)}


# --------------------------------------------------------------------------- #
# Writing assets (I/O)
# --------------------------------------------------------------------------- #


def write_all(doc: CompareDocument, report: Path, run_root: Path | None) -> Links:
    """Every asset of the report at `report` written into its folder; the links of those present."""
    folder = asset_dir(report)
    present = write_assets(doc, folder, run_root)
    candidates = {name: {role: f"{quote(folder.name)}/{quote(a.name)}" for role, a in roles.items()
                         if a.name in present} for name, roles in document_assets(doc).items()}
    return Links(candidates, leaderboard.report_links(doc, folder), histogram.report_links(doc, folder))


def write_assets(doc: CompareDocument, folder: Path, run_root: Path | None) -> set[str]:
    """Write every asset whose source is at hand; return the names present in the folder afterwards.

    A missing source (a re-render far from the run folder) keeps an existing
    file of that name; an unreadable one is logged, never fatal.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: set[str] = set()
    for cand in doc.candidates:
        for asset in document_assets(doc)[cand.name].values():
            if asset.name not in written:
                _write_asset(doc, cand, asset, folder, run_root)
                written.add(asset.name)
    return {p.name for p in folder.iterdir()}


def _write_asset(doc: CompareDocument, cand: CandidateVerdict, asset: Asset, folder: Path, run_root: Path | None) -> None:
    target = folder / asset.name
    if asset.chart_of is not None:
        from harness.export.charts import speedup_chart

        speedup_chart(cand, doc.baseline_timing, doc.settings.threshold, target)
    elif asset.drawn:
        from harness.export.charts import heatmap_key

        heatmap_key(target)
    elif asset.source and run_root is not None and (run_root / asset.source).is_file() and not target.exists():
        _thumbnail(run_root / asset.source, target)


def _thumbnail(source: Path, target: Path) -> None:
    """Copy an image as a PNG at most THUMB_MAX_WIDTH wide (LANCZOS keeps thin boundary lines visible)."""
    from PIL import Image

    try:
        with Image.open(source) as img:
            img.load()
            if img.width > THUMB_MAX_WIDTH:
                height = max(1, round(img.height * THUMB_MAX_WIDTH / img.width))
                img = img.resize((THUMB_MAX_WIDTH, height), Image.Resampling.LANCZOS)
            img.save(target, format="PNG")
    except (OSError, ValueError) as exc:
        log.warning("cannot thumbnail %s: %s", source, exc)
