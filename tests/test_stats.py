"""Tests for harness.stats: verdicts must be earned, not declared on noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.judge import stats


def _draw(mean: float, sd: float, n: int, seed: int) -> list[float]:
    """Normal timing samples from a seeded generator."""
    return list(np.random.default_rng(seed).normal(mean, sd, n))


# --- summarize / is_unstable -------------------------------------------------

def test_summarize_values():
    s = stats.summarize([1.0, 2.0, 4.0])
    assert s == {"n": 3, "median": 2.0, "mean": pytest.approx(7 / 3),
                 "min": 1.0, "max": 4.0, "spread": 1.5}


def test_summarize_single_value_has_zero_spread():
    assert stats.summarize([3.0])["spread"] == 0.0


def test_summarize_zero_median_does_not_crash():
    assert stats.summarize([0.0, 0.0, 0.0])["spread"] == 0.0
    assert math.isinf(stats.summarize([0.0, 0.0, 1.0])["spread"])


def test_summarize_skips_missing_and_rejects_empty():
    assert stats.summarize([1.0, None, float("nan"), 3.0])["n"] == 2
    with pytest.raises(ValueError):
        stats.summarize([])


def test_is_unstable_boundary():
    assert not stats.is_unstable(stats.summarize([1.0, 1.0, 1.09]))
    assert stats.is_unstable(stats.summarize([1.0, 1.0, 1.10]))
    assert stats.is_unstable({"spread": 0.2}, limit=0.2)
    assert not stats.is_unstable({"spread": 0.19}, limit=0.2)


# --- MWU minimum n / repeats --------------------------------------------------

def test_min_repeats_for_significance():
    assert stats.min_repeats_for_significance(0.05) == 4   # 2/70 = 0.029
    assert stats.min_repeats_for_significance(0.10) == 4   # 2/20 = 0.1, not < 0.1
    assert stats.min_repeats_for_significance(0.11) == 3
    assert stats.min_repeats_for_significance(0.01) == 5   # 2/252 = 0.0079


def test_min_repeats_is_really_reachable():
    n = stats.min_repeats_for_significance()
    lo, hi = list(range(n)), list(range(10, 10 + n))
    assert stats.mann_whitney_p(lo, hi) < 0.05
    assert stats.mann_whitney_p(lo[:-1], hi[:-1]) >= 0.05


def test_repeats_needed_monotone_in_noise():
    needs = [stats.repeats_needed(_draw(1.0, sd, 30, seed=1))
             for sd in (0.01, 0.05, 0.1, 0.2)]
    assert needs == sorted(needs)
    assert needs[0] == stats.min_repeats_for_significance()
    assert needs[-1] > 50


def test_repeats_needed_matches_formula():
    samples = [0.9, 1.0, 1.1]  # cv = 0.1
    z = 1.959964 + 1.644854
    expected = math.ceil((z * 0.1 * math.sqrt(2) / 0.05) ** 2 * 1.05)
    assert stats.repeats_needed(samples) == expected


def test_repeats_needed_smaller_effect_needs_more():
    samples = _draw(1.0, 0.1, 20, seed=2)
    assert stats.repeats_needed(samples, effect=0.02) > stats.repeats_needed(
        samples, effect=0.10)


def test_repeats_needed_without_noise_estimate_is_the_floor():
    assert stats.repeats_needed([1.0]) == 4
    with pytest.raises(ValueError):
        stats.repeats_needed([1.0, 1.1], effect=0)


# --- paired ratios / CI -------------------------------------------------------

def test_paired_ratios_skips_bad_rounds():
    base = [2.0, 1.0, None, 3.0, float("nan"), 4.0]
    cand = [1.0, 0.0, 1.0, -1.0, 1.0, 2.0, 9.0]
    assert stats.paired_ratios(base, cand) == [2.0, 2.0]


def test_ratio_ci_deterministic_ignores_global_rng():
    ratios = _draw(1.1, 0.05, 12, seed=3)
    first = stats.ratio_ci(ratios, seed=7)
    np.random.seed(123)
    np.random.random(10)
    assert stats.ratio_ci(ratios, seed=7) == first
    lo, hi = first
    assert min(ratios) <= lo < float(np.median(ratios)) < hi <= max(ratios)


def test_ratio_ci_small_n_is_range():
    assert stats.ratio_ci([1.2, 0.9]) == (0.9, 1.2)
    assert stats.ratio_ci([1.1]) == (1.1, 1.1)


def test_ratio_ci_covers_true_ratio():
    """Over repeated experiments the 95 % CI should usually contain the truth."""
    true = 1.25
    hits = 0
    for seed in range(40):
        base = _draw(1.0, 0.03, 10, seed=seed)
        cand = _draw(0.8, 0.03, 10, seed=1000 + seed)
        lo, hi = stats.ratio_ci(stats.paired_ratios(base, cand), n_boot=1000)
        assert lo <= hi
        hits += lo <= true <= hi
    assert hits >= 32  # bootstrap median CIs are a bit narrow at n=10


def test_ratio_ci_wider_at_lower_confidence_is_narrower():
    ratios = _draw(1.0, 0.1, 15, seed=4)
    lo90, hi90 = stats.ratio_ci(ratios, confidence=0.90)
    lo99, hi99 = stats.ratio_ci(ratios, confidence=0.99)
    assert lo99 <= lo90 and hi90 <= hi99 and (hi99 - lo99) > (hi90 - lo90)


# --- Mann-Whitney -------------------------------------------------------------

def test_mann_whitney_degenerate_cases_return_one():
    assert stats.mann_whitney_p([1.0], [2.0, 3.0]) == 1.0
    assert stats.mann_whitney_p([1.0, 1.0], [1.0, 1.0]) == 1.0


def test_mann_whitney_exact_and_ties():
    assert stats.mann_whitney_p([1, 2, 3, 4], [5, 6, 7, 8]) == pytest.approx(2 / 70)
    p_ties = stats.mann_whitney_p([1, 1, 2, 2], [3, 3, 4, 4])
    assert 0 < p_ties < 0.05


# --- speed_verdict ------------------------------------------------------------

def test_verdict_faster():
    v = stats.speed_verdict(_draw(1.0, 0.02, 8, 10), _draw(0.8, 0.02, 8, 11))
    assert v["verdict"] == "faster" and v["significant"]
    assert v["speedup"] == pytest.approx(1.25, rel=0.05)
    assert v["ci"][0] > 1 and v["p_value"] < 0.05


def test_verdict_slower():
    v = stats.speed_verdict(_draw(1.0, 0.02, 8, 12), _draw(1.2, 0.02, 8, 13))
    assert v["verdict"] == "slower" and v["significant"]
    assert v["speedup"] < 1 and v["ci"][1] < 1


def test_verdict_equal_distributions():
    v = stats.speed_verdict(_draw(1.0, 0.02, 8, 14), _draw(1.0, 0.02, 8, 15))
    assert v["verdict"] == "no significant difference"
    assert not v["significant"]


def test_equal_distributions_rarely_declared_different():
    declared = sum(
        stats.speed_verdict(_draw(1.0, 0.05, 8, s), _draw(1.0, 0.05, 8, 500 + s))[
            "significant"]
        for s in range(50)
    )
    assert declared < 3


def test_false_positive_rate_with_no_threshold_near_alpha():
    """With threshold 0 only p and the CI guard; the rate must stay near alpha."""
    declared = sum(
        stats.speed_verdict(_draw(1.0, 0.05, 8, s), _draw(1.0, 0.05, 8, 900 + s),
                            threshold=0.0)["significant"]
        for s in range(50)
    )
    assert declared <= 5


def test_significant_but_within_threshold():
    base = _draw(1.0, 0.002, 8, 16)
    cand = _draw(1 / 1.03, 0.002, 8, 17)
    v = stats.speed_verdict(base, cand)
    assert v["p_value"] < 0.05
    assert v["verdict"] == "no significant difference"
    assert v["reason"] == "1.03× is within the 5% threshold"
    assert stats.speed_verdict(base, cand, threshold=0.01)["verdict"] == "faster"


def test_slower_within_threshold_is_not_slower():
    v = stats.speed_verdict(_draw(1.0, 0.002, 8, 18), _draw(1.03, 0.002, 8, 19))
    assert v["verdict"] == "no significant difference"
    assert "threshold" in v["reason"]


def test_noise_floor_blocks_verdict():
    base, cand = _draw(1.0, 0.01, 8, 20), _draw(1 / 1.08, 0.01, 8, 21)
    assert stats.speed_verdict(base, cand)["verdict"] == "faster"
    v = stats.speed_verdict(base, cand, noise_floor=0.10)
    assert v["verdict"] == "no significant difference"
    assert v["reason"] == "within the measured noise floor ±10.0%"


def test_p_value_reason():
    v = stats.speed_verdict(_draw(1.0, 0.2, 6, 22), _draw(1.0, 0.2, 6, 23))
    assert v["verdict"] == "no significant difference"
    assert v["reason"].startswith("p=") and "≥ 0.05" in v["reason"]


def test_too_few_repeats():
    v = stats.speed_verdict([1.0, 1.0, 1.0], [0.5, 0.5, 0.5])
    assert v["verdict"] == "no significant difference"
    assert "too few repeats" in v["reason"]
    assert v["speedup"] == 2.0


def test_too_few_valid_rounds_counts_after_skipping():
    v = stats.speed_verdict([1.0, 1.0, 1.0, None], [0.5, 0.5, 0.5, 0.5])
    assert "too few repeats" in v["reason"]
    empty = stats.speed_verdict([], [])
    assert empty["speedup"] is None and empty["ci"] == [None, None]


# --- noise floor --------------------------------------------------------------

def test_noise_floor_values():
    assert stats.noise_floor([1.0], [1.0]) == 0.0
    assert stats.noise_floor([1.0, 1.1], [1.0, 1.0]) == pytest.approx(0.05)
    # one disturbed round among five does not set the floor
    assert stats.noise_floor([1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 1.02, 0.99, 1.6, 1.01]) == pytest.approx(0.01, abs=0.002)
    quiet = stats.noise_floor(_draw(1, 0.01, 10, 24), _draw(1, 0.01, 10, 25))
    loud = stats.noise_floor(_draw(1, 0.10, 10, 24), _draw(1, 0.10, 10, 25))
    assert 0 < quiet < loud


# --- schedule -----------------------------------------------------------------

NAMES = ["baseline", "claude", "gpt", "baseline#2"]


def test_schedule_rounds_are_permutations():
    sched = stats.interleaved_schedule(NAMES, rounds=10, seed=3)
    assert len(sched) == 10
    assert all(sorted(r) == sorted(NAMES) for r in sched)


def test_schedule_deterministic_per_seed():
    assert stats.interleaved_schedule(NAMES, 10, seed=5) == \
        stats.interleaved_schedule(NAMES, 10, seed=5)
    assert stats.interleaved_schedule(NAMES, 10, seed=5) != \
        stats.interleaved_schedule(NAMES, 10, seed=6)


def test_schedule_order_varies_across_rounds():
    sched = stats.interleaved_schedule(NAMES[:3], rounds=10, seed=0)
    assert len({tuple(r) for r in sched}) > 1
    assert len({r[0] for r in sched}) > 1  # nobody always goes first


def test_schedule_rejects_duplicates():
    with pytest.raises(ValueError):
        stats.interleaved_schedule(["a", "a"], 2)


def test_relative_difference():
    assert stats.relative_difference(2.0, 2.5) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        stats.relative_difference(0.0, 1.0)


def test_ci_including_one_blocks_verdict():
    """The CI gate on its own: significant p and a big median are not enough."""
    verdict, reason = stats._classify(1.2, (0.98, 1.3), p=0.01, alpha=0.05,
                                      margin=0.05, threshold=0.05)
    assert verdict == "no significant difference"
    assert reason == "CI [0.980, 1.300] includes 1"
    assert stats._classify(1.2, (1.02, 1.3), 0.01, 0.05, 0.05, 0.05)[0] == "faster"
    assert stats._classify(0.8, (0.7, 0.95), 0.01, 0.05, 0.05, 0.05)[0] == "slower"


def test_schedule_prefix_is_stable_when_rounds_grow():
    """Raising --repeat resumes: the first rounds must be the ones already run."""
    assert stats.interleaved_schedule(NAMES, 10, seed=7)[:4] == stats.interleaved_schedule(NAMES, 4, seed=7)
