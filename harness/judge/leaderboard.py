"""Many attempts per agent, summed up: which agent is better, how often correct, how much faster.

Built from a CompareDocument alone (never from runs), so a stored compare.json
gives the same board every time. Definitions, per agent, over its attempts
(a patch that does not apply is an attempt too):

- share equivalent: equivalent attempts / attempts.
- fast_p (p = 1.0, 1.5, 2.0), KernelBench's metric under its own name: the
  share of attempts that are equivalent and whose speedup (the point estimate:
  the geometric mean of the paired ratios of the primary phase) is above p.
  A 1.01× within the noise counts for fast_1.0, as it does in KernelBench.
- sig_fast_p, ours and stricter: the share of attempts that are equivalent
  *and* significantly faster than p×: the phase verdict is "faster" (p < 0.05,
  beyond the threshold and the noise floor, CI excludes 1) and the lower end of
  the speedup's CI is above p (strictly). For p = 1 that is exactly the
  "faster" verdict.
  Both are None when speed was not judged (--quick).
- geometric-mean speedup of the equivalent attempts (their primary-phase
  median paired ratios), with a 95 % CI from Student's t on the log speedups
  (none for a single attempt): the per-attempt speedups are the sample, so the
  interval says how much an agent's *typical* correct patch gains, not how
  precisely one patch was timed.
- best attempt: the equivalent attempt with the highest primary speedup.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from harness.results import AgentRow, CandidateVerdict, CompareDocument, Leaderboard

THRESHOLDS = (1.0, 1.5, 2.0)
CONFIDENCE = 0.95


def threshold_key(p: float) -> str:
    """The column name of a fast_p threshold: "1.0", "1.5", "2.0"."""
    return f"{p:.1f}"


def has_agents(doc: CompareDocument) -> bool:
    return any(c.agent for c in doc.candidates)


def is_fast(c: CandidateVerdict, phase: str, p: float) -> bool:
    """KernelBench's test: equivalent and a judged speedup above p× (the point estimate)."""
    speedup = _speedup(c, phase)
    return c.equivalent and speedup is not None and speedup > p


def is_sig_fast(c: CandidateVerdict, phase: str, p: float) -> bool:
    """Equivalent, called faster, and the CI's lower end above p×."""
    v = c.speed.get(phase)
    if not c.equivalent or v is None or v.call != "better" or not v.ci or v.ci[0] is None:
        return False
    return v.ci[0] > p


def geomean_ci(speedups: Sequence[float]) -> tuple[float | None, list[float] | None]:
    """Geometric mean and its t-interval on the logs; (None, None) for no values, no CI for one."""
    logs = [math.log(s) for s in speedups if s is not None and s > 0 and math.isfinite(s)]
    if not logs:
        return None, None
    mean = sum(logs) / len(logs)
    if len(logs) < 2:
        return math.exp(mean), None
    from scipy.stats import t

    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (len(logs) - 1))
    half = float(t.ppf(0.5 + CONFIDENCE / 2, len(logs) - 1)) * sd / math.sqrt(len(logs))
    return math.exp(mean), [math.exp(mean - half), math.exp(mean + half)]


def _speedup(c: CandidateVerdict, phase: str) -> float | None:
    """The judged speedup (never a single run's ratio: an older document keeps one under "not judged")."""
    v = c.speed.get(phase)
    return v.speedup if v is not None and v.call != "not_judged" else None


def agent_row(agent: str, attempts: list[CandidateVerdict], phase: str, thresholds: Sequence[float],
              judged: bool) -> AgentRow:
    """One agent's line of the board."""
    correct = [c for c in attempts if c.equivalent]
    timed = [(c, s) for c in correct if (s := _speedup(c, phase)) is not None] if judged else []
    mean, ci = geomean_ci([s for _, s in timed])
    best = max(timed, key=lambda cs: cs[1], default=None)
    return AgentRow(agent=agent, reference=all(c.reference for c in attempts), attempts=len(attempts),
                    equivalent=len(correct), share_equivalent=len(correct) / len(attempts),
                    fast=_shares(attempts, is_fast, phase, thresholds, judged),
                    sig_fast=_shares(attempts, is_sig_fast, phase, thresholds, judged),
                    geomean_speedup=mean, geomean_ci=ci, best_attempt=best[0].name if best else None,
                    best_speedup=best[1] if best else None)


def _shares(attempts: list[CandidateVerdict], test: Callable[[CandidateVerdict, str, float], bool], phase: str,
            thresholds: Sequence[float], judged: bool) -> dict[str, float | None]:
    """Threshold key → the share of attempts passing `test` at that p (None for all when speed was not judged)."""
    return {threshold_key(p): (sum(test(c, phase, p) for c in attempts) / len(attempts) if judged else None)
            for p in thresholds}


def _rank(row: AgentRow) -> tuple:
    """Agents before references; then sig_fast_1.0, fast_1.0, share equivalent, geomean — higher first; then
    the name (the stricter measure first: a speedup inside the noise does not outrank a significant one)."""
    sig, fast = (next(iter(shares.values()), None) for shares in (row.sig_fast, row.fast))
    return (row.reference, -(sig or 0.0), -(fast or 0.0), -row.share_equivalent, -(row.geomean_speedup or 0.0),
            row.agent)


def build(doc: CompareDocument, thresholds: Sequence[float] = THRESHOLDS) -> Leaderboard:
    """The board of every agent that handed in attempts (candidates without an agent are left out)."""
    groups: dict[str, list[CandidateVerdict]] = {}
    for c in doc.candidates:
        if c.agent:
            groups.setdefault(c.agent, []).append(c)
    phase, judged = doc.task.primary_phase, not doc.settings.quick
    rows = [agent_row(agent, attempts, phase, thresholds, judged) for agent, attempts in groups.items()]
    return Leaderboard(phase=phase, thresholds=list(thresholds), rows=sorted(rows, key=_rank))
