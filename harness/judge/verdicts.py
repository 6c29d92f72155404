"""The words of a verdict, the ranking of statuses and the exit status — one definition each."""

from __future__ import annotations

from collections.abc import Sequence

from harness import constants as C
from harness.results import CandidateVerdict, PhaseVerdict, RunResult
from harness.tasks import Judging

NOT_EQUIVALENT = "NOT equivalent"
#: One run per branch (compare --quick, check's equivalence gate): words that fit both commands.
NOT_JUDGED_QUICK = "equivalent, speed not judged (one run each)"
NO_DIFFERENCE = "equivalent, no significant difference"
FASTER = "equivalent, faster"
SLOWER = "equivalent, slower"
#: The run's log and the harness's clock tell different stories: no speed claim, and not a pass.
TIMING_UNTRUSTED = "equivalent, timing not trusted"
#: A failed status in words, where the status name alone says too little.
FAILURE_WORDS = {C.STATUS_MEMORY: "over the memory cap", C.STATUS_KILLED: "killed by a signal"}


def worst_status(results: Sequence[RunResult]) -> str:
    """The worst status over a branch's runs: the harness's ranking first, then a task's own words."""
    seen = [r.status for r in results]
    return next((s for s in C.STATUS_RANK if s in seen), next((s for s in seen if s != C.STATUS_OK), C.STATUS_OK))


def verdict_text(status: str, equivalent: bool, quick: bool, primary: str | None, outputs: bool = True) -> str:
    """One verdict per state, worst first: failed, not equivalent, then the primary phase's speed word.

    A task whose contenders compute differently by design (outputs = false)
    drops the "equivalent, " prefix: only status and speed are judged.
    """
    if status != C.STATUS_OK:
        return FAILURE_WORDS.get(status, status)
    if not equivalent:
        return NOT_EQUIVALENT
    if quick:
        return NOT_JUDGED_QUICK if outputs else "finished, speed not judged (one run each)"
    return f"{'equivalent, ' if outputs else ''}{primary or 'speed not judged'}"


def guard_verdict(verdict: str, speed: dict[str, PhaseVerdict], judging: Judging) -> str:
    """The seed's rule: a guarded phase (training) may not get slower unless the primary phase still wins."""
    if verdict in (FASTER, SLOWER) or not verdict.startswith("equivalent, "):
        return verdict
    slower = [g for g in judging.guard if speed[g].verdict == "slower"]
    return f"equivalent, slower {judging.label(slower[0])}" if slower else verdict


def is_failure(candidate: CandidateVerdict) -> bool:
    """Not equivalent, crashed, timed out, slower in any judged sense, or timed by a clock that lies."""
    return not candidate.equivalent or "slower" in candidate.verdict or candidate.verdict == TIMING_UNTRUSTED


def exit_code(candidates: Sequence[CandidateVerdict]) -> int:
    """0 only when every candidate is equivalent and none is slower."""
    return 1 if any(is_failure(c) for c in candidates) else 0
