"""The CI gate's rule: which candidates fail a pull request, and why, in one definition.

`check --fail-on` picks how strict the gate is. Every exporter that reports a
pass or a failure (JUnit, the GitHub summary, annotations) and the exit status
ask here, so they can never disagree. A document without a gate rule (a plain
compare) is judged by compare's own exit rule: not equivalent, or slower.
"""

from __future__ import annotations

from harness.errors import UsageProblem
from harness.results import CandidateVerdict, CompareDocument

NONEQUIVALENT, SLOWER, NOT_FASTER = "nonequivalent", "slower", "not-faster"
#: Weakest first: each rule fails everything the one before it fails.
FAIL_ON = (NONEQUIVALENT, SLOWER, NOT_FASTER)


def check_rule(fail_on: str) -> str:
    if fail_on not in FAIL_ON:
        raise UsageProblem(f"--fail-on {fail_on!r}: expected one of {', '.join(FAIL_ON)}")
    return fail_on


def needs_speed(fail_on: str) -> bool:
    """Only the equivalence rule can be decided from one run per branch."""
    return check_rule(fail_on) != NONEQUIVALENT


def rule_of(doc: CompareDocument) -> str:
    """The document's gate rule; compare's exit rule when it was not made by `check`."""
    if doc.settings.fail_on:
        return doc.settings.fail_on
    return NONEQUIVALENT if doc.settings.quick else SLOWER


def failure(candidate: CandidateVerdict, fail_on: str, primary: str) -> str | None:
    """Why the candidate fails the gate (one line), or None when it passes."""
    if candidate.outcome != "equivalent":
        return reason(candidate)
    slower = candidate.speed_call == "worse" or candidate.guard_slower is not None or not candidate.timing_trusted
    if fail_on == SLOWER and slower:
        return f"{candidate.verdict}: {speed_words(candidate, primary)}"
    if fail_on == NOT_FASTER and (slower or candidate.speed_call != "better"):
        return f"{candidate.verdict}, required faster: {speed_words(candidate, primary)}"
    return None


def reason(candidate: CandidateVerdict) -> str:
    """'NOT equivalent: <diagnosis>'; a diagnosis that already starts with the verdict ('crashed: …') alone."""
    if candidate.diagnosis.startswith(candidate.verdict):
        return candidate.diagnosis
    return f"{candidate.verdict}: {candidate.diagnosis}"


def speed_words(candidate: CandidateVerdict, primary: str) -> str:
    """'period 0.91× [0.88, 0.94]' — the primary phase's speedup and CI, or why there is none."""
    v = candidate.speed.get(primary)
    if v is None or v.speedup is None:
        return f"{primary} not judged" + (f" ({v.reason})" if v is not None and v.reason else "")
    ci = f" [{v.ci[0]:.2f}, {v.ci[1]:.2f}]" if v.ci and None not in v.ci else ""
    return f"{primary} {v.speedup:.2f}×{ci}"


def failures(doc: CompareDocument) -> dict[str, str]:
    """Candidate name → why it fails the document's gate; passing candidates are absent."""
    rule, primary = rule_of(doc), doc.task.primary_phase
    found = {c.name: failure(c, rule, primary) for c in doc.candidates}
    return {name: why for name, why in found.items() if why is not None}


def exit_code(doc: CompareDocument) -> int:
    """1 when any candidate fails the gate, else 0 (2 is the CLI's, for usage and infrastructure)."""
    return 1 if failures(doc) else 0
