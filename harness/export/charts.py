"""Charts for the reports: speedups with their confidence intervals, on a log axis.

A ratio chart on a log axis shows 0.5× and 2× as equally far from 1×, and no
bar vanishes next to a longer phase (which is what bars of seconds did).
matplotlib is imported here only, and with the Agg backend: import time is
harness overhead, and a caller's backend is not ours to change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.export import ratios
from harness.results import CandidateVerdict, Leaderboard, Summary


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _log_ratio_axis(axis: Any) -> None:
    """Log scale with ticks written as ratios (0.5×, 1×, 2×), not as powers of ten."""
    from matplotlib.ticker import FuncFormatter

    axis._set_axes_scale("log")
    label = FuncFormatter(lambda v, _: f"{v:g}×")
    axis.set_major_formatter(label)
    axis.set_minor_formatter(label)


def speedup_chart(cand: CandidateVerdict, baseline_timing: dict[str, Summary | None], threshold: float,
                  target: Path) -> Path:
    """One row per phase: the judged speedup, its CI, 1× and the ±threshold band (only the speedups a report
    may show: see harness.export.ratios)."""
    phases = [p for p, v in cand.speed.items() if ratios.speedup(v, baseline_timing.get(p), cand.timing.get(p))]
    fig = _figure(7, 0.6 * len(phases) + 1.4)
    ax = fig.add_subplot()
    for row, phase in enumerate(phases):
        v = cand.speed[phase]
        lo, hi = (v.ci or [None, None]) if v.ci else (None, None)
        err = [[v.speedup - lo], [hi - v.speedup]] if _finite(lo) and _finite(hi) else None
        colour = {"faster": "tab:green", "slower": "tab:red"}.get(v.verdict, "tab:gray")
        ax.errorbar([v.speedup], [row], xerr=err, fmt="o", color=colour, capsize=4)
    ax.axvspan(1 / (1 + threshold), 1 + threshold, color="0.9", label=f"±{threshold:.0%}")
    ax.axvline(1.0, color="0.4", linewidth=1)
    _log_ratio_axis(ax.xaxis)
    ax.set_yticks(range(len(phases)), phases)
    ax.set_xlabel("speedup vs baseline (× , log scale; > 1 is faster/lower)")
    ax.set_title(f"{cand.name}: {cand.verdict}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(target, format="png")
    return target


def sweep_chart(series: Sequence[tuple[str, list[float], list[float], list[tuple[float, float] | None]]],
                x_label: str, target: Path, y_label: str = "speedup vs baseline (log scale)", ratio: bool = True) -> Path:
    """Values against a grid axis, one line per series, with CI whiskers where judged (speedups by default)."""
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    for name, xs, ys, cis in series:
        ax.plot(xs, ys, marker="o", label=name)
        for x, y, ci in zip(xs, ys, cis):
            if ci is not None and _finite(ci[0]) and _finite(ci[1]):
                ax.vlines(x, ci[0], ci[1], color="0.5")
    if ratio:
        ax.axhline(1.0, color="0.4", linewidth=1, linestyle="--")
        _log_ratio_axis(ax.yaxis)
    else:
        ax.set_yscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, format="png")
    return target


def leaderboard_chart(lb: Leaderboard, target: Path) -> Path:
    """Left: share equivalent and fast_p per agent; right: geomean speedup with its CI, log axis."""
    fig = _figure(10, 1.4 + 0.5 * max(1, len(lb.rows)))
    shares, speeds = fig.subplots(1, 2)
    labels = [f"{r.agent} (ref.)" if r.reference else r.agent for r in lb.rows]
    _share_bars(shares, lb, labels)
    _geomean_points(speeds, lb, labels)
    fig.tight_layout()
    fig.savefig(target, format="png")
    return target


def _share_bars(ax: Any, lb: Leaderboard, labels: list[str]) -> None:
    keys = [f"{p:.1f}" for p in lb.thresholds]
    series = [("equivalent", [r.share_equivalent for r in lb.rows])]
    series += [(f"fast_{k}", [r.fast.get(k) or 0.0 for r in lb.rows]) for k in keys]
    height = 0.8 / len(series)
    for i, (name, values) in enumerate(series):
        ax.barh([y - 0.4 + (i + 0.5) * height for y in range(len(lb.rows))], values, height=height, label=name)
    ax.set_yticks(range(len(lb.rows)), labels)
    ax.set_xlim(0, 1)
    ax.set_ylim(len(lb.rows) - 0.5, -0.5)
    ax.set_xlabel("share of attempts")
    ax.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(series), frameon=False)


def _geomean_points(ax: Any, lb: Leaderboard, labels: list[str]) -> None:
    for row, r in enumerate(lb.rows):
        if not _finite(r.geomean_speedup):
            continue
        lo, hi = r.geomean_ci or [r.geomean_speedup, r.geomean_speedup]
        ax.errorbar([r.geomean_speedup], [row], xerr=[[r.geomean_speedup - lo], [hi - r.geomean_speedup]],
                    fmt="o", capsize=4, color="tab:gray" if r.reference else "tab:blue")
    ax.axvline(1.0, color="0.4", linewidth=1)
    _log_ratio_axis(ax.xaxis)
    ax.set_yticks(range(len(lb.rows)), labels)
    ax.set_ylim(len(lb.rows) - 0.5, -0.5)
    ax.set_xlabel(f"geomean {lb.phase} speedup, equivalent attempts")
    ax.set_title("95% CI (t on logs)", fontsize="small")
