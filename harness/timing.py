"""Stage 4b: judge speed from repeated, interleaved runs — or decline to.

A phase is only called faster or slower when the paired difference is
significant, beyond the threshold, and beyond the noise floor measured by
comparing the baseline with itself. Everything else is "no significant
difference", with the reason, and an "unstable" warning when the spread says
the machine was too noisy.
"""

from __future__ import annotations

from typing import Any

from harness import constants as C
from harness import stats


def phase_samples(results: list[dict[str, Any]], phase: str) -> list[float | None]:
    """One value per round (None where the run failed or the phase was not logged)."""
    out: list[float | None] = []
    for r in results:
        if r.get("status") != C.STATUS_OK:
            out.append(None)
        elif phase == "wall":
            out.append(r["wall_s"])
        elif phase == "peak_rss_mb":
            out.append(r["peak_rss_mb"])
        else:
            out.append(r["timing"].get(phase))
    return out


def summaries(results: list[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """Per phase: median, min, max, spread — None when no run logged the phase."""
    out: dict[str, dict[str, Any] | None] = {}
    for phase in C.PHASES:
        values = [v for v in phase_samples(results, phase) if v is not None]
        out[phase] = stats.summarize(values) if values else None
    return out


def noise_floors(base: list[dict[str, Any]], twin: list[dict[str, Any]]) -> dict[str, float]:
    """Per phase, the smallest relative difference this machine can resolve."""
    if not twin:
        return {phase: 0.0 for phase in C.PHASES}
    return {phase: stats.noise_floor(phase_samples(base, phase), phase_samples(twin, phase)) for phase in C.PHASES}


def judge_phase(base: list[float | None], cand: list[float | None], threshold: float, floor: float) -> dict[str, Any]:
    """speed_verdict over paired rounds, plus the instability warning."""
    verdict = stats.speed_verdict(base, cand, threshold=threshold, noise_floor=floor)
    values = [v for v in cand if v is not None]
    base_values = [v for v in base if v is not None]
    unstable = any(len(v) > 1 and stats.is_unstable(stats.summarize(v), C.UNSTABLE_SPREAD) for v in (values, base_values))
    return {**verdict, "unstable": unstable}


def judge(base: list[dict[str, Any]], cand: list[dict[str, Any]], threshold: float, floors: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Every phase, judged; peak RSS too (lower is better there as well)."""
    return {phase: judge_phase(phase_samples(base, phase), phase_samples(cand, phase), threshold, floors[phase])
            for phase in C.PHASES}


def speedups(speed: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """The JSON's compact `speedup` map: median paired ratio per time phase."""
    return {phase: speed[phase].get("speedup") for phase in C.SPEED_PHASES}


def single_run_speedups(base: list[dict[str, Any]], cand: list[dict[str, Any]]) -> dict[str, float | None]:
    """--quick: one ratio per phase, shown but never turned into a verdict."""
    out: dict[str, float | None] = {}
    for phase in C.SPEED_PHASES:
        ratios = stats.paired_ratios(phase_samples(base, phase), phase_samples(cand, phase))
        out[phase] = ratios[0] if ratios else None
    return out


def instability_warnings(label: str, results: list[dict[str, Any]], threshold: float) -> list[str]:
    """'unstable' per phase, with the repeats the observed noise would need."""
    warnings = []
    for phase in C.SPEED_PHASES:
        values = [v for v in phase_samples(results, phase) if v is not None]
        if len(values) > 1 and stats.is_unstable(summary := stats.summarize(values), C.UNSTABLE_SPREAD):
            needed = stats.repeats_needed(values, effect=threshold)
            warnings.append(f"{label} unstable: {phase} spread {summary['spread']:.0%} ≥ {C.UNSTABLE_SPREAD:.0%} "
                            f"of its median; ~{needed} repeats needed to resolve a {threshold:.0%} difference")
    return warnings


def hidden_trade_off(speed: dict[str, dict[str, Any]]) -> str | None:
    """The seed's trap: a faster visualisation paid for with slower training."""
    vis, epoch, period = (speed[p]["verdict"] for p in ("visualise", "train_epoch", "period"))
    if vis == "faster" and epoch == "slower":
        return (f"visualisation faster ({speed['visualise']['speedup']:.2f}×) but each training epoch slower "
                f"({speed['train_epoch']['speedup']:.2f}×); period verdict: {period}")
    if vis == "faster" and period != "faster":
        return "visualisation faster, but train+visualise period is not: the speed-up does not survive a full period"
    return None


def not_judged(base: list[dict[str, Any]], cand: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """--quick: the single-run ratio is shown, explicitly without a verdict."""
    ratios = single_run_speedups(base, cand)
    return {phase: {"speedup": ratios.get(phase), "ci": None, "p_value": None, "significant": False,
                    "verdict": "not judged", "reason": "--quick: one run per branch", "unstable": False}
            for phase in C.PHASES}
