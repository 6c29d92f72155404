"""What a compare report shows, decided once for every format: a CompareDocument → a view.Report.

Which sections and rows appear, which ratios may be shown (harness.export.ratios),
how numbers are rounded, the captions, the warnings merged per branch
(harness.export.caveats) and the images linked (harness.export.assets) are all
decided here; the renderers (markdown, HTML) only format the result. Text a
candidate or a user wrote is kept as `theirs`, so every renderer can keep it
text.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from typing import Any

from harness import constants as C
from harness.export import caveats, histogram, leaderboard, ratios, safe
from harness.export.assets import Links, order, shown_row
from harness.export.view import (BulletList, CodeBlock, Figure, Image, Inline, Paragraph, Report, Section, Span, Table,
                                 Warnings, ours, text_of, theirs)
from harness.judge.flags import flag_text
from harness.results import (ArtifactRow, CandidateVerdict, CompareDocument, MetricComparison, NoiseFloor, PhaseVerdict,
                             Settings, Summary, TextComparison)

IMAGE_ROLES = ("baseline", "candidate", "heatmap")
HEATMAP_WORDS = ("Heatmap: the baseline faded to grey; magenta where a pixel differs, brighter where the "
                 "difference is larger (the brightest: this image's largest).")
DASH = "–"
WITHHELD = f"{DASH}†"  # a judged speedup whose direction the medians beside it contradict
WITHHELD_NOTE = (f"† {ratios.DISAGREE} (the difference is within the noise, or the baseline's medians cover more "
                 "rounds than this candidate ran): no speedup is shown.")
WARNINGS_INTRO = "Warnings"
FLAGS_INTRO = "This candidate's diff or run needs a closer look:"


def build(doc: CompareDocument, links: Links | None = None) -> Report:
    """The whole report; `links` are the report's assets present (none: a report without images)."""
    links = links or Links()
    sections = [_header(doc), _summary(doc), leaderboard.section(doc, links.leaderboard),
                *(_candidate_section(i, c, doc, links.of(c.name)) for i, c in enumerate(doc.candidates, start=1)),
                histogram.section(doc, links.histograms), _environment(doc)]
    return Report(f"evalharness compare: {doc.baseline} vs {_names(doc)}", tuple(s for s in sections if s))


def _names(doc: CompareDocument) -> str:
    return ", ".join(c.name for c in doc.candidates) or DASH


def _join(parts: Sequence[Inline], sep: str) -> Inline:
    """Lines joined by one of our separators."""
    out: list[Span | Image] = []
    for i, part in enumerate(parts):
        out += ([ours(sep)] if i else []) + list(part)
    return tuple(out)


def _dash() -> Inline:
    return (ours(DASH),)


def _words(text: str) -> Inline:
    return (ours(text),)


def _said(text: Any) -> Inline:
    return (theirs(text),)


# --------------------------------------------------------------------------- #
# Header and summary
# --------------------------------------------------------------------------- #


def _header(doc: CompareDocument) -> Section:
    s = doc.settings
    meta = [(ours("task: "), theirs(doc.task.name, "strong")), (ours("preset: "), theirs(doc.task.preset or DASH, "strong")),
            _rounds(s), (ours("device: "), theirs(s.device, "strong")), (ours("created: "), theirs(doc.created)),
            _words(f"threshold: {s.threshold:g}"), *([_words("quick mode")] if s.quick else [])]
    blocks: list[Any] = [Paragraph(_join(meta, " · "))]
    if doc.task.params:
        blocks.append(Paragraph((ours("Task parameters: "), *_join(_settings(doc.task.params), ", "))))
    if doc.variants:
        shown = [_join(_settings(variant), ", ") for variant in doc.variants]
        blocks.append(Paragraph((ours("Also checked on held-out variants: "), *_join(shown, "; "))))
    for key, words in (("sandbox", "Confinement of the runs: "), ("start", "Start of the runs: ")):
        if doc.environment.get(key):
            blocks.append(Paragraph((ours(words), theirs(doc.environment[key]))))
    if doc.warnings:
        blocks.append(Warnings(_words(WARNINGS_INTRO), tuple(_said(w) for w in caveats.listed(doc)), "report"))
    title = (ours("evalharness compare: "), theirs(doc.baseline), ours(" vs "), theirs(_names(doc)))
    return Section(title, 1, tuple(blocks), "title")


def _settings(values: dict[str, Any]) -> list[Inline]:
    return [(theirs(f"{k}={v}", "code"),) for k, v in values.items()]


def _rounds(s: Settings) -> Inline:
    """How many timing rounds ran, of how many allowed (documents before sequential rounds: the fixed count)."""
    if s.quick:
        return ours("rounds: "), ours("1", "strong"), ours(" (equivalence only)")
    if not s.rounds_run:
        return ours("rounds: "), ours(str(s.rounds), "strong")
    return (ours("timing rounds: "), ours(str(s.rounds_run), "strong"),
            ours(f" of ≤{s.rounds} (sequential, each look at α={s.alpha_look:.2g})"))


def _time_phases(doc: CompareDocument) -> list[str]:
    """The primary phase first, then the task's others, then wall time."""
    phases = [doc.task.primary_phase, *doc.task.phases, "wall"]
    return list(dict.fromkeys(phases))


def _summary(doc: CompareDocument) -> Section:
    phases = _time_phases(doc)
    headers = [_words(h) for h in ("candidate", "SHA", "verdict", "artifacts identical", "metrics match")]
    headers += [(theirs(doc.task.label(p)), ours(" speedup")) for p in phases] + [_words("peak RSS MB")]
    rows = [_summary_row(c, phases, doc) for c in doc.candidates]
    if doc.noise_floor is not None:
        rows.append(_noise_row(doc.noise_floor, doc.baseline_sha, phases, doc))
    blocks: list[Any] = [Table(tuple(headers), tuple(rows), "summary")]
    if any(WITHHELD in text_of(cell) for row in rows for cell in row):
        blocks.append(Paragraph(_words(WITHHELD_NOTE)))
    if doc.noise_floor is not None:
        blocks.append(Paragraph(_words(
            f"Noise floor: ±{doc.noise_floor.floor:.1%} — speedups within this band of 1.00× are indistinguishable "
            "from run-to-run noise, so none is called faster or slower; \"no significant difference\" still needs "
            f"the interval inside ±{doc.settings.threshold:.0%}.")))
    return Section(_words("Summary"), 2, tuple(blocks), "summary")


def _summary_row(c: CandidateVerdict, phases: list[str], doc: CompareDocument) -> tuple[Inline, ...]:
    verdict = (_said(c.verdict) if c.status == "ok" or c.status in c.verdict
               else (theirs(c.verdict), ours(" ("), theirs(c.status), ours(")")))
    artifacts = _yes_no(c.images_identical) if c.images else _dash()  # nothing compared: nothing identical
    return ((theirs(c.name, "strong"),), _sha(c.sha), verdict, artifacts, _yes_no(c.losses_match),
            *(_candidate_cell(c, p, doc) for p in phases), _num(c.peak_rss_mb, ".0f"))


def _candidate_cell(c: CandidateVerdict, phase: str, doc: CompareDocument) -> Inline:
    """The judged speedup with its CI; a --quick run's ratio labelled as an indication; else a dash."""
    v, base, cand = c.speed.get(phase), doc.baseline_timing.get(phase), c.timing.get(phase)
    hint = ratios.indicative(v, c, doc.settings.quick, base, cand)
    if hint is not None:
        return _words(f"{hint:.2f}× ({ratios.INDICATIVE})")
    return _speedup_cell(v, base, cand)


def _noise_row(n: NoiseFloor, sha: str, phases: list[str], doc: CompareDocument) -> tuple[Inline, ...]:
    """Baseline vs baseline: images and losses are the baseline's own self-consistency."""
    rss = doc.baseline_timing.get(C.MEMORY_PHASE)
    same = _words("yes" if doc.tolerance.exact else "no")
    return ((theirs(n.name, "em"),), _sha(sha), _words(f"noise floor ±{n.floor:.1%}"), same, same,
            *(_speedup_cell(n.speed.get(p), doc.baseline_timing.get(p), n.timing.get(p)) for p in phases),
            _num(rss.median if rss else None, ".0f"))


def _speedup_cell(v: PhaseVerdict | None, base: Summary | None, cand: Summary | None) -> Inline:
    """A judged speedup and its CI where the medians agree with its direction; "–†" where they do not; else "–"."""
    if ratios.contradicted(v, base, cand):
        return _words(WITHHELD)
    value = ratios.speedup(v, base, cand)
    if value is None:
        return _dash()
    ci = _ci(v.ci)
    return _words(f"{value:.2f}×" if ci == DASH else f"{value:.2f}× {ci}")


# --------------------------------------------------------------------------- #
# One candidate
# --------------------------------------------------------------------------- #


def _candidate_section(index: int, c: CandidateVerdict, doc: CompareDocument, links: dict[str, str]) -> Section:
    key = f"candidate-{index}"
    if not c.sha:  # never ran (a handed-in patch that does not apply): only the why
        return Section(_said(c.name), 2, (Paragraph(_verdict_line(c)),), key)
    parts = [*_verdict_block(c), _flags_block(c), _speed_lines(c, doc), _metrics_section(c.losses, doc.task.step_key),
             _images_section(c.images, links, doc.task.step_key), _files_section(c.images), _texts_section(c.texts),
             _timing_section(c, doc, links), _code_section(_words("Diffstat"), c.diffstat),
             _code_section((ours("stderr (status: "), theirs(c.status), ours(")")), c.stderr_tail)
             if c.status != "ok" else None]
    return Section(_said(c.name), 2, tuple(p for p in parts if p is not None), key)


def _verdict_line(c: CandidateVerdict) -> Inline:
    return theirs(c.verdict, "strong"), ours(" — "), theirs(c.diagnosis)


def _verdict_block(c: CandidateVerdict) -> list[Paragraph]:
    status: list[Span] = [ours("Status: "), theirs(c.status, "code"), ours(" · commit: "), theirs(c.sha, "code")]
    if c.timing_note:
        status += [ours(" · timing: "), theirs(c.timing_note)]
    return [Paragraph(_verdict_line(c)), Paragraph(tuple(status))]


def _flags_block(c: CandidateVerdict) -> Warnings | None:
    """Diff lines touching seeds, threads or the clock, and run warnings: shown loudly."""
    items = [flag_text(f) for f in c.flags] + caveats.merged(c.warnings, [c.name])
    return Warnings(_words(FLAGS_INTRO), tuple(_said(i) for i in items), "candidate") if items else None


def _speed_lines(c: CandidateVerdict, doc: CompareDocument) -> Section | None:
    lines = [_speed_line(doc.task.label(p), v, ratios.contradicted(v, doc.baseline_timing.get(p), c.timing.get(p)))
             for p in [*_time_phases(doc), C.MEMORY_PHASE] if (v := c.speed.get(p)) is not None]
    if not lines:
        return None
    blocks: list[Any] = []
    if doc.settings.rounds_run and not doc.settings.quick:
        level = 1 - doc.settings.alpha_look
        blocks.append(Paragraph(_words(
            f"Intervals are {level:.1%} BCa bootstrap intervals of the geometric-mean ratio (each look at "
            f"α={doc.settings.alpha_look:.2g}, so {1 - doc.settings.alpha:.0%} overall across the sequential looks).")))
    return Section(_words("Speed"), 3, (*blocks, BulletList(tuple(lines))))


def _speed_line(phase: str, v: PhaseVerdict, withheld: bool = False) -> Inline:
    line: list[Span] = [theirs(phase, "strong"), ours(": "), theirs(v.verdict)]
    if v.reason:
        line += [ours(" ("), theirs(v.reason), ours(")")]
    if withheld:
        line.append(ours(f"; no speedup shown: {ratios.DISAGREE}"))
    elif _is_number(v.conservative):
        line.append(ours(f"; at least {v.conservative:.2f}× with significance"))
    for side, found in v.modes.items():
        line += [ours("; "), theirs(side), ours(" bimodal: " + " or ".join(f"{m.median:.3g} (n={m.n})" for m in found))]
    return tuple(line)


def _metrics_section(m: MetricComparison, step_key: str) -> Section:
    names = list(dict.fromkeys(k for r in m.rows for k in r.baseline))
    headers = [_said(step_key), *(_said(f"{side} {n}") for n in names for side in ("baseline", "candidate"))]
    if names:
        headers.append(_said(f"Δ {names[0]}"))
    rows = tuple(_metric_row(r, names, m.first_divergent) for r in m.rows)
    summary = (_words(f"Losses match (max |Δ| {m.max_abs_diff:.3g}).") if m.match else
               (ours("Losses first diverge at "), theirs(step_key), ours(" "), ours(str(m.first_divergent), "strong"),
                ours(f" (max |Δ| {m.max_abs_diff:.3g}).")) if m.first_divergent is not None
               else _words(f"Losses differ (max |Δ| {m.max_abs_diff:.3g})."))
    table = Table(tuple(headers), rows) if rows else Paragraph(_words("No loss rows recorded."))
    return Section(_words("Losses"), 3, (Paragraph(summary), table))


def _metric_row(r: Any, names: list[str], first: int | None) -> tuple[Inline, ...]:
    cand = r.candidate or {}
    cells = [(ours(str(r.key), "strong" if r.key == first else "plain"),)]
    for n in names:
        cells += [_num(r.baseline.get(n), ".6g"), _num(cand.get(n), ".6g")]
    if names:
        a, b = cand.get(names[0]), r.baseline.get(names[0])
        cells.append(_num(a - b if _is_number(a) and _is_number(b) else None, "+.3g"))
    return tuple(cells)


def _step(row: ArtifactRow, step_key: str) -> str:
    return row.name if row.key is None else f"{row.name} ({step_key} {row.key})" if row.name else str(row.key)


def _images_section(rows: list[ArtifactRow], links: dict[str, str], step_key: str) -> Section | None:
    """Images: pixels, where they differ, how similar; a thumbnail of the telling one."""
    images = sorted((r for r in rows if r.image or not r.name), key=order)
    if not images:
        return None if rows else Section(_words("Artifacts"), 3, (Paragraph(_words("No artifacts compared.")),))
    extra = list(dict.fromkeys(k for r in images for k, v in r.details.items() if _is_number(v)))
    headers = (*map(_words, ("image", "identical", "differing pixels", "bbox", "SSIM")),
               *(_said(k.replace("_", " ")) for k in extra), _words("note"))
    body = tuple((_said(_step(r, step_key)), _yes_no(r.identical), _num(r.differing_pixels, "d"), _bbox(r.bbox),
                  _num(r.ssim, ".4f"), *(_num(r.details.get(k), "d") for k in extra), _said(r.missing or ""))
                 for r in images)
    return Section(_words("Images"), 3, (Table(headers, body), *_thumbnails(rows, links, step_key)))


def _files_section(rows: list[ArtifactRow]) -> Section | None:
    """Other artifacts (a model.pt, a log file): identical, or where their bytes first differ."""
    files = sorted((r for r in rows if r.name and not r.image), key=order)
    if not files:
        return None
    body = tuple((_said(r.name), _file_state(r)) for r in files)
    return Section(_words("Files"), 3, (Table((_words("file"), _words("compared by bytes")), body),))


def _file_state(row: ArtifactRow) -> Inline:
    if row.identical:
        return _words("identical")
    if row.missing:
        return _said(row.missing)
    where = f", first difference at byte {row.first_difference}" if row.first_difference is not None else ""
    return _words(f"differs{where}")


def _texts_section(texts: list[TextComparison]) -> Section | None:
    """Printed text compared verbatim: identical, or the first line where it differs, both sides."""
    if not texts:
        return None
    headers = tuple(map(_words, ("text", "compared verbatim", "baseline", "candidate")))
    body = tuple((_said(t.name), _words("identical" if t.identical else f"differs from line {t.first_difference}"),
                  _side(t.baseline, t.identical), _side(t.candidate, t.identical)) for t in texts)
    return Section(_words("Printed text"), 3, (Table(headers, body),))


def _side(text: str | None, identical: bool) -> Inline:
    return _words("") if identical else _said(text if text is not None else DASH)


def _thumbnails(rows: list[ArtifactRow], links: dict[str, str], step_key: str) -> list[Any]:
    """The telling step's images side by side, with what they are; the heatmap's key under them."""
    row = shown_row(rows)
    if row is None or not any(links.get(role) for role in IMAGE_ROLES):
        return []
    caption = "first differing" if any(not r.identical for r in rows if r.image) else "last, all identical"
    what = _step(row, step_key)
    cells = tuple((Image(links[role], (ours(f"{role} "), theirs(what))),) if links.get(role) else _dash()
                  for role in IMAGE_ROLES)
    blocks: list[Any] = [Paragraph((theirs(what), ours(f" ({caption}):"))),
                         Table(tuple(map(_words, IMAGE_ROLES)), (cells,), "thumbnails")]
    if links.get("heatmap"):
        key = (ours(" "), Image(links["heatmap_key"], _words("heatmap key"))) if links.get("heatmap_key") else ()
        blocks.append(Paragraph((ours(HEATMAP_WORDS), *key)))
    return blocks


def _timing_section(c: CandidateVerdict, doc: CompareDocument, links: dict[str, str]) -> Section:
    headers = tuple(map(_words, ("phase", "baseline median", "candidate median", "speedup", "CI", "p", "verdict",
                                 "unstable")))
    rows = tuple(_timing_row(c, doc, phase) for phase in [*_time_phases(doc), C.MEMORY_PHASE]
                 if doc.baseline_timing.get(phase) or c.timing.get(phase) or c.speed.get(phase))
    blocks: list[Any] = [Table(headers, rows) if rows else Paragraph(_words("No timing data."))]
    if any(text_of(row[3]) == WITHHELD for row in rows):
        blocks.append(Paragraph(_words(WITHHELD_NOTE)))
    if c.timing_rounds == 0 and not doc.settings.quick and any(c.timing.values()):
        blocks.append(Paragraph(_words("The candidate's medians are its one equivalence-round run: it ran no timing "
                                       "rounds.")))
    if links.get("chart"):
        blocks.append(Figure(Image(links["chart"], (ours("speedup of "), theirs(c.name), ours(" per phase")))))
    return Section(_words("Timing"), 3, tuple(blocks))


def _timing_row(c: CandidateVerdict, doc: CompareDocument, phase: str) -> tuple[Inline, ...]:
    """Medians, then the speedup and CI only where they may be shown (see harness.export.ratios)."""
    base, cand, v = doc.baseline_timing.get(phase), c.timing.get(phase), c.speed.get(phase)
    hint = ratios.indicative(v, c, doc.settings.quick, base, cand)
    value = ratios.speedup(v, base, cand)
    ratio = (_words(f"{hint:.2f}× ({ratios.INDICATIVE})") if hint is not None
             else _words(WITHHELD) if ratios.contradicted(v, base, cand)
             else _words(text_of(_num(value, ".2f")) + ("×" if value is not None else "")))
    return (_said(doc.task.label(phase)), _measure(phase, base.median if base else None),
            _measure(phase, cand.median if cand else None), ratio,
            _words(_ci(v.ci)) if value is not None else _dash(), _num(v.p_value if v else None, ".3g"),
            _said(v.verdict) if v else _dash(), _words("yes" if v and v.unstable else ""))


def _code_section(title: Inline, text: str) -> Section | None:
    """Text shown verbatim, without terminal escapes; nothing for blank text."""
    text = safe.plain(text)
    if not text.strip():
        return None
    return Section(title, 3, (CodeBlock(text.rstrip()),))


# --------------------------------------------------------------------------- #
# Environment
# --------------------------------------------------------------------------- #


def _environment(doc: CompareDocument) -> Section:
    rows = [((theirs(k, "code"),), _said(_value(v))) for k, v in doc.environment.items()]
    h = doc.harness
    rows += [((ours("evalharness", "code"),), _said(f"{h.version}" + (f" ({h.commit[:12]})" if h.commit else ""))),
             ((ours("source", "code"),), _said(doc.source)),
             ((ours("task file sha256", "code"),), _said(doc.task.toml_sha256[:16]))]
    blocks: list[Any] = [Table((_words("key"), _words("value")), tuple(rows), "environment"),
                         Paragraph(_words("Command run for each branch:")),
                         CodeBlock(safe.plain(shlex.join(doc.task.command)), "sh")]
    if h.command_line:
        blocks += [Paragraph(_words("Harness command line:")), CodeBlock(safe.plain(shlex.join(h.command_line)), "sh")]
    return Section(_words("Environment"), 2, tuple(blocks), "environment")


# --------------------------------------------------------------------------- #
# Cells: how numbers are shown
# --------------------------------------------------------------------------- #


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _num(value: Any, spec: str) -> Inline:
    if not _is_number(value):
        return _dash()
    return _words(format(int(value) if spec.endswith("d") else value, spec))


def _ci(ci: Any) -> str:
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or not all(map(_is_number, ci)):
        return DASH
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _measure(phase: str, value: Any) -> Inline:
    if not _is_number(value):
        return _dash()
    return _words(f"{value:.0f} MB" if phase == C.MEMORY_PHASE else f"{value:.3f} s")


def _bbox(bbox: Any) -> Inline:
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return _dash()
    x0, y0, x1, y1 = bbox
    return _said(f"({x0}, {y0})–({x1}, {y1})")


def _value(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _sha(sha: str | None) -> Inline:
    return (theirs(sha[:12], "code"),) if sha else _dash()


def _yes_no(value: bool | None) -> Inline:
    return _dash() if value is None else _words("yes" if value else "no")
