"""The leaderboard of a compare with many attempts per agent: markdown, CSV and a plot.

Three exporters (`leaderboard-md`, `leaderboard-csv`, `leaderboard-png`, all
registered in `harness/export/__init__.py`) and the section the compare report
embeds (a view section, so every renderer of the report shows it). The numbers
come from `harness.judge.leaderboard`; this module only lays them out.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from urllib.parse import quote

from harness.errors import UsageProblem
from harness.export import markdown
from harness.export.view import Figure, Image, Inline, Paragraph, Report, Section, Table, ours, theirs
from harness.judge import leaderboard as board
from harness.results import AgentRow, CompareDocument, Leaderboard

log = logging.getLogger(__name__)

ASSET_NAME = "leaderboard.png"
DASH = "–"
DEFINITIONS = ("fast_p (KernelBench's): share of attempts that are equivalent with a {phase} speedup above p× "
               "(the point estimate). sig_fast_p (stricter): share of attempts that are equivalent and "
               "significantly faster than p× (verdict faster and the speedup's CI above p). Geomean: geometric "
               "mean of the equivalent attempts' speedups, 95% CI from Student's t on their logs.")
SHARE_COLUMNS = (("fast", "fast_{}"), ("sig_fast", "sig_fast_{}"))  # AgentRow field, column name


# --------------------------------------------------------------------------- #
# The board as a view (pure)
# --------------------------------------------------------------------------- #


def _share(value: float | None) -> str:
    return DASH if value is None else f"{value:.0%}"


def _ratio(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}×"


def _geomean(row: AgentRow) -> str:
    if row.geomean_speedup is None:
        return DASH
    ci = f" [{row.geomean_ci[0]:.2f}, {row.geomean_ci[1]:.2f}]" if row.geomean_ci else ""
    return f"{row.geomean_speedup:.2f}×{ci}"


def _best(row: AgentRow) -> Inline:
    if row.best_attempt is None:
        return (ours(DASH),)
    return theirs(row.best_attempt), ours(f" ({_ratio(row.best_speedup)})")


def board_table(lb: Leaderboard) -> Table:
    """Agents ranked, references last and marked."""
    headers = ["agent", "attempts", "equivalent", *share_columns(lb), "geomean speedup [95% CI]", "best attempt"]
    rows = tuple(((theirs(r.agent), ours(" (reference)")) if r.reference else (theirs(r.agent, "strong"),),
                  (ours(str(r.attempts)),), (ours(f"{r.equivalent} ({_share(r.share_equivalent)})"),),
                  *((ours(_share(v)),) for v in share_values(r, lb)), (ours(_geomean(r)),), _best(r))
                 for r in lb.rows)
    return Table(tuple((ours(h),) for h in headers), rows, "leaderboard")


def table(lb: Leaderboard) -> str:
    """The board as a markdown table (the terminal's and the report's)."""
    return markdown.block(board_table(lb))


def share_columns(lb: Leaderboard) -> list[str]:
    """fast_1.0 … then sig_fast_1.0 …: KernelBench's measure, then ours."""
    return [name.format(board.threshold_key(p)) for _, name in SHARE_COLUMNS for p in lb.thresholds]


def share_values(row: AgentRow, lb: Leaderboard) -> list[float | None]:
    """The row's shares in share_columns' order."""
    return [getattr(row, attr).get(board.threshold_key(p)) for attr, _ in SHARE_COLUMNS for p in lb.thresholds]


def section(doc: CompareDocument, links: dict[str, str]) -> Section | None:
    """The report's leaderboard section (None when no candidate came with an agent)."""
    if not board.has_agents(doc):
        return None
    lb = board.build(doc)
    blocks: list[Table | Paragraph | Figure] = [board_table(lb), Paragraph((ours(DEFINITIONS.format(phase=lb.phase)),))]
    if "plot" in links:
        blocks.append(Figure(Image(links["plot"], (ours("leaderboard"),))))
    return Section((ours("Leaderboard"),), 2, tuple(blocks), "leaderboard")


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #


def write_md(doc: CompareDocument, path: Path, run_root: Path | None) -> Path:
    """A standalone leaderboard page, its plot beside it."""
    plot = write_png(doc, path.with_suffix(".png"), run_root)
    title = f"Leaderboard: {doc.task.name} ({doc.task.preset or 'default'}) against {doc.baseline}"
    shown = section(doc, {"plot": quote(plot.name)})
    page = Report(title, (Section((theirs(title),), 1, ()), *([shown] if shown else [])))
    path.write_text(markdown.render(page), encoding="utf-8")
    return path


def _board(doc: CompareDocument) -> Leaderboard:
    """The board, or a refusal that says why there is none (an empty board is no leaderboard)."""
    if not board.has_agents(doc):
        raise UsageProblem("no leaderboard: no candidate came with an agent (hand attempts in with --predictions)")
    return board.build(doc)


def write_csv(doc: CompareDocument, path: Path, run_root: Path | None) -> Path:
    """One line per agent, every number unrounded."""
    lb = _board(doc)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["agent", "reference", "attempts", "equivalent", "share_equivalent", *share_columns(lb),
                      "geomean_speedup", "geomean_ci_low", "geomean_ci_high", "best_attempt", "best_speedup"])
        for r in lb.rows:
            ci = r.geomean_ci or [None, None]
            out.writerow([r.agent, r.reference, r.attempts, r.equivalent, r.share_equivalent,
                          *share_values(r, lb), r.geomean_speedup, *ci, r.best_attempt, r.best_speedup])
    return path


def write_png(doc: CompareDocument, path: Path, run_root: Path | None) -> Path:
    """The board as a chart: shares per agent, and the geomean speedup with its CI."""
    from harness.export.charts import leaderboard_chart

    return leaderboard_chart(_board(doc), path)


def report_links(doc: CompareDocument, folder: Path) -> dict[str, str]:
    """Write the plot into the report's asset folder when the compare has agents; the link to it."""
    if not board.has_agents(doc):
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    write_png(doc, folder / ASSET_NAME, None)
    return {"plot": f"{quote(folder.name)}/{ASSET_NAME}"}
