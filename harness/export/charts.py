"""Charts for the reports: speedups with their confidence intervals, times against a grid, the leaderboard.

A ratio chart on a log axis shows 0.5× and 2× as equally far from 1×, and no
bar vanishes next to a longer phase (which is what bars of seconds did). Every
chart is built by a `*_figure` function (what a test inspects) and saved by
its `*_chart` twin. What a reader needs to read one without the code:

- at least three labelled ticks on a log axis (matplotlib's own log locator
  labels one or two over a 0.6–1.4× range, or crowds a decade of minor labels
  together when the axis is empty): `NiceLogLocator`;
- a key for every colour, marker and line style, outside the data;
- no empty panel: a panel with nothing to show is not drawn, its absence said;
- failures drawn, in a strip above the data with the reason as its row label,
  rather than silently missing points;
- memory on its own axis, never on the speed axis.

matplotlib is imported here only, and with the Agg backend: import time is
harness overhead, and a caller's backend is not ours to change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import constants as C
from harness.export import ratios
from harness.results import CandidateVerdict, Leaderboard, PhaseVerdict, Summary

GOOD, BAD, NEUTRAL = "tab:green", "tab:red", "tab:gray"
VERDICT_COLOURS = {"faster": GOOD, "lower": GOOD, "slower": BAD, "higher": BAD}
MARKERS = ("X", "^", "s", "D", "v", "P", "*")
LINE_STYLES = ("-", "--", ":", "-.")
MOST_TICKS = 8


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)  # drawn off-screen whatever the caller's backend (and measurable before saving)
    return fig


def save(fig: Any, target: Path) -> Path:
    """PNG, cropped to what was drawn: keys placed outside the axes stay in the picture."""
    fig.savefig(target, format="png", bbox_inches="tight", pad_inches=0.15)
    return target


# --------------------------------------------------------------------------- #
# Log axes a reader can read
# --------------------------------------------------------------------------- #


def nice_log_ticks(vmin: float, vmax: float, most: int = MOST_TICKS) -> list[float]:
    """At least three round values inside [vmin, vmax] when the range allows, at most `most`.

    Wide ranges get decades, then 1-2-5 steps; narrow ones (a speedup chart
    spans 0.6–1.4× more often than not) get evenly spaced round values, which
    is what a reader compares against.
    """
    lo, hi = sorted((vmin, vmax))
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= 0:
        return []
    lo = max(lo, hi * 1e-6)
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    for mantissas in ((1,), (1, 2, 5)):
        ticks = _inside([m * 10.0 ** e for e in decades for m in mantissas], lo, hi)
        if 3 <= len(ticks) <= most:
            return ticks
    steps = sorted((m * 10.0 ** e for e in range(decades[0] - 2, decades[-1] + 1) for m in (1, 2, 5)), reverse=True)
    for fewest in (4, 3):
        for step in steps:
            ticks = _inside([k * step for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)], lo, hi)
            if fewest <= len(ticks) <= most:
                return ticks
    return []


def _inside(values: list[float], lo: float, hi: float) -> list[float]:
    return sorted({round(v, 12) for v in values if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9) and v > 0})


def _log_axis(axis: Any, unit: str) -> None:
    """Log scale, NiceLogLocator's ticks labelled "0.8×" / "3 s", unlabelled minor ticks."""
    from matplotlib.ticker import FuncFormatter, Locator, NullFormatter

    class NiceLogLocator(Locator):
        def __call__(self) -> list[float]:
            return self.tick_values(*self.axis.get_view_interval())

        def tick_values(self, vmin: float, vmax: float) -> list[float]:
            return nice_log_ticks(vmin, vmax)

    axis._set_axes_scale("log")
    axis.set_major_locator(NiceLogLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}{unit}"))
    axis.set_minor_formatter(NullFormatter())


def ratio_axis(axis: Any) -> None:
    _log_axis(axis, "×")


def seconds_axis(axis: Any) -> None:
    _log_axis(axis, " s")


# --------------------------------------------------------------------------- #
# One candidate's speedups (the report's chart)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Row:
    """One phase of the speedup chart: the speedup a report may show (None: withheld) and its verdict."""

    phase: str
    value: float | None
    ci: tuple[float, float] | None
    verdict: str


def speedup_rows(cand: CandidateVerdict, baseline_timing: dict[str, Summary | None]) -> list[Row]:
    """The phases with a speedup to show, and those whose speedup is withheld (ratios.contradicted)."""
    rows = []
    for phase, v in cand.speed.items():
        base, mine = baseline_timing.get(phase), cand.timing.get(phase)
        value = ratios.speedup(v, base, mine)
        if value is not None or ratios.contradicted(v, base, mine):
            rows.append(Row(phase, value, _ci(v) if value is not None else None, v.verdict))
    return rows


def _ci(v: PhaseVerdict) -> tuple[float, float] | None:
    lo, hi = (v.ci or [None, None])[:2]
    return (lo, hi) if ratios.finite(lo) and ratios.finite(hi) else None


def speedup_figure(cand: CandidateVerdict, baseline_timing: dict[str, Summary | None], threshold: float) -> Any:
    """Time phases on one log axis, peak memory on its own below; a colour key for the verdicts."""
    rows = speedup_rows(cand, baseline_timing)
    panels = [part for part in ([r for r in rows if r.phase != C.MEMORY_PHASE],
                                [r for r in rows if r.phase == C.MEMORY_PHASE]) if part]
    fig = _figure(7, 1.2 + 0.5 * len(rows) + 0.5 * len(panels))
    grid = fig.add_gridspec(len(panels), 1, height_ratios=[len(p) + 0.8 for p in panels], hspace=0.6)
    for i, part in enumerate(panels):
        ax = fig.add_subplot(grid[i])
        memory = part[0].phase == C.MEMORY_PHASE
        _speedup_panel(ax, part, threshold)
        ax.set_xlabel("peak memory, baseline ÷ candidate (log scale; > 1: candidate uses less)" if memory else
                      "speedup vs baseline (log scale; > 1: candidate faster)")
    fig.axes[0].set_title(f"{cand.name}: {cand.verdict}")
    _verdict_key(fig, threshold)
    return fig


def _speedup_panel(ax: Any, rows: list[Row], threshold: float) -> None:
    for y, row in enumerate(rows):
        if row.value is None:
            ax.text(0.02, y, f"no speedup shown: {ratios.DISAGREE}", transform=ax.get_yaxis_transform(),
                    va="center", fontsize="small", color="0.35", style="italic")
            continue
        err = [[row.value - row.ci[0]], [row.ci[1] - row.value]] if row.ci else None
        ax.errorbar([row.value], [y], xerr=err, fmt="o", color=VERDICT_COLOURS.get(row.verdict, NEUTRAL), capsize=4)
    ax.axvspan(1 / (1 + threshold), 1 + threshold, color="0.9", zorder=0)
    ax.axvline(1.0, color="0.4", linewidth=1, zorder=1)
    ratio_axis(ax.xaxis)
    ax.set_yticks(range(len(rows)), [r.phase for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)


def _verdict_key(fig: Any, threshold: float) -> None:
    """The colour key, below the figure (never over a point or a label)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], marker="o", linestyle="none", color=GOOD, label="faster / lower (significant)"),
               Line2D([], [], marker="o", linestyle="none", color=BAD, label="slower / higher (significant)"),
               Line2D([], [], marker="o", linestyle="none", color=NEUTRAL,
                      label="no significant difference, or inconclusive"),
               Line2D([], [], color="black", marker="|", markersize=10, label="confidence interval"),
               Patch(color="0.9", label=f"±{threshold:.0%} threshold")]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize="small",
               frameon=False)


def speedup_chart(cand: CandidateVerdict, baseline_timing: dict[str, Summary | None], threshold: float,
                  target: Path) -> Path:
    return save(speedup_figure(cand, baseline_timing, threshold), target)


# --------------------------------------------------------------------------- #
# Values against a grid axis (sweeps, the race)
# --------------------------------------------------------------------------- #


@dataclass
class Series:
    """One line of a sweep chart: its branch (the colour key), its group (the line-style key: the other grid
    keys' values, "" for none), its points with their spread, and the points it has no value for, with why."""

    branch: str
    xs: list[float]
    ys: list[float]
    spread: list[tuple[float, float] | None] = field(default_factory=list)
    group: str = ""
    failures: list[tuple[float, str]] = field(default_factory=list)


def sweep_figure(series: Sequence[Series], x_label: str, y_label: str, ratio: bool = True, title: str = "") -> Any:
    """Lines against the grid axis (log y), a strip above them for the points that have no value, one key."""
    reasons = list(dict.fromkeys(reason for s in series for _, reason in s.failures))
    fig = _figure(7.5, 4.2 + 0.3 * len(reasons))
    grid = fig.add_gridspec(2 if reasons else 1, 1, height_ratios=[0.45 * len(reasons) + 0.3, 4] if reasons else [1],
                            hspace=0.08)
    ax = fig.add_subplot(grid[-1])
    colours = _colours([s.branch for s in series])
    styles = {g: LINE_STYLES[i % len(LINE_STYLES)] for i, g in enumerate(dict.fromkeys(s.group for s in series))}
    sizes = {name: max(4.0, 10.0 - 1.5 * i) for i, name in enumerate(colours)}  # equal values stay visible
    for s in series:
        _draw_series(ax, s, colours[s.branch], styles[s.group], _fill(styles[s.group]), sizes[s.branch])
    if ratio:
        ax.axhline(1.0, color="0.4", linewidth=1, linestyle="--")
        ratio_axis(ax.yaxis)
    else:
        seconds_axis(ax.yaxis)
    _grid_axis(ax, [x for s in series for x in [*s.xs, *(f for f, _ in s.failures)]])
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3)
    top = ax
    if reasons:
        top = fig.add_subplot(grid[0], sharex=ax)
        _failure_strip(top, series, reasons, colours)
    if title:
        top.set_title(title, fontsize="medium")
    _series_key(top, colours, styles, bool(any(any(s.spread) for s in series)))
    return fig


def _colours(branches: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    names = list(dict.fromkeys(branches))
    palette = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: palette(i % palette.N) for i, name in enumerate(names)}


def _fill(style: str) -> str:
    """Markers of the first line style filled, of the others hollow: a failure marker says which line it is."""
    return "full" if style == LINE_STYLES[0] else "none"


def _draw_series(ax: Any, s: Series, colour: Any, style: str, fill: str, size: float) -> None:
    """Earlier branches get larger markers, so a branch whose values equal another's still shows as a ring."""
    ax.plot(s.xs, s.ys, marker="o", color=colour, linestyle=style, fillstyle=fill, markersize=size)
    for x, spread in zip(s.xs, s.spread):
        if spread is not None and ratios.finite(spread[0]) and ratios.finite(spread[1]):
            ax.vlines(x, spread[0], spread[1], color=colour, alpha=0.6, linewidth=2)


def _grid_axis(ax: Any, xs: list[float]) -> None:
    """A grid axis of whole numbers (classes, sizes) gets whole-number ticks: the grid's own values when few."""
    from matplotlib.ticker import MaxNLocator

    values = sorted(set(xs))
    if values and all(float(x).is_integer() for x in values):
        if len(values) <= 12:
            ax.set_xticks(values, [f"{x:g}" for x in values])
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if values:  # room for the failure markers spread around the outermost grid values
        pad = 0.1 * (values[-1] - values[0]) or 1.0
        ax.set_xlim(values[0] - pad, values[-1] + pad)


def _failure_strip(ax: Any, series: Sequence[Series], reasons: list[str], colours: dict[str, Any]) -> None:
    """One row per reason (its label says why), a marker per point without a value, in its branch's colour."""
    from matplotlib.transforms import offset_copy

    failing = [s for s in series if s.failures]
    for i, s in enumerate(failing):
        shift = offset_copy(ax.transData, fig=ax.figure, x=(i - (len(failing) - 1) / 2) * 7, units="points")
        for x, reason in s.failures:
            ax.plot([x], [reasons.index(reason)], marker=MARKERS[reasons.index(reason) % len(MARKERS)],
                    color=colours[s.branch], linestyle="none", markersize=8, transform=shift,
                    fillstyle=_fill(_style_of(series, s)))
    ax.set_yticks(range(len(reasons)), [f"no value: {r}" for r in reasons], fontsize="small")
    ax.set_ylim(len(reasons) - 0.5, -0.5)
    ax.tick_params(axis="x", labelbottom=False)
    ax.grid(axis="x", alpha=0.3)


def _style_of(series: Sequence[Series], s: Series) -> str:
    groups = list(dict.fromkeys(x.group for x in series))
    return LINE_STYLES[groups.index(s.group) % len(LINE_STYLES)]


def _series_key(ax: Any, colours: dict[str, Any], styles: dict[str, str], spread: bool) -> None:
    """Branch colours, then group line styles, then the whisker: one key, right of the chart."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, marker="o", label=name) for name, c in colours.items()]
    if len(styles) > 1:
        handles += [Line2D([], [], color="black", linestyle=style, marker="o", fillstyle=_fill(style), label=group)
                    for group, style in styles.items()]
    if spread:
        handles.append(Line2D([], [], color="0.4", linewidth=2, marker="|", markersize=10,
                              label="lowest to highest seed\n(one seed: its CI)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)


# --------------------------------------------------------------------------- #
# The leaderboard
# --------------------------------------------------------------------------- #

SHARE_HUES = ("tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def leaderboard_figure(lb: Leaderboard) -> Any:
    """Left: share equivalent, fast_p and sig_fast_p per agent; right: the geomean speedup with its CI — only
    when some agent has one (a --quick board judged no speed: one panel, and its title says so)."""
    judged = any(v is not None for r in lb.rows for v in (*r.fast.values(), *r.sig_fast.values()))
    speeds = any(ratios.finite(r.geomean_speedup) for r in lb.rows)
    fig = _figure(11 if speeds else 6.5, 2.2 + 0.6 * max(1, len(lb.rows)))
    axes = fig.subplots(1, 2, gridspec_kw={"wspace": 0.45}) if speeds else [fig.subplots(1, 1)]
    labels = [f"{r.agent} (ref.)" if r.reference else r.agent for r in lb.rows]
    _share_bars(axes[0], lb, labels, judged)
    if speeds:
        _geomean_points(axes[1], lb, labels)
    return fig


def _share_bars(ax: Any, lb: Leaderboard, labels: list[str], judged: bool) -> None:
    """One slot per measure: equivalent, then per p a light fast_p bar with the darker sig_fast_p inside it."""
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    keys = [f"{p:.1f}" for p in lb.thresholds] if judged else []
    height = 0.8 / (1 + len(keys))
    ys = range(len(lb.rows))
    slot = [y - 0.4 + 0.5 * height for y in ys]
    ax.barh(slot, [r.share_equivalent for r in lb.rows], height=height, color="tab:blue")
    _bar_labels(ax, slot, [f"{r.share_equivalent:.0%}" for r in lb.rows], [r.share_equivalent for r in lb.rows])
    light, dark = [Patch(color="tab:blue", label="equivalent")], [Patch(visible=False, label=" ")]
    for i, key in enumerate(keys, start=1):
        hue, slot = SHARE_HUES[(i - 1) % len(SHARE_HUES)], [y - 0.4 + (i + 0.5) * height for y in ys]
        pairs = [(r.fast.get(key) or 0.0, r.sig_fast.get(key) or 0.0) for r in lb.rows]
        ax.barh(slot, [f for f, _ in pairs], height=height, color=to_rgba(hue, 0.35))
        ax.barh(slot, [g for _, g in pairs], height=height / 2, color=hue)
        _bar_labels(ax, slot, [f">{key}×: {f:.0%} / {g:.0%}" for f, g in pairs], [max(f, g) for f, g in pairs])
        light.append(Patch(color=to_rgba(hue, 0.35), label=f"fast_{key}: speedup > {key}×"))
        dark.append(Patch(color=hue, label=f"sig_fast_{key}: CI above {key}×"))
    ax.set_yticks(list(ys), labels)
    ax.set_xlim(0, 1.25)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    ax.set_ylim(len(lb.rows) - 0.5, -0.5)
    ax.set_xlabel("share of attempts")
    ax.set_title("correct, and how often faster" if judged else "correct (--quick: speed not judged)",
                 fontsize="medium")
    handles = light + dark if keys else light  # two columns: KernelBench's fast_p left, ours right of it
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2 if keys else 1,
              fontsize="small", frameon=False)


def _bar_labels(ax: Any, ys: list[float], texts: list[str], ends: list[float]) -> None:
    """The share written at the end of its bar (a 0 % bar is otherwise indistinguishable from a missing one)."""
    for y, text, end in zip(ys, texts, ends):
        ax.text(end + 0.01, y, text, va="center", fontsize="x-small", color="0.25")


def _geomean_points(ax: Any, lb: Leaderboard, labels: list[str]) -> None:
    from matplotlib.lines import Line2D

    for row, r in enumerate(lb.rows):
        if not ratios.finite(r.geomean_speedup):
            ax.text(0.02, row, "no equivalent attempt timed", transform=ax.get_yaxis_transform(), va="center",
                    fontsize="small", color="0.35", style="italic")
            continue
        lo, hi = r.geomean_ci or [r.geomean_speedup, r.geomean_speedup]
        ax.errorbar([r.geomean_speedup], [row], xerr=[[r.geomean_speedup - lo], [hi - r.geomean_speedup]],
                    fmt="o", capsize=4, color=NEUTRAL if r.reference else "tab:blue")
    ax.axvline(1.0, color="0.4", linewidth=1)
    ratio_axis(ax.xaxis)
    ax.set_yticks(range(len(lb.rows)), labels)
    ax.set_ylim(len(lb.rows) - 0.5, -0.5)
    ax.set_xlabel(f"geomean {lb.phase} speedup of the equivalent attempts (log scale)")
    ax.set_title("how much faster, typically", fontsize="medium")
    handles = [Line2D([], [], marker="o", linestyle="none", color="tab:blue", label="agent"),
               Line2D([], [], marker="o", linestyle="none", color=NEUTRAL, label="reference (not ranked)"),
               Line2D([], [], color="black", marker="|", markersize=10, label="95% CI (t on the logs)")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize="small",
              frameon=False)


def leaderboard_chart(lb: Leaderboard, target: Path) -> Path:
    return save(leaderboard_figure(lb), target)


# --------------------------------------------------------------------------- #
# The heatmap's key
# --------------------------------------------------------------------------- #


def heatmap_key_figure() -> Any:
    """What the heatmap's colours mean (harness.judge.images.write_heatmap): the baseline faded (black becomes
    a light grey), differing pixels in magenta from half to full brightness as the difference grows to the
    image's largest."""
    import numpy as np

    fig = _figure(7, 1.0)
    unchanged, ramp = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 3], "wspace": 0.3})
    unchanged.imshow(np.array([[[0.75, 0.75, 0.75], [0.88, 0.88, 0.88], [1.0, 1.0, 1.0]]]), aspect="auto")
    unchanged.set_title("unchanged pixel:\nthe baseline, faded", fontsize="small")
    unchanged.set_xticks([0, 2], ["black", "white"], fontsize="small")
    strength = np.linspace(0.5, 1.0, 64)
    ramp.imshow(np.stack([strength, 0 * strength, strength], axis=-1)[None], aspect="auto")
    ramp.set_title("differing pixel: magenta,\nbrighter where the difference is larger", fontsize="small")
    ramp.set_xticks([0, 63], ["smallest difference", "this image's largest"], fontsize="small")
    for ax in (unchanged, ramp):
        ax.set_yticks([])
    return fig


def heatmap_key(target: Path) -> Path:
    return save(heatmap_key_figure(), target)
