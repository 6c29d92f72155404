"""Turn the comparison dict produced by ``evalharness compare`` into a markdown report.

The report is meant to be committed next to the code it judges, so every asset
(timing charts, image thumbnails) is written into a sibling ``<stem>_files/``
folder and linked with paths relative to the report file: moving the report
folder as a whole keeps every link working.

``render_markdown`` is pure string building so the layout can be tested
without touching the file system; ``write_report`` does the I/O around it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import matplotlib

logger = logging.getLogger(__name__)

#: Phases shown as speedups in the summary table, in column order.
SUMMARY_PHASES: tuple[tuple[str, str], ...] = (
    ("period", "period speedup"),
    ("visualise", "visualise speedup"),
    ("train_epoch", "train-epoch speedup"),
    ("wall", "wall speedup"),
)
#: Phases drawn in the per-candidate bar chart (all measured in seconds).
CHART_PHASES: tuple[str, ...] = ("train_epoch", "visualise", "period", "wall")
#: Phases listed in the per-candidate timing table.
TIMING_PHASES: tuple[str, ...] = ("train_epoch", "visualise", "period", "wall", "peak_rss_mb")
#: Thumbnails wider than this are downscaled so the report stays light to commit.
THUMB_MAX_WIDTH = 480
#: Image roles copied for the visual comparison, in display order.
IMAGE_ROLES: tuple[str, ...] = ("baseline", "candidate", "heatmap")
DASH = "–"

Assets = dict[str, dict[str, Any]]


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


def write_report(data: dict, path: Path) -> Path:
    """Write the markdown report and its asset folder; return ``path``.

    Assets go to ``<path.stem>_files/`` beside the report so the pair can be
    moved or committed together without breaking the relative links.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    asset_dir = path.parent / f"{path.stem}_files"
    asset_dir.mkdir(exist_ok=True)
    assets = _write_assets(data, asset_dir, path.parent)
    path.write_text(render_markdown(data, assets), encoding="utf-8")
    logger.info("wrote report %s (assets in %s)", path, asset_dir)
    return path


def render_markdown(data: dict, assets: dict) -> str:
    """Build the whole report as markdown.

    ``assets`` maps candidate name to ``{"chart", "epoch", "baseline",
    "candidate", "heatmap"}`` holding link targets already relative to the
    report (any may be missing); an empty dict simply renders no images.
    """
    sections = [
        _header(data),
        _summary_section(data),
        *(_candidate_section(c, data, assets.get(c.get("name", ""), {})) for c in _candidates(data)),
        _environment_section(data),
    ]
    return "\n\n".join(s for s in sections if s).rstrip() + "\n"


# --------------------------------------------------------------------------- #
# Asset writing
# --------------------------------------------------------------------------- #


def _write_assets(data: dict, asset_dir: Path, report_dir: Path) -> Assets:
    """Create chart and thumbnails for each candidate; return relative links by name."""
    assets: Assets = {}
    for index, cand in enumerate(_candidates(data), start=1):
        stem = f"{index:02d}-{_slug(cand.get('name', 'candidate'))}"
        files = _candidate_files(data, cand, asset_dir, stem)
        assets[cand.get("name", "")] = _relative_links(files, report_dir)
    return assets


def _candidate_files(data: dict, cand: Mapping, asset_dir: Path, stem: str) -> dict[str, Any]:
    """Write one candidate's chart and thumbnails; return absolute paths (None where absent)."""
    chart = _bar_chart(data.get("baseline", "baseline"), data.get("baseline_timing") or {},
                       cand, asset_dir / f"{stem}-timing.png")
    entry = _comparison_image(cand.get("images") or [])
    files: dict[str, Any] = {"chart": chart, "epoch": entry.get("epoch") if entry else None}
    for role in IMAGE_ROLES:
        source = entry.get(f"{role}_png") if entry else None
        files[role] = _thumbnail(source, asset_dir / f"{stem}-epoch{files['epoch']}-{role}.png")
    return files


def _relative_links(files: Mapping[str, Any], report_dir: Path) -> dict[str, Any]:
    """Turn absolute asset paths into URL-quoted links relative to the report folder."""
    return {key: (_link(value, report_dir) if isinstance(value, Path) else value)
            for key, value in files.items()}


def _link(target: Path, report_dir: Path) -> str:
    """Relative POSIX link, quoted so spaces in a report name do not break markdown."""
    return quote(target.relative_to(report_dir).as_posix())


def _comparison_image(images: Sequence[Mapping]) -> Mapping | None:
    """Pick the first differing epoch, else the last one: that is the image worth looking at."""
    ordered = sorted(images, key=lambda img: img.get("epoch") or 0)
    differing = [img for img in ordered if img.get("identical") is False]
    if differing:
        return differing[0]
    return ordered[-1] if ordered else None


def _thumbnail(source: str | None, target: Path) -> Path | None:
    """Copy ``source`` as a PNG at most ``THUMB_MAX_WIDTH`` wide; None when it cannot be read.

    A missing or corrupt image must not cost the whole report, so it is only logged.
    """
    if not source:
        return None
    from PIL import Image

    try:
        with Image.open(source) as img:
            _downscale(img).save(target, format="PNG")
    except (OSError, ValueError) as exc:
        logger.warning("cannot thumbnail %s: %s", source, exc)
        return None
    return target


def _downscale(img: Any) -> Any:
    """Shrink to ``THUMB_MAX_WIDTH`` keeping aspect; LANCZOS keeps thin boundary lines visible."""
    from PIL import Image

    img.load()
    if img.width <= THUMB_MAX_WIDTH:
        return img.copy()
    height = max(1, round(img.height * THUMB_MAX_WIDTH / img.width))
    return img.resize((THUMB_MAX_WIDTH, height), Image.Resampling.LANCZOS)


def _bar_chart(baseline: str, base_timing: Mapping, cand: Mapping, target: Path) -> Path:
    """Grouped baseline-vs-candidate median bars with min–max error bars per phase.

    Agg is selected here rather than at import so importing the module never
    changes the backend of a caller that already chose one.
    """
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.6), dpi=100)
    ax = fig.add_subplot()
    for offset, label, timing in ((-0.2, baseline, base_timing),
                                  (0.2, cand.get("name", "candidate"), cand.get("timing") or {})):
        heights, errors = _bar_values(timing)
        positions = [i + offset for i in range(len(CHART_PHASES))]
        ax.bar(positions, heights, width=0.4, yerr=errors, capsize=4, label=label)
    _style_chart(ax, f"{cand.get('name', 'candidate')} vs {baseline}")
    fig.tight_layout()
    fig.savefig(target, format="png")
    return target


def _bar_values(timing: Mapping) -> tuple[list[float], list[list[float]]]:
    """Medians and asymmetric (median−min, max−median) errors; NaN where a phase is missing."""
    heights, lower, upper = [], [], []
    for phase in CHART_PHASES:
        summary = timing.get(phase) or {}
        median = _as_float(summary.get("median"))
        heights.append(median)
        lower.append(max(0.0, median - _as_float(summary.get("min"), median)))
        upper.append(max(0.0, _as_float(summary.get("max"), median) - median))
    return heights, [_nan_to_zero(lower), _nan_to_zero(upper)]


def _style_chart(ax: Any, title: str) -> None:
    """Axis labels, phase ticks and legend shared by every timing chart."""
    ax.set_xticks(range(len(CHART_PHASES)), CHART_PHASES)
    ax.set_ylabel("seconds (median, min–max)")
    ax.set_title(title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)


def _as_float(value: Any, default: float = math.nan) -> float:
    """Numeric value or ``default``, so absent stats become gaps instead of crashes."""
    return float(value) if _is_number(value) else default


def _nan_to_zero(values: Iterable[float]) -> list[float]:
    """Matplotlib rejects NaN error bars on some versions; a zero bar is drawn as nothing."""
    return [0.0 if math.isnan(v) else v for v in values]


def _slug(name: str) -> str:
    """File-system-safe version of a candidate (branch) name such as ``feat/fast``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "candidate"


# --------------------------------------------------------------------------- #
# Header and summary
# --------------------------------------------------------------------------- #


def _candidates(data: Mapping) -> list[Mapping]:
    """Candidate list, tolerating a missing or null key."""
    return list(data.get("candidates") or [])


def _header(data: Mapping) -> str:
    """Title, run metadata and the global warnings a reader must see first."""
    names = ", ".join(str(c.get("name", "?")) for c in _candidates(data)) or DASH
    lines = [f"# evalharness compare: {data.get('baseline', 'baseline')} vs {names}", "", _meta_line(data)]
    params = (data.get("task") or {}).get("params") or {}
    if params:
        lines += ["", "Task parameters: " + ", ".join(f"`{k}={v}`" for k, v in params.items())]
    return "\n".join(lines + _warning_lines(data.get("warnings") or []))


def _meta_line(data: Mapping) -> str:
    """One line with the facts needed to reproduce or trust the run."""
    task = data.get("task") or {}
    parts = [
        f"task: **{task.get('name', DASH)}**",
        f"preset: **{task.get('preset') or DASH}**",
        f"repeats: **{data.get('repeat', DASH)}**",
        f"created: {data.get('created') or DASH}",
    ]
    if data.get("quick"):
        parts.append("quick mode")
    if data.get("threshold") is not None:
        parts.append(f"threshold: {data['threshold']}")
    return " · ".join(parts)


def _warning_lines(warnings: Sequence[str]) -> list[str]:
    """Global warnings as a bullet list; nothing when the run was clean."""
    if not warnings:
        return []
    return ["", "**Warnings**", "", *(f"- ⚠️ {_inline(w)}" for w in warnings)]


def _summary_section(data: Mapping) -> str:
    """Summary table: one row per candidate plus the noise-floor row when measured."""
    headers = ["candidate", "SHA", "verdict", "images identical", "losses match",
               *(label for _, label in SUMMARY_PHASES), "peak RSS MB"]
    rows = [_summary_row(c) for c in _candidates(data)]
    noise = data.get("noise_floor")
    if noise:
        rows.append(_noise_floor_row(noise, data.get("baseline_sha")))
    lines = ["## Summary", "", _table(headers, rows)]
    if noise and _is_number(noise.get("floor")):
        lines += ["", f"Noise floor: ±{noise['floor']:.1%} — speedups within this band of 1.00× "
                      "are indistinguishable from run-to-run noise."]
    return "\n".join(lines)


def _summary_row(cand: Mapping) -> list[str]:
    """Summary cells for one candidate."""
    return [
        f"**{cand.get('name', '?')}**",
        _short_sha(cand.get("sha")),
        _verdict_cell(cand),
        _yes_no(cand.get("images_identical")),
        _yes_no(cand.get("losses_match")),
        *_speedup_cells(cand),
        _fmt_number(cand.get("peak_rss_mb"), ".0f"),
    ]


def _noise_floor_row(noise: Mapping, baseline_sha: str | None) -> list[str]:
    """Baseline-vs-baseline row: shows how large a 'speedup' pure noise produces."""
    verdict = noise.get("verdict")
    if not verdict and _is_number(noise.get("floor")):
        verdict = f"noise floor ±{noise['floor']:.1%}"
    return [
        f"_{noise.get('name', 'baseline vs baseline')}_",
        _short_sha(baseline_sha),
        _inline(verdict or DASH),
        _yes_no(noise.get("images_identical")),
        _yes_no(noise.get("losses_match")),
        *_speedup_cells(noise),
        _fmt_number(noise.get("peak_rss_mb"), ".0f"),
    ]


def _verdict_cell(cand: Mapping) -> str:
    """Verdict, with the run status appended when the candidate did not finish."""
    verdict = _inline(cand.get("verdict") or DASH)
    status = cand.get("status") or "ok"
    return verdict if status == "ok" or status in verdict else f"{verdict} ({status})"


def _speedup_cells(entry: Mapping) -> list[str]:
    """Formatted speedup (with CI when known) for each summary phase."""
    return [_fmt_speedup(_speedup(entry, phase), _speed(entry, phase).get("ci"))
            for phase, _ in SUMMARY_PHASES]


def _speedup(entry: Mapping, phase: str) -> Any:
    """Point speedup: the ``speedup`` map wins, the per-phase stats are the fallback."""
    value = (entry.get("speedup") or {}).get(phase)
    return value if value is not None else _speed(entry, phase).get("speedup")


def _speed(entry: Mapping, phase: str) -> Mapping:
    """Per-phase significance stats, empty when the phase was not measured."""
    return (entry.get("speed") or {}).get(phase) or {}


# --------------------------------------------------------------------------- #
# Per-candidate sections
# --------------------------------------------------------------------------- #


def _candidate_section(cand: Mapping, data: Mapping, assets: Mapping) -> str:
    """Everything about one candidate, in the order a reviewer reads it."""
    parts = [
        f"## {cand.get('name', '?')}",
        _verdict_block(cand),
        _flags_block(cand),
        _speed_verdicts(cand),
        _loss_section(cand.get("losses")),
        _image_section(cand.get("images") or [], assets),
        _timing_section(cand, data, assets),
        _diffstat_section(cand.get("diffstat")),
        _stderr_section(cand),
    ]
    return "\n\n".join(p for p in parts if p)


def _verdict_block(cand: Mapping) -> str:
    """Bold verdict plus diagnosis, status and commit so the section stands on its own."""
    line = f"**{_inline(cand.get('verdict') or 'no verdict')}**"
    if cand.get("diagnosis"):
        line += f" — {_inline(cand['diagnosis'])}"
    lines = [line, "", f"Status: `{cand.get('status') or 'unknown'}` · commit: `{cand.get('sha') or DASH}`"]
    return "\n".join(lines)


def _flags_block(cand: Mapping) -> str:
    """Warning block for diffs touching seeds/threads/timing and per-candidate warnings.

    Such changes can make outputs or timings incomparable, so they are shown loudly.
    """
    items = [*(cand.get("flags") or []), *(cand.get("warnings") or [])]
    if not items:
        return ""
    lines = ["> [!WARNING]", "> This candidate's diff or run needs a closer look:"]
    return "\n".join(lines + [f"> - {_inline(item)}" for item in items])


def _speed_verdicts(cand: Mapping) -> str:
    """One line per measured phase: verdict and the reason behind it."""
    lines = [f"- **{phase}**: {_inline(stats.get('verdict') or DASH)}"
             + (f" ({_inline(stats['reason'])})" if stats.get("reason") else "")
             for phase in TIMING_PHASES if (stats := _speed(cand, phase))]
    return "\n".join(["### Speed", "", *lines]) if lines else ""


def _loss_section(losses: Mapping | None) -> str:
    """Loss window around the first divergence, with the divergent epoch in bold."""
    if not losses:
        return "### Losses\n\nNo loss data."
    rows = [_loss_row(row, losses.get("first_divergent_epoch")) for row in losses.get("rows") or []]
    headers = ["epoch", "baseline train", "candidate train", "baseline val", "candidate val", "Δ train"]
    body = _table(headers, rows) if rows else "No loss rows recorded."
    return "\n".join(["### Losses", "", _loss_summary(losses), "", body])


def _loss_summary(losses: Mapping) -> str:
    """Sentence stating whether losses match and where they first diverge."""
    max_diff = _fmt_number(losses.get("max_abs_diff"), ".3g")
    first = losses.get("first_divergent_epoch")
    if losses.get("match"):
        return f"Losses match (max |Δ| {max_diff})."
    if first is None:
        return f"Losses differ (max |Δ| {max_diff})."
    return f"Losses first diverge at epoch **{first}** (max |Δ| {max_diff})."


def _loss_row(row: Mapping, first_divergent: Any) -> list[str]:
    """One loss-table row; enough digits to see float-level differences."""
    epoch = row.get("epoch")
    label = f"**{epoch}**" if first_divergent is not None and epoch == first_divergent else str(epoch)
    delta = _difference(row.get("candidate_train"), row.get("baseline_train"))
    values = [row.get(k) for k in ("baseline_train", "candidate_train", "baseline_val", "candidate_val")]
    return [label, *(_fmt_number(v, ".6g") for v in values), _fmt_number(delta, "+.3g")]


def _difference(a: Any, b: Any) -> float | None:
    """``a - b`` when both are numbers, else None."""
    return a - b if _is_number(a) and _is_number(b) else None


def _image_section(images: Sequence[Mapping], assets: Mapping) -> str:
    """Per-epoch image comparison table plus thumbnails of the most telling epoch."""
    if not images:
        return "### Images\n\nNo images compared."
    headers = ["epoch", "identical", "differing pixels", "bbox", "SSIM",
               "boundary lost", "boundary gained", "note"]
    rows = [_image_row(img) for img in sorted(images, key=lambda img: img.get("epoch") or 0)]
    parts = ["### Images", _table(headers, rows), _thumbnail_block(images, assets)]
    return "\n\n".join(p for p in parts if p)


def _image_row(img: Mapping) -> list[str]:
    """Cells describing one epoch's image comparison."""
    return [
        str(img.get("epoch", DASH)),
        _yes_no(img.get("identical")),
        _fmt_number(img.get("differing_pixels"), "d"),
        _fmt_bbox(img.get("bbox")),
        _fmt_number(img.get("ssim"), ".4f"),
        _fmt_number(img.get("boundary_lost"), "d"),
        _fmt_number(img.get("boundary_gained"), "d"),
        _inline(img.get("missing") or ""),
    ]


def _thumbnail_block(images: Sequence[Mapping], assets: Mapping) -> str:
    """Side-by-side baseline / candidate / heatmap thumbnails as a one-row table."""
    if not any(assets.get(role) for role in IMAGE_ROLES):
        return ""
    epoch = assets.get("epoch")
    differs = any(img.get("identical") is False for img in images)
    caption = "first differing epoch" if differs else "last epoch, all identical"
    cells = [f"![{role} epoch {epoch}]({assets[role]})" if assets.get(role) else DASH
             for role in IMAGE_ROLES]
    return "\n".join([f"Epoch {epoch} ({caption}):", "", _table(list(IMAGE_ROLES), [cells])])


def _timing_section(cand: Mapping, data: Mapping, assets: Mapping) -> str:
    """Timing table of medians and significance per phase, then the bar chart."""
    base_timing = data.get("baseline_timing") or {}
    cand_timing = cand.get("timing") or {}
    headers = ["phase", "baseline median", "candidate median", "speedup", "CI", "p", "verdict", "unstable"]
    rows = [_timing_row(phase, base_timing, cand_timing, cand) for phase in TIMING_PHASES
            if base_timing.get(phase) or cand_timing.get(phase) or _speed(cand, phase)]
    parts = ["### Timing", _table(headers, rows) if rows else "No timing data."]
    if assets.get("chart"):
        parts.append(f"![timing chart for {cand.get('name', 'candidate')}]({assets['chart']})")
    return "\n\n".join(parts)


def _timing_row(phase: str, base: Mapping, cand_timing: Mapping, cand: Mapping) -> list[str]:
    """Cells for one phase; RSS is in MB, everything else in seconds."""
    stats = _speed(cand, phase)
    cand_median = (cand_timing.get(phase) or {}).get("median")
    if cand_median is None and phase == "peak_rss_mb":
        cand_median = cand.get("peak_rss_mb")
    return [
        phase,
        _fmt_measure(phase, (base.get(phase) or {}).get("median")),
        _fmt_measure(phase, cand_median),
        _fmt_speedup(_speedup(cand, phase), None),
        _fmt_ci(stats.get("ci")),
        _fmt_number(stats.get("p_value"), ".3g"),
        _inline(stats.get("verdict") or DASH),
        "yes" if stats.get("unstable") else "",
    ]


def _diffstat_section(diffstat: str | None) -> str:
    """The candidate's diff summary, verbatim."""
    if not diffstat or not diffstat.strip():
        return ""
    return "### Diffstat\n\n" + _code_block(diffstat, "text")


def _stderr_section(cand: Mapping) -> str:
    """Stderr tail, shown only when the run failed: that is where the reason lives."""
    if (cand.get("status") or "ok") == "ok":
        return ""
    tail = cand.get("stderr_tail") or "(no stderr captured)"
    return f"### stderr (status: {cand.get('status')})\n\n" + _code_block(tail, "text")


# --------------------------------------------------------------------------- #
# Environment
# --------------------------------------------------------------------------- #


def _environment_section(data: Mapping) -> str:
    """Environment table and the exact command, so the run can be reproduced."""
    env = data.get("environment") or {}
    rows = [[f"`{key}`", _inline(_fmt_value(value))] for key, value in env.items()]
    parts = ["## Environment", _table(["key", "value"], rows) if rows else "No environment recorded."]
    command = (data.get("task") or {}).get("command")
    if command:
        parts += ["Command:", _code_block(" ".join(str(arg) for arg in command), "sh")]
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- #
# Formatting helpers
# --------------------------------------------------------------------------- #


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """GitHub markdown table; cells are escaped so a stray ``|`` cannot add a column."""
    lines = [_table_line(headers), "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + [_table_line(row) for row in rows])


def _table_line(cells: Sequence[str]) -> str:
    """One table row with pipes escaped."""
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _inline(text: Any) -> str:
    """Collapse newlines so free text fits in one table cell or list item."""
    return " ".join(str(text).split())


def _code_block(text: str, lang: str) -> str:
    """Fenced block whose fence is longer than any backtick run inside ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def _is_number(value: Any) -> bool:
    """True for finite ints/floats (not bools): NaN from JSON renders as a dash."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def _fmt_number(value: Any, spec: str) -> str:
    """Format a number, or a dash when it is absent or not a number."""
    if not _is_number(value):
        return DASH
    return format(int(value) if spec.endswith("d") else value, spec)


def _fmt_speedup(value: Any, ci: Any) -> str:
    """``3.91×`` or ``3.91× [3.80, 4.02]``; a dash when unknown."""
    if not _is_number(value):
        return DASH
    interval = _fmt_ci(ci)
    return f"{value:.2f}×" if interval == DASH else f"{value:.2f}× {interval}"


def _fmt_ci(ci: Any) -> str:
    """``[lo, hi]`` with two decimals, or a dash when the CI is absent or malformed."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or not all(map(_is_number, ci)):
        return DASH
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _fmt_measure(phase: str, value: Any) -> str:
    """Median with its unit: MB for peak RSS, seconds otherwise."""
    if phase == "peak_rss_mb":
        return _fmt_number(value, ".0f") + (" MB" if _is_number(value) else "")
    return _fmt_number(value, ".3f") + (" s" if _is_number(value) else "")


def _fmt_bbox(bbox: Any) -> str:
    """``(x0, y0)–(x1, y1)`` for a differing region, dash when there is none."""
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return DASH
    x0, y0, x1, y1 = bbox
    return f"({x0}, {y0})–({x1}, {y1})"


def _fmt_value(value: Any) -> str:
    """Environment values: lists joined, None as a dash, the rest via ``str``."""
    if value is None:
        return DASH
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _short_sha(sha: Any) -> str:
    """First 12 hex digits: unambiguous in practice and narrow enough for a table."""
    return f"`{str(sha)[:12]}`" if sha else DASH


def _yes_no(value: Any) -> str:
    """Tri-state boolean cell: yes / no / dash for unknown (e.g. a crashed run)."""
    if value is None:
        return DASH
    return "yes" if value else "no"
