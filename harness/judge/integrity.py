"""What the harness's own observations say about a branch's honesty, applied to its verdict.

A run whose log timestamps disagree with the harness's clock has had its
phase times withdrawn at collection; here the candidate's verdict says so:
it is "equivalent, timing not trusted" (a failure for the exit status), never
a speed claim in either direction. A baseline whose clock disagrees makes
every phase comparison meaningless, which the document's warnings say.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.judge import verdicts
from harness.results import CandidateVerdict, CompareDocument, RunResult

CLOCK_PROBLEM = "log timestamps disagree with the harness's clock"


def clock_problem(runs: Sequence[RunResult]) -> str | None:
    """The first clock disagreement among a branch's runs, if any."""
    return next((p for r in runs for p in r.problems if p.startswith(CLOCK_PROBLEM)), None)


def untrusted(cand: CandidateVerdict, problem: str) -> CandidateVerdict:
    """An equivalent candidate timed by a lying log: no speed verdict, and the reason in the diagnosis."""
    if not cand.equivalent:
        return cand
    diagnosis = cand.diagnosis if problem in cand.diagnosis else f"{cand.diagnosis}; {problem}"
    return cand.model_copy(update={"verdict": verdicts.TIMING_UNTRUSTED, "diagnosis": diagnosis})


def apply(doc: CompareDocument, results: dict[str, list[RunResult]]) -> CompareDocument:
    """The document with every candidate's verdict reflecting its clock, and a warning for the baseline's."""
    candidates = []
    for cand in doc.candidates:
        problem = clock_problem(results.get(cand.name, []))
        candidates.append(untrusted(cand, problem) if problem else cand)
    warnings = list(doc.warnings)
    if (problem := clock_problem(results.get(doc.baseline, []))) is not None:
        warnings.append(f"baseline: {problem}; phase comparisons are not meaningful")
    return doc.model_copy(update={"candidates": candidates, "warnings": warnings})
