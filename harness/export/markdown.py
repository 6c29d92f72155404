"""The markdown report of a CompareDocument, with its charts and thumbnails beside it.

The report is meant to be committed next to the code it judges: every asset
goes into a sibling `<stem>_files/` folder under a name derived from the
document alone (a thumbnail is named by its image's sha256, so identical
images are stored once), and links are relative. Rendering is a pure function
of the document and the set of assets present, so `evalharness report
COMPARE.json` re-renders a committed report byte for byte, with or without
the run folder the images came from.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.export import caveats, histogram, leaderboard, ratios, safe
from harness.judge.flags import flag_text
from harness.results import (ArtifactRow, CandidateVerdict, CompareDocument, MetricComparison, NoiseFloor, PhaseVerdict,
                             Summary, TextComparison)

log = logging.getLogger(__name__)

THUMB_MAX_WIDTH = 480  # wider images are downscaled so the report stays light to commit
IMAGE_ROLES = ("baseline", "candidate", "heatmap")
HEATMAP_KEY = "heatmap-key.png"
HEATMAP_WORDS = ("Heatmap: the baseline faded to grey; magenta where a pixel differs, brighter where the "
                 "difference is larger (the brightest: this image's largest).")
MEMORY_PHASE = "peak_rss_mb"
DASH = "–"
WITHHELD = f"{DASH}†"  # a judged speedup whose direction the medians beside it contradict
WITHHELD_NOTE = (f"† {ratios.DISAGREE} (the difference is within the noise, or the baseline's medians cover more "
                 "rounds than this candidate ran): no speedup is shown.")
LEADERBOARD_LINKS = ""  # the links key of the leaderboard's plot (no candidate has an empty name)
HISTOGRAM_LINKS = "\0histograms"  # the links key of the timing histograms (no name from argv holds a NUL)


@dataclass(frozen=True)
class Asset:
    """One file of the report's folder: its name there and where its content comes from."""

    name: str
    source: str | None = None  # path relative to the run folder (an image to thumbnail)
    chart_of: str | None = None  # the candidate whose speed chart this is
    drawn: bool = False  # the heatmap's colour key (drawn from nothing, so any re-render can add it)


def asset_dir(report: Path) -> Path:
    return report.parent / f"{report.stem}_files"


# --------------------------------------------------------------------------- #
# Which assets a document has (pure)
# --------------------------------------------------------------------------- #


def _order(row: ArtifactRow) -> tuple[int, str]:
    return (row.key if row.key is not None else -1, row.name)


def shown_row(rows: Sequence[ArtifactRow]) -> ArtifactRow | None:
    """The first differing image, else the last one: the image worth looking at (other files have no picture)."""
    ordered = sorted((r for r in rows if r.image or (r.name == "" and r.key is not None)), key=_order)
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


def write(doc: CompareDocument, path: Path, run_root: Path | None) -> Path:
    """The report and its asset folder."""
    folder = asset_dir(path)
    present = write_assets(doc, folder, run_root)
    links = {name: {role: f"{quote(folder.name)}/{quote(a.name)}" for role, a in roles.items() if a.name in present}
             for name, roles in document_assets(doc).items()}
    links[LEADERBOARD_LINKS] = leaderboard.report_links(doc, folder)
    links[HISTOGRAM_LINKS] = histogram.report_links(doc, folder)
    path.write_text(render(doc, links), encoding="utf-8")
    log.info("wrote report %s (assets in %s)", path, folder)
    return path


# --------------------------------------------------------------------------- #
# Rendering (pure)
# --------------------------------------------------------------------------- #


def render(doc: CompareDocument, links: dict[str, dict[str, str]]) -> str:
    """The whole report; `links` maps candidate → role → relative link of the assets present."""
    sections = [_header(doc), _summary(doc), leaderboard.section(doc, links.get(LEADERBOARD_LINKS, {})),
                *(_candidate_section(c, doc, links.get(c.name, {})) for c in doc.candidates),
                _environment(doc)]
    sections.insert(-1, histogram.section(doc, links.get(HISTOGRAM_LINKS, {})))  # from the raw values, if kept
    return "\n\n".join(s for s in sections if s).rstrip() + "\n"


def _header(doc: CompareDocument) -> str:
    names = ", ".join(c.name for c in doc.candidates) or DASH
    s = doc.settings
    meta = [f"task: **{doc.task.name}**", f"preset: **{doc.task.preset or DASH}**", _rounds(s),
            f"device: **{s.device}**", f"created: {doc.created}", f"threshold: {s.threshold:g}"]
    lines = [f"# evalharness compare: {doc.baseline} vs {names}", "", " · ".join(meta + (["quick mode"] if s.quick else []))]
    if doc.task.params:
        lines += ["", "Task parameters: " + ", ".join(f"`{k}={v}`" for k, v in doc.task.params.items())]
    if doc.variants:
        lines += ["", "Also checked on held-out variants: " + "; ".join(
            ", ".join(f"`{k}={v}`" for k, v in variant.items()) for variant in doc.variants)]
    if doc.environment.get("sandbox"):
        lines += ["", f"Confinement of the runs: {_inline(doc.environment['sandbox'])}"]
    if doc.environment.get("start"):
        lines += ["", f"Start of the runs: {_inline(doc.environment['start'])}"]
    if doc.warnings:
        lines += ["", "**Warnings**", "", *(f"- ⚠️ {_inline(w)}" for w in caveats.listed(doc))]
    return "\n".join(lines)


def _rounds(s: Any) -> str:
    """How many timing rounds ran, of how many allowed (documents before sequential rounds: the fixed count)."""
    if s.quick:
        return "rounds: **1** (equivalence only)"
    if not s.rounds_run:
        return f"rounds: **{s.rounds}**"
    return f"timing rounds: **{s.rounds_run}** of ≤{s.rounds} (sequential, each look at α={s.alpha_look:.2g})"


def _time_phases(doc: CompareDocument) -> list[str]:
    """The primary phase first, then the task's others, then wall time."""
    phases = [doc.task.primary_phase, *doc.task.phases, "wall"]
    return list(dict.fromkeys(phases))


def _summary(doc: CompareDocument) -> str:
    phases = _time_phases(doc)
    headers = ["candidate", "SHA", "verdict", "artifacts identical", "metrics match",
               *(f"{doc.task.label(p)} speedup" for p in phases), "peak RSS MB"]
    rows = [_summary_row(c, phases, doc) for c in doc.candidates]
    if doc.noise_floor is not None:
        rows.append(_noise_row(doc.noise_floor, doc.baseline_sha, phases, doc))
    lines = ["## Summary", "", _table(headers, rows)]
    if any(WITHHELD in cell for row in rows for cell in row):
        lines += ["", WITHHELD_NOTE]
    if doc.noise_floor is not None:
        lines += ["", f"Noise floor: ±{doc.noise_floor.floor:.1%} — speedups within this band of 1.00× "
                      "are indistinguishable from run-to-run noise, so none is called faster or slower; "
                      f"\"no significant difference\" still needs the interval inside ±{doc.settings.threshold:.0%}."]
    return "\n".join(lines)


def _summary_row(c: CandidateVerdict, phases: list[str], doc: CompareDocument) -> list[str]:
    verdict = _inline(c.verdict) if c.status == "ok" or c.status in c.verdict else f"{_inline(c.verdict)} ({c.status})"
    return [f"**{c.name}**", _sha(c.sha), verdict, _yes_no(c.images_identical) if c.images else DASH,
            _yes_no(c.losses_match),
            *(_candidate_cell(c, p, doc) for p in phases), _num(c.peak_rss_mb, ".0f")]


def _candidate_cell(c: CandidateVerdict, phase: str, doc: CompareDocument) -> str:
    """The judged speedup with its CI; a --quick run's ratio labelled as an indication; else a dash."""
    v, base, cand = c.speed.get(phase), doc.baseline_timing.get(phase), c.timing.get(phase)
    hint = ratios.indicative(v, c, doc.settings.quick, base, cand)
    if hint is not None:
        return f"{hint:.2f}× ({ratios.INDICATIVE})"
    return _speedup_cell(v, base, cand)


def _noise_row(n: NoiseFloor, sha: str, phases: list[str], doc: CompareDocument) -> list[str]:
    """Baseline vs baseline: images and losses are the baseline's own self-consistency."""
    rss = doc.baseline_timing.get(MEMORY_PHASE)
    same = "yes" if doc.tolerance.exact else "no"
    return [f"_{n.name}_", _sha(sha), f"noise floor ±{n.floor:.1%}", same, same,
            *(_speedup_cell(n.speed.get(p), doc.baseline_timing.get(p), n.timing.get(p)) for p in phases),
            _num(rss.median if rss else None, ".0f")]


def _speedup_cell(v: PhaseVerdict | None, base: Summary | None, cand: Summary | None) -> str:
    """A judged speedup and its CI where the medians agree with its direction; "–†" where they do not; else "–"."""
    if ratios.contradicted(v, base, cand):
        return WITHHELD
    value = ratios.speedup(v, base, cand)
    if value is None:
        return DASH
    ci = _ci(v.ci)
    return f"{value:.2f}×" if ci == DASH else f"{value:.2f}× {ci}"


def _candidate_section(c: CandidateVerdict, doc: CompareDocument, links: dict[str, str]) -> str:
    if not c.sha:  # never ran (a handed-in patch that does not apply): only the why
        return f"## {c.name}\n\n**{_inline(c.verdict)}** — {_inline(c.diagnosis)}"
    parts = [f"## {c.name}", _verdict_block(c), _flags_block(c), _speed_lines(c, doc),
             _metrics_section(c.losses, doc.task.step_key), _images_section(c.images, links, doc.task.step_key),
             _files_section(c.images), _texts_section(c.texts), _timing_section(c, doc, links),
             _code_section("Diffstat", c.diffstat),
             _code_section(f"stderr (status: {c.status})", c.stderr_tail) if c.status != "ok" else ""]
    return "\n\n".join(p for p in parts if p)


def _verdict_block(c: CandidateVerdict) -> str:
    lines = [f"**{_inline(c.verdict)}** — {_inline(c.diagnosis)}", "", f"Status: `{c.status}` · commit: `{c.sha}`"]
    if c.timing_note:
        lines[-1] += f" · timing: {_inline(c.timing_note)}"
    return "\n".join(lines)


def _flags_block(c: CandidateVerdict) -> str:
    """Diff lines touching seeds, threads or the clock, and run warnings: shown loudly."""
    items = [flag_text(f) for f in c.flags] + caveats.merged(c.warnings, [c.name])
    if not items:
        return ""
    return "\n".join(["> [!WARNING]", "> This candidate's diff or run needs a closer look:",
                      *(f"> - {_inline(i)}" for i in items)])


def _speed_lines(c: CandidateVerdict, doc: CompareDocument) -> str:
    lines = [_speed_line(doc.task.label(p), v, ratios.contradicted(v, doc.baseline_timing.get(p), c.timing.get(p)))
             for p in [*_time_phases(doc), MEMORY_PHASE] if (v := c.speed.get(p)) is not None]
    if not lines:
        return ""
    head = ["### Speed", ""]
    if doc.settings.rounds_run and not doc.settings.quick:
        level = 1 - doc.settings.alpha_look
        head += [f"Intervals are {level:.1%} BCa bootstrap intervals of the geometric-mean ratio (each look at "
                 f"α={doc.settings.alpha_look:.2g}, so {1 - doc.settings.alpha:.0%} overall across the sequential "
                 "looks).", ""]
    return "\n".join(head + lines)


def _speed_line(phase: str, v: PhaseVerdict, withheld: bool = False) -> str:
    line = f"- **{phase}**: {_inline(v.verdict)}" + (f" ({_inline(v.reason)})" if v.reason else "")
    if withheld:
        line += f"; no speedup shown: {ratios.DISAGREE}"
    elif _is_number(v.conservative):
        line += f"; at least {v.conservative:.2f}× with significance"
    for side, found in v.modes.items():
        line += f"; {side} bimodal: " + " or ".join(f"{m.median:.3g} (n={m.n})" for m in found)
    return line


def _metrics_section(m: MetricComparison, step_key: str) -> str:
    names = list(dict.fromkeys(k for r in m.rows for k in r.baseline))
    headers = [step_key, *(f"{side} {n}" for n in names for side in ("baseline", "candidate"))]
    if names:
        headers.append(f"Δ {names[0]}")
    rows = [_metric_row(r, names, m.first_divergent) for r in m.rows]
    summary = (f"Losses match (max |Δ| {m.max_abs_diff:.3g})." if m.match else
               f"Losses first diverge at {step_key} **{m.first_divergent}** (max |Δ| {m.max_abs_diff:.3g})."
               if m.first_divergent is not None else f"Losses differ (max |Δ| {m.max_abs_diff:.3g}).")
    return "\n".join(["### Losses", "", summary, "", _table(headers, rows) if rows else "No loss rows recorded."])


def _metric_row(r: Any, names: list[str], first: int | None) -> list[str]:
    cand = r.candidate or {}
    cells = [f"**{r.key}**" if r.key == first else str(r.key)]
    for n in names:
        cells += [_num(r.baseline.get(n), ".6g"), _num(cand.get(n), ".6g")]
    if names:
        a, b = cand.get(names[0]), r.baseline.get(names[0])
        cells.append(_num(a - b if _is_number(a) and _is_number(b) else None, "+.3g"))
    return cells


def _step(row: ArtifactRow, step_key: str) -> str:
    return row.name if row.key is None else f"{row.name} ({step_key} {row.key})" if row.name else str(row.key)


def _images_section(rows: list[ArtifactRow], links: dict[str, str], step_key: str) -> str:
    """Images: pixels, where they differ, how similar; a thumbnail of the telling one."""
    images = sorted((r for r in rows if r.image or not r.name), key=_order)
    if not images:
        return "" if rows else "### Artifacts\n\nNo artifacts compared."
    extra = list(dict.fromkeys(k for r in images for k, v in r.details.items() if _is_number(v)))
    headers = ["image", "identical", "differing pixels", "bbox", "SSIM", *(k.replace("_", " ") for k in extra), "note"]
    body = [[_inline(_step(r, step_key)), _yes_no(r.identical), _num(r.differing_pixels, "d"), _bbox(r.bbox),
             _num(r.ssim, ".4f"), *(_num(r.details.get(k), "d") for k in extra), _inline(r.missing or "")]
            for r in images]
    return "\n\n".join(p for p in ["### Images", _table(headers, body), _thumbnails(rows, links, step_key)] if p)


def _files_section(rows: list[ArtifactRow]) -> str:
    """Other artifacts (a model.pt, a log file): identical, or where their bytes first differ."""
    files = sorted((r for r in rows if r.name and not r.image), key=_order)
    if not files:
        return ""
    body = [[_inline(r.name), _file_state(r)] for r in files]
    return "\n\n".join(["### Files", _table(["file", "compared by bytes"], body)])


def _file_state(row: ArtifactRow) -> str:
    if row.identical:
        return "identical"
    if row.missing:
        return _inline(row.missing)
    where = f", first difference at byte {row.first_difference}" if row.first_difference is not None else ""
    return f"differs{where}"


def _texts_section(texts: list[TextComparison]) -> str:
    """Printed text compared verbatim: identical, or the first line where it differs, both sides."""
    if not texts:
        return ""
    body = [[_inline(t.name), "identical" if t.identical else f"differs from line {t.first_difference}",
             _inline(t.baseline if t.baseline is not None else DASH) if not t.identical else "",
             _inline(t.candidate if t.candidate is not None else DASH) if not t.identical else ""] for t in texts]
    return "\n\n".join(["### Printed text", _table(["text", "compared verbatim", "baseline", "candidate"], body)])


def _thumbnails(rows: list[ArtifactRow], links: dict[str, str], step_key: str) -> str:
    if not any(links.get(role) for role in IMAGE_ROLES):
        return ""
    row = shown_row(rows)
    if row is None:
        return ""
    caption = "first differing" if any(not r.identical for r in rows if r.image) else "last, all identical"
    what = _inline(_step(row, step_key))
    cells = [f"![{role} {what}]({links[role]})" if links.get(role) else DASH for role in IMAGE_ROLES]
    lines = [f"{what} ({caption}):", "", _table(list(IMAGE_ROLES), [cells])]
    if links.get("heatmap"):
        key = f" ![heatmap key]({links['heatmap_key']})" if links.get("heatmap_key") else ""
        lines += ["", HEATMAP_WORDS + key]
    return "\n".join(lines)


def _timing_section(c: CandidateVerdict, doc: CompareDocument, links: dict[str, str]) -> str:
    headers = ["phase", "baseline median", "candidate median", "speedup", "CI", "p", "verdict", "unstable"]
    rows = [_timing_row(c, doc, phase) for phase in [*_time_phases(doc), MEMORY_PHASE]
            if doc.baseline_timing.get(phase) or c.timing.get(phase) or c.speed.get(phase)]
    parts = ["### Timing", _table(headers, rows) if rows else "No timing data."]
    if any(row[3] == WITHHELD for row in rows):
        parts.append(WITHHELD_NOTE)
    if c.timing_rounds == 0 and not doc.settings.quick and any(c.timing.values()):
        parts.append("The candidate's medians are its one equivalence-round run: it ran no timing rounds.")
    if links.get("chart"):
        parts.append(f"![speedup of {c.name} per phase]({links['chart']})")
    return "\n\n".join(parts)


def _timing_row(c: CandidateVerdict, doc: CompareDocument, phase: str) -> list[str]:
    """Medians, then the speedup and CI only where they may be shown (see harness.export.ratios)."""
    base, cand, v = doc.baseline_timing.get(phase), c.timing.get(phase), c.speed.get(phase)
    hint = ratios.indicative(v, c, doc.settings.quick, base, cand)
    value = ratios.speedup(v, base, cand)
    ratio = (f"{hint:.2f}× ({ratios.INDICATIVE})" if hint is not None else WITHHELD if ratios.contradicted(v, base, cand)
             else _num(value, ".2f") + ("×" if value is not None else ""))
    return [doc.task.label(phase), _measure(phase, base.median if base else None), _measure(phase, cand.median if cand else None),
            ratio, _ci(v.ci) if value is not None else DASH, _num(v.p_value if v else None, ".3g"),
            _inline(v.verdict) if v else DASH, "yes" if v and v.unstable else ""]


def _code_section(title: str, text: str) -> str:
    text = safe.plain(text)
    if not text.strip():
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"### {title}\n\n{fence}text\n{text.rstrip()}\n{fence}"


def _environment(doc: CompareDocument) -> str:
    rows = [[f"`{k}`", _inline(_value(v))] for k, v in doc.environment.items()]
    h = doc.harness
    rows += [["`evalharness`", f"{h.version}" + (f" ({h.commit[:12]})" if h.commit else "")],
             ["`source`", _inline(doc.source)], ["`task file sha256`", doc.task.toml_sha256[:16]]]
    parts = ["## Environment", _table(["key", "value"], rows), "Command run for each branch:",
             _fence(shlex.join(doc.task.command), "sh")]
    if h.command_line:
        parts += ["Harness command line:", _fence(shlex.join(h.command_line), "sh")]
    return "\n\n".join(parts)


def _fence(text: str, lang: str) -> str:
    return f"```{lang}\n{text}\n```"


# --------------------------------------------------------------------------- #
# Cell formatting
# --------------------------------------------------------------------------- #


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """GitHub markdown table; a stray `|` in a cell cannot add a column."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(re.sub(r"(?<!\\)\|", r"\\|", str(c)) for c in cells) + " |"

    return "\n".join([line(headers), "|" + "|".join("---" for _ in headers) + "|", *(line(r) for r in rows)])


def _inline(text: Any) -> str:
    return safe.inline(text)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _num(value: Any, spec: str) -> str:
    if not _is_number(value):
        return DASH
    return format(int(value) if spec.endswith("d") else value, spec)


def _ci(ci: Any) -> str:
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or not all(map(_is_number, ci)):
        return DASH
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _measure(phase: str, value: Any) -> str:
    unit = " MB" if phase == MEMORY_PHASE else " s"
    return _num(value, ".0f" if phase == MEMORY_PHASE else ".3f") + (unit if _is_number(value) else "")


def _bbox(bbox: Any) -> str:
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return DASH
    x0, y0, x1, y1 = bbox
    return f"({x0}, {y0})–({x1}, {y1})"


def _value(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _sha(sha: str | None) -> str:
    return f"`{sha[:12]}`" if sha else DASH


def _yes_no(value: bool | None) -> str:
    return DASH if value is None else "yes" if value else "no"
