"""Timing histograms from the raw per-round values: one PNG per phase, the baseline against the candidates.

A median and a ratio hide what a histogram shows at once: two modes, one
outlier round, a candidate whose rounds straddle the baseline's. Only timing
rounds are drawn (round 0 may have shared the machine or forked warm), so a
candidate that got none (not equivalent, crashed, --quick) has no bars, and the
report says so. The baseline's twin is the same code and is left out.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.errors import UsageProblem
from harness.export.view import Figure, Image, Paragraph, Section, Span, ours, theirs
from harness.judge.samples import judged_phases, shown, timed_values, unit_of
from harness.results import CompareDocument

log = logging.getLogger(__name__)

ASSET_PREFIX = "histogram-"
MIN_BINS = 10
MAX_BINS = 40
BASELINE_COLOUR = "0.15"
CANDIDATE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                     "tab:olive", "tab:cyan")


def drawn_branches(doc: CompareDocument, phase: str) -> list[str]:
    """The baseline and every candidate with timing-round values of this phase."""
    return [label for label in (doc.baseline, *(c.name for c in doc.candidates)) if timed_values(doc, label, phase)]


def drawn_phases(doc: CompareDocument) -> list[str]:
    """Phases worth a histogram: the baseline and at least one candidate were timed on it."""
    return [p for p in judged_phases(doc) if len(drawn_branches(doc, p)) >= 2]


def not_timed(doc: CompareDocument) -> list[str]:
    """Candidates with no timing rounds (their one run is not a time worth drawing)."""
    return [c.name for c in doc.candidates if not any(s.timed for s in doc.samples.get(c.name, []))]


def figure(width: float, height: float) -> Any:
    """A figure on the Agg backend, without touching pyplot's global state (a caller's backend is not ours)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _bins(values: dict[str, list[float]]) -> Any:
    """Shared bin edges, as fine as the tightest branch needs (numpy's "auto" width), MIN_BINS to MAX_BINS of them.

    Bins chosen on all values together are as wide as the gap between a fast
    and a slow branch allows, which squeezes each branch into one bar.
    """
    import numpy as np

    pooled = [v for vs in values.values() for v in vs]
    low, high = min(pooled), max(pooled)
    if high == low:
        pad = abs(low) * 0.01 or 0.01
        return np.linspace(low - pad, low + pad, MIN_BINS + 1)
    widths = [float(np.diff(np.histogram_bin_edges(vs, bins="auto"))[0]) for vs in values.values() if max(vs) > min(vs)]
    count = math.ceil((high - low) / min(widths)) if widths else MIN_BINS
    return np.linspace(low, high, min(MAX_BINS, max(MIN_BINS, count)) + 1)


def histogram_chart(doc: CompareDocument, phase: str, target: Path) -> Path:
    """Step histograms of one phase on shared bins, a dashed line at each branch's median, the legend outside."""
    import statistics

    from matplotlib.ticker import MaxNLocator

    branches = drawn_branches(doc, phase)
    values = {label: timed_values(doc, label, phase) for label in branches}
    edges = _bins(values)
    fig = figure(8, 3.6)
    ax = fig.add_subplot()
    for i, label in enumerate(branches):
        baseline = i == 0  # drawn as an outline on top, so a candidate with the very same times still shows it
        colour = BASELINE_COLOUR if baseline else CANDIDATE_COLOURS[(i - 1) % len(CANDIDATE_COLOURS)]
        median = statistics.median(values[label])
        name = f"{label} (baseline)" if baseline else label
        if not baseline:
            ax.hist(values[label], bins=edges, histtype="stepfilled", alpha=0.3, color=colour)
        ax.hist(values[label], bins=edges, histtype="step", linewidth=2.5 if baseline else 1.5, color=colour,
                zorder=3 if baseline else 2, label=f"{name}: n={len(values[label])}, median {shown(median, phase)}")
        ax.axvline(median, color=colour, linestyle="--", linewidth=1, zorder=3 if baseline else 2)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"{phase} ({unit_of(phase)}), one value per timing round")
    ax.set_ylabel("rounds")
    ax.set_title(f"{phase}: {doc.task.name} ({doc.task.preset or 'default'}); dashed: medians", fontsize="medium")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.savefig(target, format="png", bbox_inches="tight")
    return target


def write_phases(doc: CompareDocument, folder: Path, prefix: str = ASSET_PREFIX) -> dict[str, Path]:
    """phase → its PNG `<prefix><phase>.png` in `folder`, for every phase worth drawing."""
    folder.mkdir(parents=True, exist_ok=True)
    return {phase: histogram_chart(doc, phase, folder / f"{prefix}{phase}.png") for phase in drawn_phases(doc)}


def write(doc: CompareDocument, path: Path, run_root: Path | None) -> Path:
    """The `histogram` exporter: PATH names the set, one PNG per phase as `<stem>-<phase>.png` beside it.

    Returns the primary phase's PNG (the first written); a document with
    nothing to draw is refused with the reason, not answered with no files.
    """
    if not drawn_phases(doc):
        raise UsageProblem(f"no timing histogram to draw: {why_none(doc)}")
    return next(iter(write_phases(doc, path.parent, f"{path.stem}-").values()))


def why_none(doc: CompareDocument) -> str:
    """Why a document has no histogram to draw."""
    if not doc.per_round:
        return f"{doc.schema_} documents keep no per-round values (rerun the compare with this version)"
    return "--quick runs no timing rounds" if doc.settings.quick else "no candidate ran timing rounds"


def report_links(doc: CompareDocument, folder: Path) -> dict[str, str]:
    """Write the histograms into the report's asset folder; phase → the link to its PNG."""
    if not drawn_phases(doc):
        return {}
    return {phase: f"{quote(folder.name)}/{quote(p.name)}" for phase, p in write_phases(doc, folder).items()}


def section(doc: CompareDocument, links: dict[str, str]) -> Section | None:
    """The report's histogram section (None when nothing was drawn)."""
    if not links:
        return None
    words: list[Span] = [ours("Every timing round's value per branch and phase (the raw values are the JSON's "),
                         ours("samples", "code"), ours("); a dashed line marks each branch's median.")]
    if skipped := not_timed(doc):
        words += [ours(" No timing rounds, so not drawn: "), theirs(", ".join(skipped)), ours(".")]
    figures = [Figure(Image(link, (theirs(phase), ours(" histogram")))) for phase, link in links.items()]
    return Section((ours("Timing histograms"),), 2, (Paragraph(tuple(words)), *figures), "histograms")
