"""Speed verdicts from repeated, interleaved runs — or a reasoned refusal to give one.

A phase is only called faster or slower when the paired difference is
significant, beyond the threshold, and beyond the noise floor measured by
comparing the baseline with itself. Everything else is "no significant
difference", with the reason, and an "unstable" warning when the spread says
the machine was too noisy. Phase names come from the task; this module knows
none of them.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def judge_phase(base: list[float | None], cand: list[float | None], threshold: float, floor: float) -> PhaseVerdict:
    """speed_verdict over paired rounds, plus the instability warning."""
    verdict = stats.speed_verdict(base, cand, threshold=threshold, noise_floor=floor)
    unstable = any(_unstable([v for v in side if v is not None]) for side in (base, cand))
    return PhaseVerdict(**verdict, unstable=unstable)


def _unstable(values: list[float]) -> bool:
    return len(values) > 1 and stats.is_unstable(stats.summarize(values), C.UNSTABLE_SPREAD)


def judge(base: Sequence[RunResult], cand: Sequence[RunResult], threshold: float, floors: dict[str, float],
          phases: Sequence[str]) -> dict[str, PhaseVerdict]:
    """Every phase, judged on the rounds' pairs."""
    return {phase: judge_phase(phase_samples(base, phase), phase_samples(cand, phase), threshold, floors[phase])
            for phase in phases}


def speedups(speed: dict[str, PhaseVerdict], phases: Sequence[str]) -> dict[str, float | None]:
    """The compact `speedup` map: median paired ratio per time phase."""
    return {phase: speed[phase].speedup for phase in phases}


def not_judged(base: Sequence[RunResult], cand: Sequence[RunResult], phases: Sequence[str]) -> dict[str, PhaseVerdict]:
    """--quick: the single-run ratio is shown, explicitly without a verdict."""
    out = {}
    for phase in phases:
        ratios = stats.paired_ratios(phase_samples(base, phase), phase_samples(cand, phase))
        out[phase] = PhaseVerdict(n=len(ratios), speedup=ratios[0] if ratios else None,
                                  verdict="not judged", reason="--quick: one run per branch")
    return out


def instability_warnings(label: str, results: Sequence[RunResult], threshold: float, phases: Sequence[str]) -> list[str]:
    """'unstable' per phase, with the repeats the observed noise would need."""
    warnings = []
    for phase in phases:
        values = [v for v in phase_samples(results, phase) if v is not None]
        if len(values) > 1 and stats.is_unstable(summary := stats.summarize(values), C.UNSTABLE_SPREAD):
            needed = stats.repeats_needed(values, effect=threshold)
            warnings.append(f"{label} unstable: {phase} spread {summary['spread']:.0%} ≥ {C.UNSTABLE_SPREAD:.0%} "
                            f"of its median; ~{needed} repeats needed to resolve a {threshold:.0%} difference")
    return warnings


def hidden_trade_off(speed: dict[str, PhaseVerdict], judging: Judging) -> str | None:
    """The seed's trap: the targeted phase got faster, paid for by a guarded phase or the whole."""
    if judging.focus is None or speed[judging.focus].verdict != "faster":
        return None
    focus, primary = judging.focus, judging.primary
    for guard in judging.guard:
        if speed[guard].verdict == "slower":
            return (f"{judging.label(focus)} faster ({speed[focus].speedup:.2f}×) but {judging.label(guard)} slower "
                    f"({speed[guard].speedup:.2f}×); {judging.label(primary)} verdict: {speed[primary].verdict}")
    if speed[primary].verdict != "faster":
        return f"{judging.label(focus)} faster, but {judging.label(primary)} is not: the speed-up does not survive it"
    return None
