"""Speed verdicts from repeated, interleaved runs — or a reasoned refusal to give one.

A phase is only called faster or slower when the paired difference is
significant, beyond the threshold, and beyond the noise floor measured by
comparing the baseline with itself; "no significant difference" only when the
interval fits inside the threshold; everything else is "inconclusive", with
the noise it saw, and an "unstable" warning when the spread says the machine
was too noisy. Phase names come from the task; this module knows
none of them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from harness import constants as C
from harness.judge import stats
from harness.results import PhaseVerdict, RunResult, Summary
from harness.tasks import Judging


def judged_phases(judging: Judging) -> tuple[str, ...]:
    """The task's phases, the harness's wall time, and peak memory (lower is better too)."""
    return (*judging.phases, *C.HARNESS_PHASES, C.MEMORY_PHASE)


def time_phases(judging: Judging) -> tuple[str, ...]:
    """Phases measured in seconds: the ones a speedup is quoted for."""
    return (*judging.phases, *C.HARNESS_PHASES)


WARM_NOT_SHOWN = "its one run forked warm, so no times are shown"


def phase_samples(results: Sequence[RunResult], phase: str) -> list[float | None]:
    """One value per round (None where the run failed or the phase was not logged)."""
    return [r.value(phase) for r in results]


def summaries(results: Sequence[RunResult], phases: Sequence[str]) -> dict[str, Summary | None]:
    """Per phase: median, min, max, spread — None when no run logged the phase."""
    out: dict[str, Summary | None] = {}
    for phase in phases:
        values = [v for v in phase_samples(results, phase) if v is not None]
        out[phase] = Summary(**stats.summarize(values)) if values else None
    return out


def noise_floors(base: Sequence[RunResult], twin: Sequence[RunResult], phases: Sequence[str]) -> dict[str, float]:
    """Per phase, the smallest relative difference this machine can resolve."""
    if not twin:
        return {phase: 0.0 for phase in phases}
    return {phase: stats.noise_floor(phase_samples(base, phase), phase_samples(twin, phase)) for phase in phases}


#: A phase shorter than this many ticks of its clock is rounding noise, not a time.
CLOCK_TICKS = 50


def clock_of(results: Sequence[RunResult]) -> float:
    """The coarsest timestamp resolution among these runs (0 when unknown)."""
    return max((r.clock_s or 0.0 for r in results), default=0.0)


def unmeasurable(sides: Sequence[list[float]], clock: float) -> str | None:
    """'speed not measurable …' when the phase is under CLOCK_TICKS ticks of the log's clock on every side.

    One long side is enough: a 2 ms phase that becomes 60 ms is measurably slower.
    """
    medians = [statistics.median(v) for v in sides if v]
    if not medians or clock <= 0:
        return None
    median = max(medians)
    if median >= CLOCK_TICKS * clock:
        return None
    return f"speed not measurable at this size (phase {median * 1000:.3g} ms, clock {clock * 1000:g} ms)"


def _bimodal(side: list[float]) -> list[Summary] | None:
    found = stats.modes(side)
    return [Summary(**m) for m in found] if found else None


def judge_phase(base: list[float | None], cand: list[float | None], threshold: float, floor: float,
                look: Look, words: stats.Words = stats.TIME_WORDS, clock: float = 0.0) -> PhaseVerdict:
    """The sequential speed verdict of one phase, with instability, modes and the clock rule."""
    sides = {"baseline": [v for v in base if v is not None], "candidate": [v for v in cand if v is not None]}
    too_short = unmeasurable(list(sides.values()), clock)
    if too_short is not None:
        return PhaseVerdict(n=len(sides["candidate"]), call="unmeasurable", verdict=too_short, reason=too_short,
                            settled=True)
    verdict = stats.speed_verdict(base, cand, threshold=threshold, alpha=look.alpha, noise_floor=floor,
                                  final=look.final, words=words, max_n=look.max_rounds)
    modes = {side: m for side, values in sides.items() if (m := _bimodal(values))}
    return verdict.model_copy(update={"unstable": any(_unstable(v) for v in sides.values()), "modes": modes})


def _unstable(values: list[float]) -> bool:
    return len(values) > 1 and stats.is_unstable(stats.summarize(values), C.UNSTABLE_SPREAD)


@dataclass(frozen=True)
class Look:
    """One look of the sequential design: the level it tests at, and whether it is the last."""

    alpha: float
    final: bool = True
    max_rounds: int | None = None  # the cap, for futility (None: never futile)


def judge(base: Sequence[RunResult], cand: Sequence[RunResult], threshold: float, floors: dict[str, float],
          phases: Sequence[str], look: Look) -> dict[str, PhaseVerdict]:
    """Every phase, judged on the rounds' pairs; the task's phases obey the log clock rule."""
    clock = clock_of([*base, *cand])
    return {phase: judge_phase(phase_samples(base, phase), phase_samples(cand, phase), threshold, floors[phase],
                               look, stats.MEMORY_WORDS if phase == C.MEMORY_PHASE else stats.TIME_WORDS,
                               0.0 if phase in C.HARNESS_PHASES or phase == C.MEMORY_PHASE else clock)
            for phase in phases}


def settled(speed: dict[str, PhaseVerdict], judging: Judging) -> bool:
    """The speed question is answered when the primary phase is settled and no guard phase can still turn
    out slower.

    A guard only asks "did this get slower?": it is answered when it is settled
    either way, or when its interval already rules out a loss beyond the band
    (one-sided) — whether it is also faster does not change the verdict, and
    waiting for a short, noisy phase's interval to fit inside ±band kept the
    seed preset running to the cap.
    """
    guards_answered = all(_guard_answered(speed[g]) for g in judging.guard)
    return speed[judging.primary].settled and guards_answered


def _guard_answered(verdict: PhaseVerdict) -> bool:
    return verdict.settled or verdict.not_worse


def futile(speed: dict[str, PhaseVerdict], judging: Judging) -> bool:
    """Not settled, and more rounds (up to the cap) could not settle it: every phase the stopping rule
    waits for is either answered or futile (stats.futile), and at least one is futile."""
    waits = [(speed[judging.primary].settled, speed[judging.primary].futile),
             *((_guard_answered(speed[g]), speed[g].futile) for g in judging.guard)]
    return all(done or hopeless for done, hopeless in waits) and any(hopeless for _, hopeless in waits)


def speedups(speed: dict[str, PhaseVerdict], phases: Sequence[str]) -> dict[str, float | None]:
    """The compact `speedup` map: median paired ratio per time phase."""
    return {phase: speed[phase].speedup for phase in phases}


def not_judged(base: Sequence[RunResult], cand: Sequence[RunResult], phases: Sequence[str],
               reason: str = "--quick: one run per branch") -> dict[str, PhaseVerdict]:
    """No timing rounds, so no speedup: the single, unpaired run's ratio is kept apart as `indicative`
    (reports label it "indicative: 1 run, not judged" and never plot it) — and not at all when either run
    forked warm (its times are not what the script takes on its own, see rounds.warm_start), nor for a task
    phase too short for the log's clock to time."""
    if any(r.start == "warm" for r in (*base[:1], *cand[:1])):
        return {phase: PhaseVerdict(n=0, verdict="not judged", reason=f"{reason}; {WARM_NOT_SHOWN}") for phase in phases}
    clock = clock_of([*base[:1], *cand[:1]])
    return {phase: _single_run(phase_samples(base[:1], phase), phase_samples(cand[:1], phase), reason,
                               0.0 if phase in C.HARNESS_PHASES or phase == C.MEMORY_PHASE else clock)
            for phase in phases}


def _single_run(base: list[float | None], cand: list[float | None], reason: str, clock: float) -> PhaseVerdict:
    sides = [[v for v in side if v is not None] for side in (base, cand)]
    too_short = unmeasurable(sides, clock)
    if too_short is not None:
        return PhaseVerdict(n=0, verdict="not judged", reason=f"{reason}; {too_short}")
    ratios = stats.paired_ratios(base, cand)
    return PhaseVerdict(n=len(ratios), indicative=ratios[0] if ratios else None, verdict="not judged", reason=reason)


def instability_warnings(label: str, results: Sequence[RunResult], threshold: float, phases: Sequence[str],
                         max_rounds: int) -> list[str]:
    """Two modes for each bimodal phase, then one 'unstable' line for the phases whose spread is large.

    The unstable line says how many rounds a difference as small as the
    threshold would need at this noise, and, beyond --repeat, that only larger
    differences can be settled here: a 2x speedup still settles in 5 rounds,
    so "not answerable" alone would contradict the verdicts beside it.
    """
    warnings, unstable, clock = [], [], clock_of(results)
    for phase in phases:
        values = [v for v in phase_samples(results, phase) if v is not None]
        if phase not in C.HARNESS_PHASES and unmeasurable([values], clock):
            continue  # rounding noise of the log's clock, already said (analyse.clock_warnings)
        if (two := stats.modes(values)) is not None:
            warnings.append(f"{label} bimodal: {phase} is {_mode(two[0])} or {_mode(two[1])} across identical runs")
        elif len(values) > 1 and stats.is_unstable(summary := stats.summarize(values), C.UNSTABLE_SPREAD):
            unstable.append((phase, summary["spread"], stats.repeats_needed(values, threshold)))
    if unstable:
        warnings.append(unstable_warning(label, unstable, threshold, max_rounds))
    return warnings


def _mode(m: dict) -> str:
    return f"{m['median']:.3g} s (n={m['n']})"


def unstable_warning(label: str, unstable: list[tuple[str, float, int]], threshold: float, max_rounds: int) -> str:
    """One line: the noisy phases with their spreads, and what the noise lets the rounds settle."""
    spreads = ", ".join(f"{phase} {spread:.0%}" for phase, spread, _ in unstable)
    low, high = min(n for *_, n in unstable), max(n for *_, n in unstable)
    needed = f"~{low}" if low == high else f"~{low}-{high}"
    text = (f"{label} unstable: spread ≥ {C.UNSTABLE_SPREAD:.0%} of the median ({spreads}); a difference as small as "
            f"{threshold:.0%} needs {needed} rounds to resolve")
    if high > max_rounds:
        text += (f", more than --repeat {max_rounds}: at this preset only larger differences can be settled (a quieter "
                 f"machine, a larger preset with longer phases or a larger --threshold would settle smaller ones)")
    return text


def busy_warnings(label: str, results: Sequence[RunResult]) -> list[str]:
    """Runs whose CPU time fell well below their wall time, relative to the branch's usual: the machine was busy."""
    ratios = [(r.cpu_s / r.wall_s) for r in results if r.ok and r.cpu_s and r.wall_s > 0]
    if len(ratios) < 2:
        return []
    usual = statistics.median(ratios)
    starved = [x for x in ratios if x < BUSY_FRACTION * usual]
    if not starved:
        return []
    return [f"{label}: machine busy during {len(starved)} of {len(ratios)} runs (CPU/wall fell to "
            f"{min(starved) / usual:.0%} of its usual {usual:.2f}): their times are suspect"]


#: A run whose CPU/wall ratio is below this fraction of its branch's median waited for the machine.
BUSY_FRACTION = 0.8


def hidden_trade_off(speed: dict[str, PhaseVerdict], judging: Judging) -> str | None:
    """The seed's trap: the targeted phase got faster, paid for by a guarded phase or the whole."""
    if judging.focus is None or speed[judging.focus].call != "better":
        return None
    focus, primary = judging.focus, judging.primary
    for guard in judging.guard:
        if speed[guard].call == "worse":
            return (f"{judging.label(focus)} faster ({speed[focus].speedup:.2f}×) but {judging.label(guard)} slower "
                    f"({speed[guard].speedup:.2f}×); {judging.label(primary)} verdict: {speed[primary].verdict}")
    if speed[primary].call != "better":
        return f"{judging.label(focus)} faster, but {judging.label(primary)} is not: the speed-up does not survive it"
    return None
