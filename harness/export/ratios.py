"""Which ratios a reader may see, and how they are labelled: one rule for every exporter.

A speedup is shown (and plotted) only where it was measured as a paired,
judged comparison — `PhaseVerdict.speedup`, the geometric mean of the timing
rounds' paired ratios — and only where its direction agrees with the medians
printed beside it. The medians can point the other way when the difference is
within the noise (a ratio of medians is not a median of ratios) or when the
baseline's medians cover more rounds than this candidate ran (the sequential
rule stops candidates at different rounds): a cell that says "0.95×" next to
medians that say faster contradicts itself, so neither direction is shown.

A --quick run's single unpaired ratio (`PhaseVerdict.indicative`) is not a
speedup: it is shown, labelled, for equivalent candidates of a --quick compare
only, and never plotted. Candidates the equivalence round settled (not
equivalent, crashed) get no ratio at all: their one run may have shared the
machine, and their outputs are wrong anyway.
"""

from __future__ import annotations

import math
from typing import Any

from harness.results import NOT_JUDGED, CandidateVerdict, PhaseVerdict, Summary

INDICATIVE = "indicative: 1 run, not judged"
DISAGREE = "the paired ratio and the medians point different ways"


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def judged(v: PhaseVerdict | None) -> float | None:
    """The speedup of paired, judged rounds, or None (a document written before `indicative` existed keeps a
    single run's ratio in `speedup` under the verdict "not judged": that is no speedup either)."""
    return v.speedup if v is not None and v.verdict != NOT_JUDGED and finite(v.speedup) else None


def single_run(v: PhaseVerdict | None) -> float | None:
    """A not-judged phase's single-run ratio, wherever the document keeps it."""
    if v is None or v.verdict != NOT_JUDGED:
        return None
    return v.indicative if finite(v.indicative) else v.speedup if finite(v.speedup) else None


def medians_ratio(base: Summary | None, cand: Summary | None) -> float | None:
    """Baseline median / candidate median (> 1: the candidate's median is lower), None when either is missing."""
    if base is None or cand is None or not finite(base.median) or not finite(cand.median):
        return None
    return base.median / cand.median


def agrees(ratio: float, base: Summary | None, cand: Summary | None) -> bool:
    """True unless the ratio and the medians beside it point opposite ways (either one exactly 1: no direction)."""
    medians = medians_ratio(base, cand)
    return medians is None or (ratio - 1.0) * (medians - 1.0) >= 0.0


def speedup(v: PhaseVerdict | None, base: Summary | None, cand: Summary | None) -> float | None:
    """The speedup a report shows and plots: judged, and in the direction of the medians beside it."""
    value = judged(v)
    return value if value is not None and agrees(value, base, cand) else None


def contradicted(v: PhaseVerdict | None, base: Summary | None, cand: Summary | None) -> bool:
    """A judged speedup withheld because the medians beside it point the other way."""
    value = judged(v)
    return value is not None and not agrees(value, base, cand)


def indicative(v: PhaseVerdict | None, c: CandidateVerdict, quick: bool, base: Summary | None,
               cand: Summary | None) -> float | None:
    """A --quick compare's single-run ratio of an equivalent candidate (shown labelled, never plotted), or None."""
    value = single_run(v)
    if not quick or not c.equivalent or value is None:
        return None
    return value if agrees(value, base, cand) else None
