"""The sweep's outputs: one row per grid point, columns per branch, as CSV, markdown and a plot.

`evalharness sweep` yields one compare per (grid point, seed); readers want
the seed notebook's shape instead: for each configuration, how long every
branch took, how much faster than the baseline, how sure that is, and
whether its output still matched. Column names come from the task's phases,
the plot's x axis from its `sweep_axis` hook.

Over seeds, speedups and seconds are geometric means, with the lowest and
highest seed's speedup as the spread (one seed: its CI). A sweep of single
runs (`--repeat 1`) has no speedup columns and plots seconds: one unpaired
ratio per point is no speedup.

The three writers at the end are the sweep's exporters, registered in
`harness.export.SWEEP_EXPORTERS` like the compare's formats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.export import ratios
from harness.export.charts import Series, save, sweep_figure
from harness.results import NOT_JUDGED, CandidateVerdict, CompareDocument, PhaseVerdict
from harness.tasks import Task
from harness.tasks.base import default_sweep_axis

SINGLE_RUN = "single run, not judged"
DASH = "–"


@dataclass
class SweepCell:
    """One compare of the sweep: its grid point, its seed and its document."""

    point: dict[str, str]
    seed: str | None
    doc: CompareDocument | None = None
    refused: str | None = None  # why this grid point was not run (an invalid combination)
    extra: dict[str, Any] = field(default_factory=dict)


def _median(timing: dict, phase: str) -> float:
    summary = timing.get(phase)
    return summary.median if summary is not None else math.nan


def _verdict(doc: CompareDocument, e: CandidateVerdict, phase: str) -> str:
    """One seed's speed verdict with the speedup a report may show (harness.export.ratios), or why none."""
    if doc.settings.quick:
        return SINGLE_RUN
    v, base, cand = e.speed.get(phase), doc.baseline_timing.get(phase), e.timing.get(phase)
    value = ratios.speedup(v, base, cand)
    if value is not None:
        ci = f" [{v.ci[0]:.2f}, {v.ci[1]:.2f}]" if v.ci and None not in v.ci else ""
        return f"{v.verdict} {value:.2f}×{ci}"
    if ratios.contradicted(v, base, cand):
        return f"{v.verdict} (no speedup shown: medians disagree)"
    return DASH if v is None or v.verdict == NOT_JUDGED else v.verdict


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def _mean(values: Sequence[float]) -> float:
    finite = _finite(values)
    return sum(finite) / len(finite) if finite else math.nan


def _seconds(values: Sequence[float]) -> float:
    """Seconds over seeds, averaged geometrically like the speedups beside them (the two then agree: the
    baseline's mean over the candidate's is the mean ratio of their medians)."""
    from scipy.stats import gmean

    finite = [v for v in _finite(values) if v > 0]
    return float(gmean(finite)) if finite else math.nan


def speedup_cells(docs: Sequence[CompareDocument], entries: Sequence[CandidateVerdict], phase: str,
                  base_s: float, cand_s: float) -> tuple[float, float, float, str | None]:
    """(geometric mean, low, high, why none) of the seeds' judged speedups.

    The spread is the lowest and highest seed's speedup, or with one seed its
    CI. A ratio is averaged geometrically (scipy's gmean): 2× and 0.5× average
    to 1×, where their arithmetic mean, 1.25×, would call the pair faster.
    Nothing when a seed has no speedup to show (an average of the others
    would hide it), or when the mean points the other way from the seconds
    beside it.
    """
    from scipy.stats import gmean

    shown = [ratios.speedup(e.speed.get(phase), d.baseline_timing.get(phase), e.timing.get(phase))
             for d, e in zip(docs, entries)]
    if not shown or any(value is None for value in shown):
        return math.nan, math.nan, math.nan, None
    mean = float(gmean(shown))
    low, high = (min(shown), max(shown)) if len(shown) > 1 else _ci(entries[0].speed[phase]) or (math.nan, math.nan)
    if math.isfinite(base_s) and math.isfinite(cand_s) and (mean - 1) * (base_s / cand_s - 1) < 0:
        return math.nan, math.nan, math.nan, f"geometric-mean speedup withheld: {ratios.DISAGREE} (the seconds)"
    return mean, low, high, None


def _ci(v: PhaseVerdict) -> tuple[float, float] | None:
    return (v.ci[0], v.ci[1]) if v.ci and None not in v.ci else None


def cell_row(cells: Sequence[SweepCell], task: Task) -> dict[str, Any]:
    """One grid point (over its seeds) as a table row."""
    first = cells[0]
    row: dict[str, Any] = dict(first.point)
    docs = [c.doc for c in cells if c.doc is not None]
    if not docs:
        return {**row, "note": f"not run: {first.refused}"}
    primary, baseline, judged = task.judging.primary, docs[0].baseline, not docs[0].settings.quick
    row[f"{baseline} {primary} s"] = _seconds([_median(d.baseline_timing, primary) if d.baseline_status == "ok"
                                            else math.nan for d in docs])
    row.update(_finals(baseline, [d.baseline_final for d in docs], task))
    if not task.judging.outputs:  # a race: the baseline contender can end unfinished too
        row[f"{baseline} {_status_column(task)}"] = _match(["yes" if d.baseline_status == "ok" else d.baseline_status
                                                            for d in docs])
    notes = [f"{baseline}: {d.baseline_outcome or d.baseline_status}" for d in docs if d.baseline_status != "ok"]
    for name in [c.name for c in docs[0].candidates]:
        entries = [next(c for c in d.candidates if c.name == name) for d in docs]
        row[f"{name} {primary} s"] = _seconds([_median(e.timing, primary) if e.status == "ok" else math.nan
                                            for e in entries])
        row.update(_finals(name, [e.final for e in entries], task))
        if judged:
            mean, low, high, why = speedup_cells(docs, entries, primary, row[f"{baseline} {primary} s"],
                                                 row[f"{name} {primary} s"])
            row.update({f"{name} speedup": mean, f"{name} speedup low": low, f"{name} speedup high": high})
            notes += [f"{name}: {why}"] if why else []
        row[f"{name} verdict"] = "; ".join(_verdict(d, e, primary) for d, e in zip(docs, entries))
        row[f"{name} {_status_column(task)}"] = _match([e.status if e.status != "ok" else
                                                        ("yes" if e.equivalent else "NO") for e in entries])
        notes += [f"{name}: {e.diagnosis}" for e in entries if e.status != "ok"]
    row["note"] = "; ".join(notes)
    return row


def _finals(branch: str, finals: list[dict[str, float]], task: Task) -> dict[str, float]:
    """The task's sweep columns (e.g. steps, gradient evaluations, final loss) from the last logged step."""
    return {f"{branch} {col}": _mean([f.get(col, math.nan) for f in finals]) for col in task.sweep_columns}


def _status_column(task: Task) -> str:
    """'match' where outputs are compared (yes/NO), 'status' where only how a run ended is (a race)."""
    return "match" if task.judging.outputs else "status"


def _match(labels: list[str]) -> str:
    """Worst over seeds: a crash or timeout, then a task's own failure word, then a mismatch, then yes."""
    for worst in ("crashed", "timeout"):
        if worst in labels:
            return worst
    own = [label for label in labels if label not in ("yes", "NO")]
    if own:
        return own[0]
    return "NO" if "NO" in labels else "yes" if labels else "missing"


def build_table(cells: Sequence[SweepCell], task: Task) -> pd.DataFrame:
    """Rows in grid order, seeds of one point merged."""
    groups: dict[tuple, list[SweepCell]] = {}
    for cell in cells:
        groups.setdefault(tuple(cell.point.items()), []).append(cell)
    return pd.DataFrame([cell_row(group, task) for group in groups.values()])


def _axis(df: pd.DataFrame, task: Task, grid_keys: list[str]) -> tuple[list[float], str]:
    xs, label = [], "grid point"
    for i, (_, row) in enumerate(df.iterrows()):
        point = {k: str(row[k]) for k in grid_keys}
        found = task.hooks.sweep_axis(point) or default_sweep_axis(point)
        label = found[0] if found else "grid point"
        xs.append(found[1] if found else float(i))
    return xs, label


def figure(df: pd.DataFrame, task: Task, grid_keys: list[str], judged: bool = True) -> Any:
    """Judged speedups against the grid axis, with their spread — or each branch's seconds, for a race and for
    a sweep of single runs (whose ratios are no speedups, so none is plotted as one)."""
    xs, label = _axis(df, task, grid_keys)
    if task.judging.outputs and judged:
        return sweep_figure(_series(df, task, grid_keys, xs, label, " speedup"), label,
                            "speedup vs baseline (log scale)", title="geometric mean of the seeds' judged speedups")
    primary = task.judging.primary
    return sweep_figure(_series(df, task, grid_keys, xs, label, f" {primary} s"), label,
                        f"{task.judging.label(primary)} (s, log scale)", ratio=False,
                        title="" if judged else f"one run per branch, grid point and seed ({SINGLE_RUN})")


def plot(df: pd.DataFrame, task: Task, grid_keys: list[str], path: Path, judged: bool = True) -> Path:
    return save(figure(df, task, grid_keys, judged), path)


def _series(df: pd.DataFrame, task: Task, grid_keys: list[str], xs: list[float], label: str,
            suffix: str) -> list[Series]:
    """One series per branch (columns ending in `suffix`) and value of the grid keys off the x axis; the
    points without a value kept as failures, with the reason."""
    x_key = next((k for k in grid_keys if (task.hooks.sweep_axis({k: "1"}) or ("",))[0] == label), grid_keys[0])
    others = [k for k in grid_keys if k != x_key]
    series = []
    for col in [c for c in df.columns if c.endswith(suffix)]:
        name = col[: -len(suffix)]
        for group, part in (df.groupby(others, sort=False) if others else [((), df)]):
            tag = ", ".join(f"{k}={v}" for k, v in zip(others, group if isinstance(group, tuple) else (group,)))
            series.append(_one_series(df, [df.index.get_loc(j) for j in part.index], xs, name, col, tag, task))
    return series


def _one_series(df: pd.DataFrame, rows: list[int], xs: list[float], name: str, col: str, tag: str,
                task: Task) -> Series:
    points, failures = [], []
    for i in sorted(rows, key=lambda i: xs[i]):
        value = df[col].iloc[i]
        if isinstance(value, (int, float)) and math.isfinite(value):
            low, high = (df[f"{col} {end}"].iloc[i] if f"{col} {end}" in df.columns else math.nan
                         for end in ("low", "high"))
            points.append((xs[i], float(value), (low, high) if math.isfinite(low) and math.isfinite(high) else None))
        else:
            failures.append((xs[i], _why_missing(df.iloc[i], name, task, col.endswith(" speedup"))))
    return Series(name, [p[0] for p in points], [p[1] for p in points], [p[2] for p in points], tag, failures)


def _why_missing(row: pd.Series, name: str, task: Task, speedup: bool) -> str:
    """The reason a point has no value: the grid point was not run, the branch failed, or it has no speedup."""
    if str(row.get("note", "")).startswith("not run"):
        return "grid point not run"
    status = row.get(f"{name} {_status_column(task)}")
    if isinstance(status, str) and status != "yes":
        return "not equivalent" if status == "NO" else status
    return "no speedup shown (see the verdict)" if speedup else "no time logged"


def markdown_table(df: pd.DataFrame) -> str:
    """The table for people: each speedup with its spread in one cell, a dash where there is no value."""
    shown = df.copy()
    for col in [c for c in df.columns if c.endswith(" speedup")]:
        shown[col] = [_spread_cell(*values) for values in zip(df[col], df[f"{col} low"], df[f"{col} high"])]
        shown = shown.drop(columns=[f"{col} low", f"{col} high"])
    shown = shown.astype(object).where(shown.notna(), None)
    table = shown.to_markdown(index=False, floatfmt=".3f", missingval=DASH)
    if any(c.endswith(" speedup") for c in df.columns):
        table += ("\n\nspeedup: the geometric mean of the seeds' judged speedups [the lowest, the highest seed]; "
                  "with one seed [its CI]. Seconds: geometric means over the seeds too.")
    return table


def _spread_cell(mean: float, low: float, high: float) -> str | None:
    if not math.isfinite(mean):
        return None
    return f"{mean:.2f}×" + (f" [{low:.2f}, {high:.2f}]" if math.isfinite(low) and math.isfinite(high) else "")


@dataclass(frozen=True)
class SweepTable:
    """What every sweep exporter writes from: the table, the task that names its columns, the grid's keys, and
    whether its speedups were judged (a sweep of single runs has none)."""

    df: pd.DataFrame
    task: Task
    grid_keys: list[str]
    judged: bool = True


def write_csv(table: SweepTable, path: Path) -> Path:
    """Every number, unrounded."""
    table.df.to_csv(path, index=False)
    return path


def write_md(table: SweepTable, path: Path) -> Path:
    """The table for people, and the task's own summary of it under it (a hook)."""
    summary = table.task.hooks.sweep_summary(table.df, table.grid_keys)
    path.write_text(markdown_table(table.df) + "\n" + (f"\n{summary}\n" if summary else ""), encoding="utf-8")
    return path


def write_png(table: SweepTable, path: Path) -> Path:
    return plot(table.df, table.task, table.grid_keys, path, table.judged)
