"""The raw per-round values a compare keeps, and the values a figure may be read from.

pyperf and hyperfine store every run's value, not just the summary: with them
a reader can redo any statistic, draw the distribution, or hold two stored
results against each other. `round_samples` records them when the document is
assembled; the readers below are what the histograms, `compare-results` and
`history` use, so that all three pick the same runs the judgement picked:
the timing rounds only (round 0 may have shared the machine, or forked warm).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from harness import constants as C
from harness.errors import UsageProblem
from harness.results import CompareDocument, RoundSample, RunResult

Results = dict[str, list[RunResult]]


def sample_of(run: RunResult, phases: Sequence[str]) -> RoundSample:
    """One run as the statistics read it: RunResult.value per phase (None when failed or not logged)."""
    return RoundSample(round=run.rep, status=run.status, start=run.start, clock_s=run.clock_s,
                       values={phase: run.value(phase) for phase in phases})


def round_samples(results: Results, labels: Iterable[str], phases: Sequence[str]) -> dict[str, list[RoundSample]]:
    """Every run of every branch (baseline, its twin, candidates), in round order."""
    return {label: [sample_of(r, phases) for r in sorted(results.get(label, []), key=lambda r: r.rep)]
            for label in labels}


def timed_values(doc: CompareDocument, label: str, phase: str) -> list[float]:
    """A branch's values of one phase over its timing rounds (failed runs and unlogged phases left out)."""
    return [v for s in doc.samples.get(label, []) if s.timed and (v := s.values.get(phase)) is not None]


def twin_label(doc: CompareDocument) -> str:
    return doc.baseline + C.SELF_SUFFIX


def branch_labels(doc: CompareDocument) -> list[str]:
    """The baseline, its twin, then the candidates, as they appear in the document's samples."""
    order = [doc.baseline, twin_label(doc), *(c.name for c in doc.candidates)]
    return [label for label in order if label in doc.samples]


def judged_phases(doc: CompareDocument) -> list[str]:
    """The task's phases (primary first), wall time, then peak memory: every phase the samples hold."""
    phases = [doc.task.primary_phase, *doc.task.phases, *C.HARNESS_PHASES, C.MEMORY_PHASE]
    return list(dict.fromkeys(phases))


def unit_of(phase: str) -> str:
    return "MB" if phase == C.MEMORY_PHASE else "s"


def shown(value: float, phase: str) -> str:
    """A value with its unit at 4 significant digits (pyperf style: 612 ms, 2.224 s, 306 MB)."""
    if phase == C.MEMORY_PHASE:
        return f"{value:.4g} MB"
    return f"{value * 1000:.4g} ms" if abs(value) < 1 else f"{value:.4g} s"


def load_with_samples(path: Path) -> CompareDocument:
    """A stored compare that keeps its per-round values; a /2 document is refused with what to do."""
    doc = CompareDocument.load(path)
    if not doc.per_round:
        raise UsageProblem(f"{path}: {doc.schema_} documents keep no per-round values; rerun the compare with this version")
    return doc


def workload_difference(a: CompareDocument, b: CompareDocument) -> str | None:
    """What makes two compares' runs different work (task, preset, parameters), or None: their times then compare."""
    for what, left, right in (("task", a.task.name, b.task.name), ("preset", a.task.preset, b.task.preset)):
        if left != right:
            return f"{what} {left or 'default'} vs {right or 'default'}"
    differing = sorted(k for k in {*a.task.params, *b.task.params} if a.task.params.get(k) != b.task.params.get(k))
    if differing:
        return ", ".join(f"{k}={a.task.params.get(k, '–')} vs {b.task.params.get(k, '–')}" for k in differing)
    return None


def change_words(before: float, after: float, phase: str) -> str:
    """How `after` differs from `before`, pyperf's way: "1.25× faster", "1.07× slower" (memory: lower/higher)."""
    better, worse = ("lower", "higher") if phase == C.MEMORY_PHASE else ("faster", "slower")
    if after == before:
        return "no change"
    if after <= 0 or before <= 0:
        return better if after < before else worse
    return f"{before / after:.2f}× {better}" if after < before else f"{after / before:.2f}× {worse}"
