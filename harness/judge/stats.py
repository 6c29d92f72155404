"""Statistics for timing comparisons between git branches.

On a shared machine the same command varies 10-30 % from run to run, so a
"faster" claim has to survive a paired test on the per-round log ratios, a
practical threshold and a BCa bootstrap interval clear of it. The harness
looks after every round and stops when the answer is settled, so each look is
tested at a stricter level (`per_look_alpha`) that keeps the overall
false-claim rate at or below alpha. Everything here is pure: no I/O, no
module state but a cache of the simulated per-look constant; randomness is seeded.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from harness.results import PhaseVerdict

log = logging.getLogger(__name__)

#: Fewest paired rounds a verdict is attempted on (a bootstrap needs three).
MIN_N = 3
#: Fewest timing rounds before the sequential rule may stop.
MIN_ROUNDS = 5


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


def coefficient_of_variation(samples: Sequence[float]) -> float:
    """Sample std / mean: the noise level in the same relative units as effects."""
    values = _valid(samples)
    if len(values) < 2:
        raise ValueError("need at least two values to estimate noise")
    mean = float(np.mean(values))
    if mean == 0:
        raise ValueError("coefficient of variation undefined for zero mean")
    return float(np.std(values, ddof=1)) / abs(mean)


def repeats_needed(samples: Sequence[float], effect: float = 0.05, alpha: float = 0.05, power: float = 0.95) -> int:
    """Paired rounds needed to detect a relative `effect` at this noise (normal approximation).

    n = ((z_{1-a/2} + z_power) * cv * sqrt(2) / effect)^2: the sqrt(2) because
    a paired ratio carries the noise of both runs. With < 2 samples the noise
    is unknown, so the smallest useful number of rounds is returned.
    """
    if effect <= 0:
        raise ValueError(f"effect must be positive, got {effect}")
    if len(_valid(samples)) < 2:
        return MIN_ROUNDS
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    n = (z * coefficient_of_variation(samples) * math.sqrt(2) / effect) ** 2
    return max(MIN_ROUNDS, math.ceil(n))


def paired_ratios(base: Sequence[float | None], cand: Sequence[float | None]) -> list[float]:
    """Per-round speedups base_i / cand_i (> 1: candidate faster).

    Pairing by round cancels machine-load drift that hits both branches in the
    same round. Rounds where either value is missing, NaN or negative are
    dropped; a zero is a phase shorter than the clock can tell (CLOCK_FLOOR_S).
    """
    pairs = [(_as_time(b), _as_time(c)) for b, c in zip(base, cand)]
    return [b / c for b, c in pairs if b is not None and c is not None]


#: A phase the harness's clock saw as zero long (its lines arrived in one read) lasted less than this, and enters a
#: ratio as this: dropping it would hide a burst of lines — work done silently, printed at once — behind "too few
#: rounds", where it belongs with a speed claim that the time outside the lines then vetoes.
CLOCK_FLOOR_S = 1e-3


def _as_time(value: float | None) -> float | None:
    """A duration that can enter a ratio (a zero floored), or None."""
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return max(float(value), CLOCK_FLOOR_S)


def per_look_alpha(alpha: float, min_rounds: int, max_rounds: int) -> float:
    """The level each look is tested at, so that all looks together stay at or below `alpha`.

    The harness may stop after any round from `min_rounds` to `max_rounds`.
    Pocock's design tests every look at one nominal level, chosen so that,
    under no difference, the paired t-test (`paired_p`) falls below it at
    some look with probability `alpha`. Consecutive looks share most of their
    rounds, so that level is far less strict than Bonferroni's alpha / K
    (looks 5..20: 0.0096, not 0.0031) for the same overall rate. It is found
    by a seeded simulation of Gaussian log ratios (`_pocock_level`); heavier
    tails make the t-test more cautious, not less. A fixed-length design
    (min >= max) gets alpha itself.
    """
    first = max(min_rounds, 2)
    if max_rounds <= first:
        return alpha
    return _pocock_level(alpha, first, max_rounds)


#: Sequences in the seeded simulation behind `per_look_alpha` (its level is good to about ±3 %).
POCOCK_PATHS = 100_000


@functools.lru_cache(maxsize=16)
def _pocock_level(alpha: float, first: int, last: int) -> float:
    """The alpha-quantile of the smallest t-test p-value over looks first..last of null Gaussian sequences."""
    from scipy import stats as sps

    rng = np.random.default_rng(20261123)
    total, squares = np.zeros(POCOCK_PATHS), np.zeros(POCOCK_PATHS)
    smallest = np.ones(POCOCK_PATHS)
    for n in range(1, last + 1):
        x = rng.standard_normal(POCOCK_PATHS)
        total += x
        squares += x * x
        if n >= first:
            sd = np.sqrt((squares - total * total / n) / (n - 1))
            p = 2 * sps.t.sf(np.abs(total / n) / (sd / math.sqrt(n)), n - 1)
            np.minimum(smallest, p, out=smallest)
    return float(np.quantile(smallest, alpha))


def paired_p(log_ratios: Sequence[float]) -> float:
    """Two-sided paired t-test of the mean per-round log ratio against 0 (scipy).

    A rank or sign test's smallest p-value is 2/2^n — above the per-look level
    (0.0096 for looks 5..20) up to 7 rounds, where the sequential design
    usually stops — so the continuous t-test on log
    ratios is used; a disturbed round widens its spread and makes it more
    cautious, never bolder.
    """
    values = np.asarray(_valid(log_ratios), dtype=float)
    if values.size < 2:
        return 1.0
    if np.ptp(values) == 0:
        return 1.0 if values[0] == 0 else 0.0
    from scipy import stats as sps  # ~0.4 s to import: only paid when a test runs

    with warnings.catch_warnings():  # nearly identical ratios: scipy warns, the p-value is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(sps.ttest_1samp(values, 0.0).pvalue)


def ratio_ci(log_ratios: Sequence[float], confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """BCa bootstrap CI (scipy) of the geometric-mean ratio; seeded so reports reproduce.

    Fewer than 3 rounds cannot carry a bootstrap: their range is returned.
    """
    values = np.asarray(_valid(log_ratios), dtype=float)
    if values.size == 0:
        raise ValueError("cannot build a CI from no ratios")
    if values.size < 3 or np.ptp(values) == 0:
        return float(np.exp(values.min())), float(np.exp(values.max()))
    from scipy import stats as sps

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sps.bootstrap((values,), np.mean, confidence_level=confidence, method="BCa", n_resamples=2000,
                            rng=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(np.exp(lo)), float(np.exp(hi))


def noise_floor(base_a: Sequence[float | None], base_b: Sequence[float | None]) -> float:
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


@dataclass(frozen=True)
class Words:
    """What "better" and "worse" are called for a phase: time is faster/slower, memory lower/higher."""

    better: str = "faster"
    worse: str = "slower"

    def of(self, call: str, lo: float = 1.0, hi: float = 1.0) -> str:
        """The words for a call (inconclusive ones say the noise the interval saw)."""
        if call == "inconclusive":
            return inconclusive(lo, hi)
        return {"better": self.better, "worse": self.worse, "same": SAME}[call]


TIME_WORDS = Words()
MEMORY_WORDS = Words("lower", "higher")
SAME = "no significant difference"


@dataclass(frozen=True)
class Bands:
    """How far from 1.0 a ratio must be to be called a difference, and how close to be called none.

    A difference is claimed only beyond max(threshold, noise floor): on a noisy
    machine the floor widens it. "No significant difference" is claimed only
    inside ±threshold, whatever the floor: noise must never make it easier to
    say two branches are alike (with the floor in both, a real ~10 % slowdown
    read as 0.958x was once settled as "no significant difference").
    """

    differ: float
    same: float

    @classmethod
    def of(cls, threshold: float, noise_floor: float = 0.0) -> Bands:
        return cls(max(threshold, noise_floor), threshold)


#: Futility: stop when the final look's chance of answering, if today's trend and noise go on, is below this.
FUTILITY_POWER = 0.10


def futile(log_ratios: Sequence[float], alpha: float, bands: Bands, max_n: int | None) -> bool:
    """Can the rounds up to `max_n` hardly ever settle this question? (then running them is wasted)

    Stochastic curtailment: `conditional_power` is the chance that the look
    at the cap answers, if the remaining rounds continue today's mean with
    today's spread; below FUTILITY_POWER the candidate stops. Stopping for
    futility makes no claim, so it costs no false positives, only rounds (a
    bimodal candidate ran every round to the cap before). The rule it
    replaced projected today's mean as if certain (with a third of the
    spread): an effect seen a little low at round 5 was stopped — 6 of 20 real
    ~10 %-slower compares, and 5 of 100 synthetic ones at 4.5 % noise.
    """
    values = np.asarray(_valid(log_ratios), dtype=float)
    if max_n is None or values.size < MIN_N or values.size >= max_n:
        return False
    return conditional_power(values, alpha, bands, max_n) < FUTILITY_POWER


def conditional_power(log_ratios: np.ndarray, alpha: float, bands: Bands, max_n: int) -> float:
    """P(the look at `max_n` rounds answers), the remaining rounds drawn at today's mean and spread.

    It answers when the final mean log ratio lies beyond the difference band and
    beyond its own interval's half-width (a call either way), or when that
    interval fits inside the no-difference band. The final mean is today's sum
    plus the rest: normal around today's mean, sd * sqrt(max_n - n) / max_n.
    """
    n, mean, sd = log_ratios.size, float(log_ratios.mean()), float(np.std(log_ratios, ddof=1))
    if sd == 0:
        return 1.0
    from scipy import stats as sps

    half = float(sps.t.ppf(1 - alpha / 2, max_n - 1)) * sd / math.sqrt(max_n)
    final = NormalDist(mean, sd * math.sqrt(max_n - n) / max_n)
    call, inside = max(math.log1p(bands.differ), half), math.log1p(bands.same) - half
    answered = final.cdf(-call) + 1 - final.cdf(call)
    if inside > 0:
        answered += final.cdf(inside) - final.cdf(-inside)
    return answered


def inconclusive(lo: float, hi: float) -> str:
    """The verdict word when the interval is neither clear of the band nor inside it."""
    return f"inconclusive (noise ±{max(hi - 1, 1 - lo) * 100:.0f} %)"


def speed_verdict(base: Sequence[float | None], cand: Sequence[float | None], threshold: float = 0.05,
                  alpha: float = 0.05, noise_floor: float = 0.0, final: bool = True,
                  words: Words = TIME_WORDS, max_n: int | None = None) -> PhaseVerdict:
    """Judge paired rounds of a lower-is-better measure; say whether the question is settled.

    Settled: the (1 - alpha) CI lies clear of the band 1 ± max(threshold,
    noise floor) with p < alpha (better/worse), or inside 1 ± threshold (no
    significant difference; see Bands). At the final look an unsettled phase
    is better/worse only when p < alpha, the estimate is beyond the band and
    the CI excludes 1; otherwise it is inconclusive, with the noise it saw.
    """
    logs = [math.log(r) for r in paired_ratios(base, cand)]
    if len(logs) < MIN_N:
        return _too_few(logs)
    speedup = float(math.exp(np.mean(logs)))
    lo, hi = ratio_ci(logs, 1 - alpha)
    p = paired_p(logs)
    bands = Bands.of(threshold, noise_floor)
    call, settled, reason = _classify(speedup, (lo, hi), p, alpha, bands, final)
    log.debug("speed verdict n=%d speedup=%.4f p=%.3g: %s", len(logs), speedup, p, reason)
    return PhaseVerdict(n=len(logs), call=call, speedup=speedup, ci=[lo, hi], p_value=p,
                        significant=call in ("better", "worse"), verdict=words.of(call, lo, hi), reason=reason,
                        settled=settled, not_worse=lo >= 1 / (1 + bands.same),
                        futile=not settled and futile(logs, alpha, bands, max_n),
                        conservative=lo if call == "better" else None)


def _too_few(logs: list[float]) -> PhaseVerdict:
    speedup = float(math.exp(np.mean(logs))) if logs else None
    return PhaseVerdict(n=len(logs), call="inconclusive", speedup=speedup, verdict="inconclusive (too few rounds)",
                        reason=f"n={len(logs)} < {MIN_N} paired rounds")


def _classify(speedup: float, ci: tuple[float, float], p: float, alpha: float, bands: Bands,
              final: bool) -> tuple[str, bool, str]:
    """(call, settled, reason): clear of the difference band, inside the no-difference band, or neither."""
    lo, hi = ci
    upper, lower, band = 1 + bands.differ, 1 / (1 + bands.differ), bands.differ
    detail = f"{speedup:.3f}× CI [{lo:.3f}, {hi:.3f}] p={p:.2g}"
    if p < alpha and lo > upper:
        return "better", True, f"{detail}: clear of ±{band:.1%}"
    if p < alpha and hi < lower:
        return "worse", True, f"{detail}: clear of ±{band:.1%}"
    if 1 / (1 + bands.same) <= lo and hi <= 1 + bands.same:
        return "same", True, f"{detail}: inside ±{bands.same:.1%}"
    if final and p < alpha and (lo > 1 or hi < 1) and not lower <= speedup <= upper:
        return ("better" if speedup > 1 else "worse"), False, f"{detail}: significant, CI overlaps ±{band:.1%}"
    return "inconclusive", False, f"{detail}: not resolved at ±{band:.1%}"


def modes(samples: Sequence[float]) -> list[dict] | None:
    """Two clusters when the values split at a gap far wider than either cluster's own spread.

    claude's visualisation takes 5-6 s or 13-15 s across identical runs; a
    median and a huge spread hide that, two modes show it.
    """
    values = sorted(_valid(samples))
    if len(values) < 4:
        return None
    gaps = np.diff(values)
    cut = int(np.argmax(gaps)) + 1
    low, high = values[:cut], values[cut:]
    if min(len(low), len(high)) < 2:
        return None
    within = max(low[-1] - low[0], high[-1] - high[0], 1e-12)
    if gaps[cut - 1] < 3 * within or gaps[cut - 1] < 0.1 * float(np.median(values)):
        return None
    return [summarize(low), summarize(high)]


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
