"""Statistics for timing comparisons between git branches.

On a shared machine the same command varies 10-30 % from run to run, so a
"faster" claim has to survive three independent checks: a rank test (is the
shift real?), a practical threshold (is it big enough to matter?) and a
bootstrap CI of the paired ratio (does the plausible range exclude "no change"?).
Everything here is pure: no I/O, no module state; randomness is seeded.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

log = logging.getLogger(__name__)

#: Largest per-side sample for which the exact MWU distribution is used;
#: beyond it the normal approximation is accurate and much cheaper.
EXACT_MWU_MAX_N = 20

#: Mann-Whitney asymptotic relative efficiency vs. the t-test is 3/pi ~ 0.955,
#: so a rank test needs ~1/0.955 ~ 1.05x the repeats a t-test would.
MWU_EFFICIENCY_CORRECTION = 1.05


def _valid(values: Sequence[float | None]) -> list[float]:
    """Keep finite numbers only: a crashed run reports None/NaN, not a time."""
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def relative_difference(a: float, b: float) -> float:
    """(b - a) / a: how much b deviates from reference a, as a fraction."""
    if a == 0:
        raise ValueError("relative difference to a zero reference is undefined")
    return (b - a) / a


def summarize(samples: Sequence[float]) -> dict:
    """Describe a sample, with a relative spread so noise compares across phases.

    spread = (max - min) / median. It is 0.0 when all values agree (including
    n=1); if the median is 0 but values differ the relative spread is
    unbounded and reported as inf so that is_unstable() flags it.
    """
    values = _valid(samples)
    if not values:
        raise ValueError("cannot summarise an empty sample")
    median = float(np.median(values))
    width = max(values) - min(values)
    return {
        "n": len(values),
        "median": median,
        "mean": float(np.mean(values)),
        "min": min(values),
        "max": max(values),
        "spread": _relative_spread(width, median),
    }


def _relative_spread(width: float, median: float) -> float:
    """width / median without dividing by zero (see summarize)."""
    if width == 0:
        return 0.0
    if median == 0:
        return math.inf
    return width / abs(median)


def is_unstable(summary: dict, limit: float = 0.10) -> bool:
    """True when the run-to-run spread is too large to trust a single median."""
    return summary["spread"] >= limit


def min_repeats_for_significance(alpha: float = 0.05) -> int:
    """Smallest equal n for which an exact two-sided MWU can reach p < alpha.

    The most extreme outcome (complete separation) has two-sided probability
    2 / C(2n, n); below that n no amount of speed-up can ever be "significant".
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n = 1
    while 2 / math.comb(2 * n, n) >= alpha:
        n += 1
    return n


def coefficient_of_variation(samples: Sequence[float]) -> float:
    """Sample std / mean: the noise level in the same relative units as effects."""
    values = _valid(samples)
    if len(values) < 2:
        raise ValueError("need at least two values to estimate noise")
    mean = float(np.mean(values))
    if mean == 0:
        raise ValueError("coefficient of variation undefined for zero mean")
    return float(np.std(values, ddof=1)) / abs(mean)


def repeats_needed(
    samples: Sequence[float],
    effect: float = 0.05,
    alpha: float = 0.05,
    power: float = 0.95,
) -> int:
    """Repeats per branch needed to detect a relative `effect` at this noise.

    Normal approximation n = ((z_{1-a/2} + z_power) * cv * sqrt(2) / effect)^2,
    inflated by the MWU efficiency loss, and never below the n at which MWU
    can reach p < alpha at all. With < 2 samples the noise is unknown, so only
    that floor is returned.
    """
    if effect <= 0:
        raise ValueError(f"effect must be positive, got {effect}")
    floor = min_repeats_for_significance(alpha)
    if len(_valid(samples)) < 2:
        return floor
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    cv = coefficient_of_variation(samples)
    n = (z * cv * math.sqrt(2) / effect) ** 2 * MWU_EFFICIENCY_CORRECTION
    return max(floor, math.ceil(n))


def paired_ratios(
    base: Sequence[float | None], cand: Sequence[float | None]
) -> list[float]:
    """Per-round speedups base_i / cand_i (> 1: candidate faster).

    Pairing by round cancels machine-load drift that hits both branches in the
    same round. Rounds where either value is missing, NaN or <= 0 are dropped.
    """
    ratios = []
    for b, c in zip(base, cand):
        if _usable_time(b) and _usable_time(c):
            ratios.append(float(b) / float(c))
    return ratios


def _usable_time(value: float | None) -> bool:
    """A duration that can enter a ratio: present, finite and positive."""
    return value is not None and math.isfinite(value) and value > 0


def ratio_ci(
    ratios: Sequence[float],
    confidence: float = 0.95,
    seed: int = 0,
    n_boot: int = 4000,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the median ratio; seeded so reports reproduce.

    With fewer than 3 ratios a bootstrap is meaningless, so the observed
    range (min, max) is returned instead.
    """
    values = np.asarray(_valid(ratios), dtype=float)
    if values.size == 0:
        raise ValueError("cannot build a CI from no ratios")
    if values.size < 3:
        return float(values.min()), float(values.max())
    rng = np.random.default_rng(seed)
    draws = rng.choice(values, size=(n_boot, values.size), replace=True)
    medians = np.median(draws, axis=1)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(medians, [tail, 100 - tail])
    return float(lo), float(hi)


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided MWU p-value; rank-based so one slow outlier run can't dominate.

    Returns 1.0 when a test is impossible (< 2 values a side, or every value
    identical). The exact null distribution is used for small tie-free samples.
    """
    xs, ys = _valid(a), _valid(b)
    if len(xs) < 2 or len(ys) < 2 or len(set(xs + ys)) == 1:
        return 1.0
    has_ties = len(set(xs + ys)) < len(xs) + len(ys)
    small = max(len(xs), len(ys)) <= EXACT_MWU_MAX_N
    method = "exact" if small and not has_ties else "asymptotic"
    from scipy import stats as sps  # ~0.4 s to import: only paid when a test runs

    result = sps.mannwhitneyu(xs, ys, alternative="two-sided", method=method)
    return float(result.pvalue)


def noise_floor(base_a: Sequence[float], base_b: Sequence[float]) -> float:
    """Typical relative difference between two identical builds run in the same round.

    The median of |ratio - 1| over baseline-vs-baseline pairs: what a
    difference of nothing measures as on this machine. Any claimed speed-up
    smaller than it is indistinguishable from noise. (The half-width of the
    ratio CI was tried first: with 5 rounds that CI is nearly [min, max], so a
    single disturbed round set a 20 % floor and hid a real 10 % slowdown.)
    """
    ratios = paired_ratios(base_a, base_b)
    if len(ratios) < 2:
        return 0.0
    return float(np.median([abs(r - 1) for r in ratios]))


def speed_verdict(
    base: Sequence[float],
    cand: Sequence[float],
    threshold: float = 0.05,
    alpha: float = 0.05,
    noise_floor: float = 0.0,
) -> dict:
    """Decide faster / slower / no significant difference for lower-is-better times.

    "faster" needs all of: p < alpha, speedup - 1 > max(threshold, noise_floor),
    and a CI that excludes 1 ("slower" symmetric with 1/speedup - 1). The reason
    names the first check that failed, so a report can say *why* not.
    """
    ratios = paired_ratios(base, cand)
    needed = min_repeats_for_significance(alpha)
    n = min(len(ratios), len(_valid(base)), len(_valid(cand)))
    if n < needed:
        return _too_few_verdict(ratios, n, needed)
    speedup = float(np.median(ratios))
    lo, hi = ratio_ci(ratios)
    p = mann_whitney_p(base, cand)
    margin = max(threshold, noise_floor)
    verdict, reason = _classify(speedup, (lo, hi), p, alpha, margin, threshold)
    log.debug("speed verdict n=%d speedup=%.4f p=%.3g: %s", n, speedup, p, reason)
    return {
        "n": n,
        "speedup": speedup,
        "ci": [lo, hi],
        "p_value": p,
        "significant": verdict != "no significant difference",
        "verdict": verdict,
        "reason": reason,
    }


def _too_few_verdict(ratios: list[float], n: int, needed: int) -> dict:
    """Verdict when MWU could not reach significance even with total separation."""
    speedup = float(np.median(ratios)) if ratios else None
    ci = list(ratio_ci(ratios)) if ratios else [None, None]
    return {
        "n": n,
        "speedup": speedup,
        "ci": ci,
        "p_value": 1.0,
        "significant": False,
        "verdict": "no significant difference",
        "reason": f"too few repeats (n={n} < {needed} needed for any p < alpha)",
    }


def _classify(
    speedup: float,
    ci: tuple[float, float],
    p: float,
    alpha: float,
    margin: float,
    threshold: float,
) -> tuple[str, str]:
    """Apply the three gates in order: p-value, practical size, CI."""
    if p >= alpha:
        return "no significant difference", f"p={p:.2g} ≥ {alpha:g}"
    faster = speedup >= 1
    gain = speedup - 1 if faster else 1 / speedup - 1
    if gain <= margin:
        return "no significant difference", _small_effect_reason(
            speedup, margin, threshold
        )
    lo, hi = ci
    if lo <= 1 <= hi:
        return "no significant difference", f"CI [{lo:.3f}, {hi:.3f}] includes 1"
    return ("faster" if faster else "slower"), (
        f"{speedup:.3f}× with p={p:.2g} and CI [{lo:.3f}, {hi:.3f}]"
    )


def _small_effect_reason(speedup: float, margin: float, threshold: float) -> str:
    """Say which bar the effect failed to clear: the noise floor or the threshold."""
    if margin > threshold:
        return f"within the measured noise floor ±{margin:.1%}"
    return f"{speedup:.2f}× is within the {threshold * 100:g}% threshold"


def interleaved_schedule(
    names: Sequence[str], rounds: int, seed: int = 0
) -> list[list[str]]:
    """Run order per round: every name once, shuffled afresh each round.

    Interleaving spreads slow periods of a shared machine evenly over branches;
    shuffling stops one branch from always running first (cold caches) or last.
    """
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate names in schedule: {list(names)}")
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    rng = random.Random(seed)
    schedule = []
    for _ in range(rounds):
        order = list(names)
        rng.shuffle(order)
        schedule.append(order)
    return schedule
