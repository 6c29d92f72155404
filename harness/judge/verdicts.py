"""The words of a verdict, the ranking of statuses and the exit status — one definition each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness import constants as C
from harness.results import CandidateVerdict, Outcome, PhaseVerdict, RunResult
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


@dataclass(frozen=True)
class Call:
    """A candidate's verdict in no words: what its runs came to, what its speed came to, and whether its
    timing can be believed. `words` says it; the exit status and the gate read the fields, never the words."""

    status: str
    outcome: Outcome
    speed: PhaseVerdict | None = None  # the primary phase's judgement (None: no timing rounds judged it)
    guard_slower: str | None = None  # a guarded phase that got slower, while the primary did not win
    trusted: bool = True
    quick: bool = False
    outputs: bool = True  # False: contenders compute differently by design (a race)


def outcome_of(status: str, equivalent: bool) -> Outcome:
    return "failed" if status != C.STATUS_OK else "equivalent" if equivalent else "not_equivalent"


def slower_guard(call: PhaseVerdict | None, speed: dict[str, PhaseVerdict], judging: Judging) -> str | None:
    """The seed's rule: a guarded phase (training) may not get slower unless the primary phase decided the
    question itself (faster or slower)."""
    if call is None or call.call in ("better", "worse"):
        return None
    return next((g for g in judging.guard if speed[g].call == "worse"), None)


def words(call: Call, judging: Judging) -> str:
    """One verdict per state, worst first: failed, not equivalent, timing not trusted, then the speed word.

    A task whose contenders compute differently by design (outputs = false)
    drops the "equivalent, " prefix: only status and speed are judged.
    """
    if call.outcome == "failed":
        return FAILURE_WORDS.get(call.status, call.status)
    if call.outcome != "equivalent":
        return NOT_EQUIVALENT
    prefix = "equivalent, " if call.outputs else ""
    if not call.trusted:
        return TIMING_UNTRUSTED
    if call.quick:
        return NOT_JUDGED_QUICK if call.outputs else "finished, speed not judged (one run each)"
    if call.guard_slower is not None:
        return f"{prefix}slower {judging.label(call.guard_slower)}"
    return f"{prefix}{call.speed.verdict if call.speed is not None else 'speed not judged'}"


def is_failure(candidate: CandidateVerdict) -> bool:
    """Not equivalent, crashed, timed out, slower in any judged sense, or timed by a clock that lies."""
    return (candidate.outcome != "equivalent" or candidate.speed_call == "worse"
            or candidate.guard_slower is not None or not candidate.timing_trusted)


def exit_code(candidates: Sequence[CandidateVerdict]) -> int:
    """0 only when every candidate is equivalent and none is slower."""
    return 1 if any(is_failure(c) for c in candidates) else 0
