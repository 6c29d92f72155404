"""The sweep's outputs: one row per grid point, columns per branch, as CSV, markdown and a plot.

`evalharness sweep` yields one compare per (grid point, seed); readers want
the seed notebook's shape instead: for each configuration, how long every
branch took, how much faster than the baseline, how sure that is, and
whether its output still matched. Column names come from the task's phases,
the plot's x axis from its `sweep_axis` hook.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.export.charts import sweep_chart
from harness.results import CompareDocument, PhaseVerdict
from harness.tasks import Task
from harness.tasks.base import default_sweep_axis

log = logging.getLogger(__name__)
SINGLE_RUN = "single run, not judged"


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


def _judged(v: PhaseVerdict | None, judged: bool) -> str:
    if v is None or v.speedup is None:
        return "–"
    if not judged:
        return SINGLE_RUN
    ci = f" [{v.ci[0]:.2f}, {v.ci[1]:.2f}]" if v.ci and None not in v.ci else ""
    return f"{v.verdict} {v.speedup:.2f}×{ci}"


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def cell_row(cells: Sequence[SweepCell], task: Task) -> dict[str, Any]:
    """One grid point (over its seeds) as a table row."""
    first = cells[0]
    row: dict[str, Any] = dict(first.point)
    docs = [c.doc for c in cells if c.doc is not None]
    if not docs:
        return {**row, "note": f"not run: {first.refused}"}
    primary, baseline = task.judging.primary, docs[0].baseline
    row[f"{baseline} {primary} s"] = _mean([_median(d.baseline_timing, primary) if d.baseline_status == "ok"
                                            else math.nan for d in docs])
    row.update(_finals(baseline, [d.baseline_final for d in docs], task))
    notes = [f"{baseline}: {d.baseline_outcome or d.baseline_status}" for d in docs if d.baseline_status != "ok"]
    for name in [c.name for c in docs[0].candidates]:
        entries = [next(c for c in d.candidates if c.name == name) for d in docs]
        judged = not docs[0].settings.quick
        row[f"{name} {primary} s"] = _mean([_median(e.timing, primary) if e.status == "ok" else math.nan
                                            for e in entries])
        row.update(_finals(name, [e.final for e in entries], task))
        row[f"{name} speedup"] = _mean([e.speedup.get(primary) or math.nan for e in entries])
        row[f"{name} verdict"] = "; ".join(_judged(e.speed.get(primary), judged) for e in entries)
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


def plot(df: pd.DataFrame, task: Task, grid_keys: list[str], path: Path) -> Path:
    """Speedup per candidate against the grid axis — or, for a race, each contender's time."""
    if not task.judging.outputs:
        return time_plot(df, task, grid_keys, path)
    xs, label = _axis(df, task, grid_keys)
    series = []
    for col in [c for c in df.columns if c.endswith(" speedup")]:
        name = col[: -len(" speedup")]
        pairs = sorted((x, float(y), _ci_of(v)) for x, y, v in zip(xs, df[col], df[f"{name} verdict"])
                       if isinstance(y, (int, float)) and math.isfinite(y))
        series.append((name, [p[0] for p in pairs], [p[1] for p in pairs], [p[2] for p in pairs]))
    return sweep_chart(series, label, path)


def time_plot(df: pd.DataFrame, task: Task, grid_keys: list[str], path: Path) -> Path:
    """Each branch's primary-phase seconds against the grid axis, one line per value of the other grid keys."""
    xs, label = _axis(df, task, grid_keys)
    x_key = next((k for k in grid_keys if (task.hooks.sweep_axis({k: "1"}) or ("",))[0] == label), grid_keys[0])
    others = [k for k in grid_keys if k != x_key]
    series = []
    for col in [c for c in df.columns if c.endswith(f" {task.judging.primary} s")]:
        name = col[: -len(f" {task.judging.primary} s")]
        for group, part in (df.groupby(others, sort=True) if others else [((), df)]):
            pairs = sorted((xs[i], float(df[col].iloc[i])) for i in [df.index.get_loc(j) for j in part.index]
                           if math.isfinite(float(df[col].iloc[i])))
            tag = ", ".join(f"{k}={v}" for k, v in zip(others, group if isinstance(group, tuple) else (group,)))
            series.append((f"{name} {tag}".strip(), [p[0] for p in pairs], [p[1] for p in pairs], [None] * len(pairs)))
    return sweep_chart(series, label, path, y_label=f"{task.judging.label(task.judging.primary)} (s, log scale)",
                       ratio=False)


def _ci_of(cell: Any) -> tuple[float, float] | None:
    """The [lo, hi] of a single-seed verdict cell, when it has one."""
    text = str(cell)
    if "[" not in text or ";" in text:
        return None
    lo, hi = text[text.index("[") + 1: text.index("]")].split(",")
    return float(lo), float(hi)


def write(df: pd.DataFrame, task: Task, grid_keys: list[str], out_dir: Path, stem: str = "sweep") -> dict[str, Path]:
    """`<stem>.csv`, `<stem>.md` and `<stem>.png` in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: out_dir / f"{stem}.{ext}" for ext in ("csv", "md", "png")}
    df.to_csv(paths["csv"], index=False)
    summary = task.hooks.sweep_summary(df, grid_keys)
    paths["md"].write_text(df.to_markdown(index=False, floatfmt=".3f") + "\n" + (f"\n{summary}\n" if summary else ""),
                           encoding="utf-8")
    plot(df, task, grid_keys, paths["png"])
    log.info("wrote sweep table to %s", ", ".join(str(p) for p in paths.values()))
    return paths
