"""What the harness's own observations say about a branch's honesty, applied to its verdict.

A run whose log timestamps disagree with the harness's clock has had its
phase times withdrawn at collection; here the candidate's verdict says so:
it is "equivalent, timing not trusted" (a failure for the exit status), never
a speed claim in either direction. A baseline whose clock disagrees makes
every phase comparison meaningless, which the document's warnings say.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.results import RunResult

CLOCK_PROBLEM = "log timestamps disagree with the harness's clock"


def clock_problem(runs: Sequence[RunResult]) -> str | None:
    """The first clock disagreement among a branch's runs, if any."""
    return next((p for r in runs for p in r.problems if p.startswith(CLOCK_PROBLEM)), None)
