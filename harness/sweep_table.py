"""Solver-notebook-style sweep table: one row per grid point, columns per branch.

`evalharness sweep` yields one record per (grid point, branch, seed). Readers
want the opposite shape: for each configuration, how fast was every branch,
how much faster than the baseline, and did its output still match. This
module pivots the records into that table and writes it as CSV, Markdown and
a speed-up plot.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

_SHAPE_RE = re.compile(r"^\s*\[\s*([\d\s,]*?)\s*,?\s*\]\s*(?:\*\s*(\d+))?\s*$")


def _grid_key(record: dict) -> tuple:
    """Hashable identity of a record's grid point (values in key order)."""
    return tuple(record["grid"].items())


def _grid_columns(records: Sequence[dict]) -> list[str]:
    """Grid keys in the order the sweep declared them (first record wins)."""
    columns: list[str] = []
    for record in records:
        columns.extend(k for k in record["grid"] if k not in columns)
    return columns


def _branch_order(records: Sequence[dict], baseline: str) -> list[str]:
    """Baseline first, then candidates in the order they were first seen."""
    order = [baseline]
    for record in records:
        if record["branch"] not in order:
            order.append(record["branch"])
    return order


def _ok_mean(records: Sequence[dict], field: str) -> float:
    """Mean of `field` over runs that finished; crashed runs have no timing."""
    values = [
        r[field]
        for r in records
        if r.get("status") == "ok" and r.get(field) is not None
        and math.isfinite(r[field])
    ]
    return sum(values) / len(values) if values else math.nan


def _match_label(records: Sequence[dict]) -> str:
    """Worst outcome over seeds: a crash or timeout beats a mismatch beats "yes".

    Crashes are named as such because "NO" would wrongly suggest the
    candidate ran and produced different output.
    """
    if not records:
        return "missing"
    statuses = {r.get("status") for r in records}
    if "crashed" in statuses:
        return "crashed"
    if "timeout" in statuses:
        return "timeout"
    matches = [r.get("matched") for r in records]
    if any(m is False for m in matches):
        return "NO"
    return "yes" if all(m is True for m in matches) else "unknown"


def _speedup(base_period: float, cand_period: float) -> float:
    """Baseline period / candidate period; NaN when either is unusable."""
    if not (base_period > 0 and cand_period > 0):
        return math.nan
    return base_period / cand_period


def _branch_cells(
    branch: str, runs: Sequence[dict], base_period: float | None
) -> dict:
    """Columns for one branch at one grid point (base_period None: baseline)."""
    period = _ok_mean(runs, "period_s")
    cells = {
        f"{branch} visualise s": _ok_mean(runs, "visualise_s"),
        f"{branch} period s": period,
    }
    if base_period is not None:
        cells[f"{branch} speedup"] = _speedup(base_period, period)
        cells[f"{branch} match"] = _match_label(runs)
    return cells


def build_sweep_table(records: Iterable[dict], baseline: str) -> pd.DataFrame:
    """Pivot per-run records into one row per grid point.

    Columns: grid keys (declared order), then per branch (baseline first)
    `<b> visualise s`, `<b> period s` (means over seeds, finished runs only)
    and for candidates `<b> speedup` and `<b> match`.
    """
    records = list(records)
    grid_cols = _grid_columns(records)
    branches = _branch_order(records, baseline)
    points: dict[tuple, list[dict]] = {}
    for record in records:
        points.setdefault(_grid_key(record), []).append(record)
    rows = [_table_row(runs, grid_cols, branches) for runs in points.values()]
    columns = grid_cols + _value_columns(branches)
    return pd.DataFrame(rows, columns=columns)


def _table_row(runs: list[dict], grid_cols: list[str], branches: list[str]) -> dict:
    """One grid point's row; branches missing from the point get NaN/"missing"."""
    row = {k: runs[0]["grid"].get(k) for k in grid_cols}
    base_runs = [r for r in runs if r["branch"] == branches[0]]
    base_period = _ok_mean(base_runs, "period_s")
    row.update(_branch_cells(branches[0], base_runs, None))
    for branch in branches[1:]:
        branch_runs = [r for r in runs if r["branch"] == branch]
        row.update(_branch_cells(branch, branch_runs, base_period))
    return row


def _value_columns(branches: list[str]) -> list[str]:
    """Column order for the per-branch values (fixes order for empty input)."""
    columns = [f"{branches[0]} visualise s", f"{branches[0]} period s"]
    for branch in branches[1:]:
        columns += [f"{branch} {suffix}" for suffix in
                    ("visualise s", "period s", "speedup", "match")]
    return columns


def hidden_units(shape: object) -> int | None:
    """Total hidden units of a shape like "[100]*20" or "[64, 32]"; else None.

    Parsed with a regex, never run as Python: grid values come from the command line.
    """
    if isinstance(shape, (list, tuple)):
        return sum(int(w) for w in shape)
    match = _SHAPE_RE.match(str(shape))
    if not match:
        return None
    widths = [int(w) for w in re.split(r"[\s,]+", match.group(1)) if w]
    return sum(widths) * int(match.group(2) or 1)


def _x_axis(df: pd.DataFrame) -> tuple[list[float], str]:
    """Network size from the `shape` column, else grid-point order."""
    if "shape" in df.columns:
        units = [hidden_units(s) for s in df["shape"]]
        if all(u is not None for u in units):
            return units, "hidden units (sum of layer widths)"
        log.warning("unparseable shape values; plotting against grid point order")
    return list(range(len(df))), "grid point"


def _plot_series(df: pd.DataFrame, xs: list[float]) -> list[tuple[str, list, list]]:
    """(label, x, y) per candidate, split by `size` when that column exists."""
    candidates = [c[: -len(" speedup")] for c in df.columns if c.endswith(" speedup")]
    groups = df.groupby("size", sort=True) if "size" in df.columns else [(None, df)]
    series = []
    for cand in candidates:
        for size, part in groups:
            pairs = sorted(zip([xs[i] for i in _positions(df, part)],
                               part[f"{cand} speedup"]))
            label = cand if size is None else f"{cand} size={size}"
            series.append((label, [p[0] for p in pairs], [p[1] for p in pairs]))
    return series


def _positions(df: pd.DataFrame, part: pd.DataFrame) -> list[int]:
    """Row positions of `part` within `df` (index labels may not be 0..n-1)."""
    return [df.index.get_loc(label) for label in part.index]


def plot_speedup(df: pd.DataFrame, path: Path) -> Path:
    """Line plot of period speed-up vs network size, with parity dashed at 1."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    xs, xlabel = _x_axis(df)
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for label, x, y in _plot_series(df, xs):
        ax.plot(x, y, marker="o", label=label)
    ax.axhline(1.0, linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("period speedup (×)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def write_sweep_outputs(
    df: pd.DataFrame, out_dir: Path, stem: str = "sweep"
) -> dict[str, Path]:
    """Write `<stem>.csv`, `<stem>.md` and `<stem>.png`; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: out_dir / f"{stem}.{ext}" for ext in ("csv", "md", "png")}
    df.to_csv(paths["csv"], index=False)
    paths["md"].write_text(df.to_markdown(index=False, floatfmt=".3f") + "\n")
    plot_speedup(df, paths["png"])
    log.info("wrote sweep table to %s", ", ".join(str(p) for p in paths.values()))
    return paths
