"""`evalharness history COMPARE.json... | FOLDER`: each branch's median over stored compares, and its steps.

asv's history view for compare.json: the stored compares of one workload
(same task, preset and parameters), oldest first by `created`, one column per
branch, each cell the median of that compare's timing rounds of one phase
(the task's primary phase unless --phase) — read from the raw per-round
values, so a candidate that got no timing rounds shows "–", never the one
run of its equivalence round.

Step detection, asv-like but simpler (binary segmentation): for a branch's
points in order, try every split into before/after, test the pooled raw
values of the two stretches (Mann-Whitney U, unpaired; Bonferroni over the
split points tried) and keep the most significant split whose change of
median is beyond the noise: the larger of the compares' --threshold and the
rounds' own spread (the median over the compares of the timing rounds'
relative interquartile range). Then look again on each side. Pooling rounds
of different compares treats them as one sample, which they are not quite
(each compare ran in its own session); the noise bar is what keeps a shift
between sessions from being called a step unless it is larger than the
spread inside one.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu
from tabulate import tabulate

from harness import constants as C
from harness.errors import UsageProblem
from harness.judge.samples import (change_words, judged_phases, load_with_samples, shown, timed_values, unit_of,

                                   workload_difference)
from harness.results import CompareDocument
import click
from harness.commands.options import call

log = logging.getLogger(__name__)

DASH = "–"
COMPARE_SCHEMA_PREFIX = "evalharness.compare/"


@dataclass(frozen=True)
class Point:
    """One stored compare, where it was read from, and whether it was named (not found in a folder)."""

    path: Path
    doc: CompareDocument
    named: bool = True


@dataclass(frozen=True)
class Step:
    """A change of a branch's level: the stretch before point `at` against the stretch from it on."""

    branch: str
    at: int  # index into the ordered points: the first point after the step
    before: float  # median of the pooled timing rounds before
    after: float
    p: float
    noise: float  # the relative change it had to exceed


# --------------------------------------------------------------------------- #
# Reading the compares
# --------------------------------------------------------------------------- #


def _is_compare(path: Path) -> bool:
    """Whether a JSON file found in a folder claims to be a compare (others, like run results, are skipped)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(raw, dict) and str(raw.get("schema", "")).startswith(COMPARE_SCHEMA_PREFIX)


def compare_files(paths: list[Path]) -> list[tuple[Path, bool]]:
    """(file, named on the command line) for each file given and each compare document under a folder given."""
    found: list[tuple[Path, bool]] = []
    for path in paths:
        if path.is_dir():
            inside = [p for p in sorted(path.rglob("*.json")) if _is_compare(p)]
            if not inside:
                raise UsageProblem(f"{path}: no compare document (evalharness.compare/…) under this folder")
            found += [(p, False) for p in inside]
        else:
            found.append((path, True))
    return list(dict.fromkeys(found))


def _identity(doc: CompareDocument) -> tuple:
    """What makes two files the same compare (a report's JSON and the run folder's compare.json, say)."""
    return doc.created, doc.baseline_sha, tuple((c.name, c.sha) for c in doc.candidates)


def unique(points: list[Point]) -> list[Point]:
    """Each compare once, under the first path it was found at."""
    seen: dict[tuple, Point] = {}
    for point in points:
        kept = seen.setdefault(_identity(point.doc), point)
        if kept is not point:
            log.debug("%s is the same compare as %s: counted once", point.path, kept.path)
    return list(seen.values())


def _readable(files: list[tuple[Path, bool]]) -> list[Point]:
    """The compares that keep per-round values: a file named that does not is refused, one found is skipped."""
    points = []
    for path, named in files:
        doc = load_with_samples(path) if named else CompareDocument.load(path)
        if doc.per_round:
            points.append(Point(path, doc, named))
        else:
            log.warning("%s: %s keeps no per-round values: left out", path, doc.schema_)
    if not points:
        raise UsageProblem("none of these compares keeps per-round values; rerun a compare with this version")
    return unique(points)


def reference(points: list[Point]) -> Point:
    """Whose workload the history follows: the first file named, else the workload most compares found ran
    (ties: the newest compare's)."""
    named = [p for p in points if p.named]
    if named:
        return named[0]
    count = {p.path: sum(workload_difference(p.doc, q.doc) is None for q in points) for p in points}
    return max(points, key=lambda p: (count[p.path], p.doc.created))


def one_workload(points: list[Point]) -> list[Point]:
    """The compares of one workload (`reference`): a file named with another is refused, compares found in a
    folder with another are left out, each with a warning (a work folder holds whatever preset was run)."""
    ref = reference(points)
    kept = []
    for point in points:
        problem = workload_difference(ref.doc, point.doc)
        if problem and point.named:
            raise UsageProblem(f"{ref.path} and {point.path} ran different workloads ({problem}): "
                               "one history is one task, preset and parameters")
        if problem:
            log.warning("%s: another workload (%s): left out", point.path, problem)
        else:
            kept.append(point)
    return kept


def load_points(paths: list[Path]) -> list[Point]:
    """Every compare once, one workload only, oldest first (`created`; the path breaks ties within a second)."""
    points = one_workload(_readable(compare_files(paths)))
    return sorted(points, key=lambda p: (p.doc.created, str(p.path)))


def branches(points: list[Point]) -> list[str]:
    """The baseline (by role, under the latest compare's name), then every candidate in order of appearance."""
    names = [c.name for p in points for c in p.doc.candidates]
    return [points[-1].doc.baseline, *dict.fromkeys(n for n in names if n not in {p.doc.baseline for p in points})]


def values_at(point: Point, branch: str, baseline: str, phase: str) -> list[float]:
    """A branch's timing-round values in one compare (the baseline by role)."""
    return timed_values(point.doc, point.doc.baseline if branch == baseline else branch, phase)


# --------------------------------------------------------------------------- #
# Steps
# --------------------------------------------------------------------------- #


def relative_iqr(values: list[float]) -> float:
    """Interquartile range over the median: the spread of one compare's rounds (0 for fewer than 2)."""
    if len(values) < 2:
        return 0.0
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return float((q3 - q1) / median) if median else 0.0


def noise_of(series: list[list[float]], threshold: float) -> float:
    """The relative change a step must exceed: --threshold, or the rounds' own spread when that is larger."""
    spreads = [relative_iqr(v) for v in series if v]
    return max(threshold, statistics.median(spreads) if spreads else 0.0)


def _pooled(part: list[tuple[int, list[float]]]) -> list[float]:
    return [v for _, values in part for v in values]


def _test(left: list[float], right: list[float]) -> tuple[float, float, float]:
    """(median before, median after, two-sided Mann-Whitney U p) of two stretches' pooled rounds."""
    p = float(mannwhitneyu(left, right, alternative="two-sided").pvalue)
    return statistics.median(left), statistics.median(right), p


def _best_split(part: list[tuple[int, list[float]]], noise: float) -> int | None:
    """Where the most significant split beyond the noise lies in `part`, or None."""
    level = C.ALPHA / (len(part) - 1)  # Bonferroni over the split points tried
    best: tuple[float, int] | None = None
    for k in range(1, len(part)):
        before, after, p = _test(_pooled(part[:k]), _pooled(part[k:]))
        beyond = before > 0 and after > 0 and abs(math.log(after / before)) > math.log1p(noise)
        if p < level and beyond and (best is None or p < best[0]):
            best = (p, k)
    return None if best is None else best[1]


def find_steps(branch: str, series: list[list[float]], noise: float) -> list[Step]:
    """Binary segmentation of a branch's points (those where it was timed) into stretches of one level.

    Each step is then reported between the two stretches it separates (their
    medians, and the test of their rounds), not the wider halves it was found on.
    """
    timed = [(i, values) for i, values in enumerate(series) if values]

    def cuts(part: list[tuple[int, list[float]]], offset: int) -> list[int]:
        k = _best_split(part, noise) if len(part) >= 2 else None
        if k is None:
            return []
        return [*cuts(part[:k], offset), offset + k, *cuts(part[k:], offset + k)]

    bounds = [0, *cuts(timed, 0), len(timed)]
    stretches = [timed[lo:hi] for lo, hi in zip(bounds, bounds[1:])]
    return [Step(branch, right[0][0], *_test(_pooled(left), _pooled(right)), noise)
            for left, right in zip(stretches, stretches[1:])]


# --------------------------------------------------------------------------- #
# The command
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class History:
    """The ordered compares, the branches, per branch its values per compare, and the steps found."""

    points: list[Point]
    phase: str
    branches: list[str]
    series: dict[str, list[list[float]]]
    steps: list[Step]


def build(paths: list[Path], phase: str | None) -> History:
    """Read the compares, follow one phase (the primary one by default), and find each branch's steps."""
    points = load_points(paths)
    doc = points[-1].doc
    if phase is not None and phase not in judged_phases(doc):
        raise UsageProblem(f"unknown phase {phase!r} (this task's: {', '.join(judged_phases(doc))})")
    phase = phase or doc.task.primary_phase
    names = branches(points)
    series = {b: [values_at(p, b, names[0], phase) for p in points] for b in names}
    threshold = max(p.doc.settings.threshold for p in points)
    steps = [s for b in names for s in find_steps(b, series[b], noise_of(series[b], threshold))]
    return History(points, phase, names, series, steps)


def _cell(values: list[float], phase: str) -> str:
    return shown(statistics.median(values), phase) if values else DASH


def table(h: History) -> str:
    """One row per compare, oldest first: when, on which baseline commit, which file, each branch's median."""
    headers = ["#", "created", "baseline commit", "file", *(f"{b} (baseline)" if i == 0 else b
                                                           for i, b in enumerate(h.branches))]
    rows = [[str(i + 1), p.doc.created, p.doc.baseline_sha[:12], str(p.path),
             *(_cell(h.series[b][i], h.phase) for b in h.branches)] for i, p in enumerate(h.points)]
    return tabulate(rows, headers=headers, disable_numparse=True)


METHOD = ("(a step: Mann-Whitney U on the pooled timing rounds before vs after a split, Bonferroni over the splits "
          "tried, and medians apart by more than the larger of --threshold and the rounds' relative IQR)")


def step_lines(h: History) -> list[str]:
    if len(h.points) < 2:
        return ["one compare: no history to find steps in"]
    if not h.steps:
        return ["no steps: no branch's median moved significantly beyond its noise", METHOD]
    return ["steps:", *(f"- {s.branch}: {shown(s.before, h.phase)} → {shown(s.after, h.phase)} "
                        f"({change_words(s.before, s.after, h.phase)}) from #{s.at + 1}, p={s.p:.2g}, beyond the noise ±{s.noise:.1%}"
                        for s in h.steps), METHOD]


def render(h: History) -> str:
    doc = h.points[-1].doc
    what = "the primary phase" if h.phase == doc.task.primary_phase else "--phase"
    head = [f"{doc.task.name} ({doc.task.preset or 'default'}), {h.phase} ({what}): the median of each compare's "
            "timing rounds, oldest first", ""]
    return "\n".join(head + [table(h), "", *step_lines(h)])


def write_plot(h: History, target: Path) -> Path:
    """Each branch's median per compare with the rounds' interquartile range; dashed lines where a step starts."""
    from harness.export.histogram import BASELINE_COLOUR, CANDIDATE_COLOURS, figure

    fig = figure(9, 4)
    ax = fig.add_subplot()
    colours = {b: BASELINE_COLOUR if i == 0 else CANDIDATE_COLOURS[(i - 1) % len(CANDIDATE_COLOURS)]
               for i, b in enumerate(h.branches)}
    for b in h.branches:
        xs = [i for i, v in enumerate(h.series[b], start=1) if v]
        if not xs:
            continue  # named in the table ("–" throughout): a legend entry without a point would read as missing
        quartiles = [np.percentile(h.series[b][x - 1], [25, 50, 75]) for x in xs]
        mids = [q[1] for q in quartiles]
        err = [[q[1] - q[0] for q in quartiles], [q[2] - q[1] for q in quartiles]]
        ax.errorbar(xs, mids, yerr=err, marker="o", capsize=3, color=colours[b],
                    label=f"{b} (baseline)" if b == h.branches[0] else b)
    for s in h.steps:
        ax.axvline(s.at + 0.5, color=colours[s.branch], linestyle="--", linewidth=1)
    ax.set_xticks(range(1, len(h.points) + 1),
                  [f"#{i}\n{p.doc.baseline_sha[:8]}" for i, p in enumerate(h.points, start=1)])
    ax.set_xlim(0.5, len(h.points) + 0.5)
    ax.set_ylabel(f"{h.phase} median ({unit_of(h.phase)})")
    ax.set_xlabel("compare, oldest first (baseline commit); bars: interquartile range; dashed: a step")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.savefig(target, format="png", bbox_inches="tight")
    return target


def history(paths: list[Path], phase: str | None, plot: Path | None) -> str:
    """The table and the steps, and the plot when asked for."""
    h = build(paths, phase)
    text = render(h)
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        text += f"\nwritten: {write_plot(h, plot)}"
    return text


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #


@click.command("history")
@click.argument("compares", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--phase", metavar="NAME", help="The phase to follow (default: the task's primary phase).")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), help="Also draw the history (medians, interquartile ranges, steps) as a PNG here.")
def command(compares: tuple[Path, ...], phase: str | None, plot: Path | None) -> None:
    """Each branch's median over stored COMPARES (files, or folders holding them), oldest first, with its steps.

    asv's history view: one row per compare of one task, preset and parameters, one column per branch; a step is
    a significant change of median beyond the rounds' noise.

    Example: evalharness history .evalharness/runs --plot reports/history.png
    """

    click.echo(call(history, list(compares), phase, plot))
