"""All judgements of one compare, assembled into the typed CompareDocument — built once per candidate.

Every run of a candidate that finished — the equivalence round and every timed
round — is held against the baseline's run of the same configuration
(metrics, artifacts, printed text; within the baseline's own self-difference),
not only against the candidate's own first run: a run that can tell a checked
round from a timed one and computes honestly only when checked is "NOT
equivalent: timed round N differs from the baseline". Held-out variants, the
log's clock, who wrote the candidate and the diff's flags are folded in here,
so each CandidateVerdict is made once, from all its parts.

The judge reads stored, typed results and the facts the plan gathered; it
never runs anything and never calls back into the driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import constants as C
from harness import intake, layout
from harness.execution import Execution, Results
from harness.judge import equivalence, integrity, speed, stats, verdicts
from harness.judge.samples import round_samples
from harness.results import (ArtifactRow, CandidateVerdict, CompareDocument, CompareFacts, DiffFacts, MetricComparison,
                             NoiseFloor, PhaseVerdict, ResultError, RunResult, Settings, TaskInfo, TextComparison,
                             Tolerance)
from harness.tasks import Task, TaskConfig, command_template, load_task, parse_override, split_contender


# --------------------------------------------------------------------------- #
# What the judge works on
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Case:
    """The compare's facts, its task, and the folder its runs' paths are relative to (a held-out variant's
    own folder for its runs)."""

    facts: CompareFacts
    task: Task
    root: Path


def load_case(root: Path) -> Case:
    """A stored compare's facts and its task file, which must still be the one it ran with."""
    facts = CompareFacts.load(root / C.FACTS_FILE)
    task = load_task(facts.task_path)
    if task.toml_sha256 != facts.task_sha256:
        raise ResultError(f"{facts.task_path} changed since the compare ran (sha256 {task.toml_sha256[:12]}, "
                          f"recorded {facts.task_sha256[:12]})")
    return Case(facts, task, root)


def stored_execution(case: Case) -> Execution:
    """The runs as stored (result.json of every repetition, in round order) and what the driver recorded."""
    facts = case.facts
    results = {label: [RunResult.load(case.root / rep / C.RESULT_FILE) for rep in reps]
               for label, reps in facts.runs.items()}
    return Execution(results, dict(facts.notes), facts.rounds_run, list(facts.variants), dict(facts.findings),
                     list(facts.variant_warnings))


def judge_folder(root: Path) -> CompareDocument:
    """A compare's document from its run folder alone: judge.json and the runs' results."""
    case = load_case(root)
    return analyse(case, stored_execution(case))


# --------------------------------------------------------------------------- #
# Equivalence of one run against the baseline's
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Judgement:
    """One run against the baseline's run of the same configuration."""

    losses: MetricComparison
    images: list[ArtifactRow]
    texts: list[TextComparison]
    equivalent: bool
    diagnosis: str

    def fields(self) -> dict[str, object]:
        return {"losses": self.losses, "images": self.images, "texts": self.texts, "losses_match": self.losses.match,
                "images_identical": all(r.identical for r in self.images), "equivalent": self.equivalent,
                "diagnosis": self.diagnosis}


def judge_run(case: Case, name: str, base: RunResult, run: RunResult, tol: Tolerance) -> Judgement:
    """Metrics, artifacts and printed text of `run` against the baseline's `base` (within `tol`)."""
    task = case.task
    heat = case.root / layout.heatmap_dir(name if run.rep == 0 else f"{name}-round-{run.rep}")
    metrics = equivalence.compare_metrics(base.metrics, run.metrics, task.step_key, tol.metric,
                                          expected=bool(task.metric_patterns))
    rows = equivalence.compare_artifacts(base, run, task, case.root, heat, tol.pixels)
    texts = equivalence.compare_texts(base, run)
    agree = metrics.match and equivalence.artifacts_agree(rows, task) and all(t.identical for t in texts)
    return Judgement(metrics, rows, texts, run.ok and (agree or not task.judging.outputs),
                     equivalence.diagnose(run, metrics, rows, task, case.facts.timeout_s, texts))


def consistency(case: Case, label: str, runs: list[RunResult]) -> list[dict[str, object]]:
    """Every repetition against the first one made under the same run key (how far a branch strays from
    itself; runs under different keys may legitimately differ in the last float bits)."""
    heat = case.root / layout.heatmap_dir(label + "-self")
    groups: dict[str, list[RunResult]] = {}
    for r in runs:
        if r.ok:
            groups.setdefault(r.key, []).append(r)
    return [equivalence.self_difference(same[0], other, case.task, case.root, heat)
            for same in groups.values() for other in same[1:]]


def baseline_tolerance(case: Case, results: Results) -> tuple[Tolerance, list[str]]:
    """Equivalence is only decidable if the baseline reproduces itself; else fall back to its self-difference."""
    base = case.facts.baseline
    tol = equivalence.tolerance_from(consistency(case, base, results[base] + results.get(base + C.SELF_SUFFIX, [])))
    if tol.exact:
        return tol, []
    return tol, [f"the baseline does not reproduce itself (metrics differ by up to {tol.metric:.3g}, images by up "
                 f"to {tol.pixels} pixels): exact equivalence is undecidable; candidates judged within that tolerance"]


def round_name(rep: int) -> str:
    return "the equivalence round" if rep == 0 else f"timed round {rep}"


def standing(case: Case, name: str, results: Results, tol: Tolerance) -> tuple[RunResult, Judgement]:
    """The run whose judgement stands for the candidate, and that judgement: a failed run first (that is what
    to explain), else the first run that differs from the baseline's, else its first run."""
    base, runs = results[case.facts.baseline][0], results[name]
    failed = next((r for r in runs if not r.ok), None)
    if failed is not None:
        return failed, judge_run(case, name, base, failed, tol)
    first = judge_run(case, name, base, runs[0], tol)
    if not first.equivalent:
        return runs[0], first
    for run in runs[1:]:
        found = judge_run(case, name, base, run, tol)
        if not found.equivalent:
            why = f"{round_name(run.rep)} differs from the baseline ({found.diagnosis})"
            return run, Judgement(found.losses, found.images, found.texts, False, why)
    return runs[0], first


def run_differs(case: Case, results: Results, name: str, run: RunResult) -> str | None:
    """The driver's question after each timed run: how it differs from the baseline's run (None: it does not)."""
    tol, _ = baseline_tolerance(case, results)
    found = judge_run(case, name, results[case.facts.baseline][0], run, tol)
    return None if found.equivalent else found.diagnosis


def not_timed_reason(case: Case, results: Results, name: str) -> str | None:
    """Why the equivalence round already settles a candidate's verdict (None: it goes on to timing)."""
    cand = results[name][0]
    if not cand.ok:
        return cand.status
    return None if run_differs(case, results, name, cand) is None else "NOT equivalent"


# --------------------------------------------------------------------------- #
# Speed
# --------------------------------------------------------------------------- #


def timing_runs(results: Results, label: str) -> list[RunResult]:
    """The runs of the timing rounds (round 0, the equivalence round, is not paired)."""
    return [r for r in results.get(label, []) if r.rep >= 1]


def measured_runs(results: Results, label: str) -> list[RunResult]:
    """The runs whose times a summary may show: the timing rounds' when there are any (round 0 may have
    shared the machine), else the single run of --quick or of an untimed candidate, unless it forked warm
    (rounds.warm_start: a warm process's times are not the script's own)."""
    return timing_runs(results, label) or [r for r in results.get(label, []) if r.start == "cold"]


def look(case: Case, final: bool) -> speed.Look:
    """The level of every look of the sequential design (see stats.per_look_alpha)."""
    return speed.Look(stats.per_look_alpha(C.ALPHA, stats.MIN_ROUNDS, case.facts.rounds), final, case.facts.rounds)


def floors(case: Case, results: Results, phases: tuple[str, ...] | None = None) -> dict[str, float]:
    base = case.facts.baseline
    return speed.noise_floors(timing_runs(results, base), timing_runs(results, base + C.SELF_SUFFIX),
                              phases or speed.judged_phases(case.task.judging))


def timing_state(case: Case, results: Results, name: str, final: bool) -> str:
    """This candidate's speed question at this look: "settled", "futile" (not answerable by the cap) or "open"."""
    judging = case.task.judging
    base, cand = timing_runs(results, case.facts.baseline), timing_runs(results, name)
    needed = (judging.primary, *judging.guard)
    judged = speed.judge(base, cand, case.facts.threshold, floors(case, results), needed, look(case, final))
    if speed.settled(judged, judging):
        return "settled"
    return "futile" if speed.futile(judged, judging) else "open"


def _speed_part(case: Case, name: str, results: Results, floor: dict[str, float],
                equivalent: bool, note: str) -> tuple[dict[str, PhaseVerdict], bool, list[str]]:
    """(per-phase speed verdicts, were they judged over timing rounds, speed warnings)."""
    judging, phases = case.task.judging, speed.judged_phases(case.task.judging)
    base, cand = timing_runs(results, case.facts.baseline), timing_runs(results, name)
    if case.facts.quick or not cand or not equivalent:
        reason = "--quick: one run per branch" if case.facts.quick else note or "not timed"
        return speed.not_judged(results[case.facts.baseline], results[name], phases, reason), False, []
    judged = speed.judge(base, cand, case.facts.threshold, floor, phases, look(case, final=True))
    trade = speed.hidden_trade_off(judged, judging)
    warnings = ([trade] if trade else []) + speed.instability_warnings(
        name, cand, case.facts.threshold, speed.time_phases(judging), case.facts.rounds)
    return judged, True, warnings


def contradiction(case: Case, name: str, results: Results, judged: dict[str, PhaseVerdict]) -> str | None:
    """Why the log's phases cannot be believed although its clock agrees: the primary phase is faster while
    the wall clock is significantly slower, or the time outside the log's lines (before the first, after the
    last) grew significantly — work done silently, its lines printed in a burst or its images drawn after them."""
    primary = case.task.judging.primary
    if primary in C.HARNESS_PHASES or judged[primary].call != "better":
        return None
    if judged["wall"].call == "worse":
        return (f"{primary} {judged[primary].speedup:.2f}× faster, but the wall clock {judged['wall'].speedup:.2f}×: "
                "slower (the log's phases do not account for the work)")
    base, cand = timing_runs(results, case.facts.baseline), timing_runs(results, name)
    outside = speed.judge(base, cand, case.facts.threshold, floors(case, results, ("outside",)), ("outside",),
                          look(case, final=True))["outside"]
    if outside.call != "worse":
        return None
    times = speed.summaries(cand, ("outside",))["outside"], speed.summaries(base, ("outside",))["outside"]
    seconds = " against ".join(f"{s.median:.2f} s" for s in times if s is not None)
    return (f"{primary} {judged[primary].speedup:.2f}× faster, but the time before its first log line and after its "
            f"last grew ({seconds}): work done outside the lines the phases are timed by")


# --------------------------------------------------------------------------- #
# One candidate, once
# --------------------------------------------------------------------------- #


def judge_candidate(case: Case, name: str, execution: Execution, tol: Tolerance,
                    floor: dict[str, float]) -> CandidateVerdict:
    """Everything the report and the JSON say about one candidate, from all its runs."""
    results, judging = execution.results, case.task.judging
    cand = results[name]
    shown, judgement = standing(case, name, results, tol)
    status = verdicts.worst_status(cand)
    fields = judgement.fields()
    if fields["equivalent"] and name in execution.findings:
        fields.update(equivalent=False, diagnosis=execution.findings[name])
    note = execution.notes.get(name, "")
    judged, timed, warnings = _speed_part(case, name, results, floor, bool(fields["equivalent"]), note)
    untrusted = (integrity.clock_problem(cand) or contradiction(case, name, results, judged)) \
        if fields["equivalent"] else None
    if untrusted:
        fields["diagnosis"] = f"{fields['diagnosis']}; {untrusted}"
    primary = judged[judging.primary] if timed else None
    call = verdicts.Call(status, verdicts.outcome_of(status, bool(fields["equivalent"])), primary,
                         verdicts.slower_guard(primary, judged, judging), untrusted is None, case.facts.quick,
                         judging.outputs)
    warnings += speed.busy_warnings(name, timing_runs(results, name))  # round 0 may share the machine (--jobs)
    timing = speed.summaries(measured_runs(results, name), speed.judged_phases(judging))
    rss = timing.get(C.MEMORY_PHASE)
    diff = case.facts.diffs.get(name, DiffFacts())
    return CandidateVerdict(
        name=name, sha=case.facts.shas[name], status=status, **fields, outcome=call.outcome,
        speed_call=primary.call if primary else None, guard_slower=call.guard_slower, timing_trusted=call.trusted,
        verdict=verdicts.words(call, judging), timing=timing,
        speed=judged, speedup=speed.speedups(judged, speed.time_phases(judging)),
        peak_rss_mb=rss.median if rss else None, stderr_tail=shown.stderr_tail, warnings=warnings,
        timing_rounds=len(timing_runs(results, name)), timing_note=note, params=_overrides(case, name),
        final=final_point(cand[0]), diffstat=diff.diffstat, flags=diff.flags, **_authorship(case, name))


def _authorship(case: Case, name: str) -> dict[str, object]:
    """Who wrote the candidate, when it came in as an attempt (--predictions, --patch)."""
    attempt = next((a for a in case.facts.attempts if a.name == name), None)
    if attempt is None:
        return {}
    return {"agent": attempt.agent, "attempt": attempt.attempt, "reference": attempt.reference}


def final_point(result: RunResult) -> dict[str, float]:
    """The last logged step of a run (what a race's table shows: steps, counters, the final loss)."""
    return dict(result.metrics[-1]) if result.metrics else {}


def _overrides(case: Case, name: str) -> dict[str, str]:
    """The parameters a REF:key=value contender names for itself."""
    return dict(parse_override(text, case.task) for text in split_contender(name)[1])


def candidates(case: Case, execution: Execution, tol: Tolerance, floor: dict[str, float]) -> list[CandidateVerdict]:
    """Every candidate in the order named, attempts after the branches; an attempt that never ran (its patch
    does not apply) gets its verdict where it was handed in."""
    ran = {name: judge_candidate(case, name, execution, tol, floor) for name in case.facts.candidates}
    attempted = {a.name for a in case.facts.attempts}
    listed = [ran[name] for name in case.facts.candidates if name not in attempted]
    for attempt in case.facts.attempts:
        rejected = case.facts.rejected.get(attempt.name)
        listed.append(intake.rejected_verdict(attempt, rejected) if rejected else ran[attempt.name])
    return listed


# --------------------------------------------------------------------------- #
# The document
# --------------------------------------------------------------------------- #


def noise_floor(case: Case, results: Results, floor: dict[str, float]) -> NoiseFloor | None:
    """The base-vs-base comparison: what 'no difference' measures as on this machine."""
    twin = timing_runs(results, case.facts.baseline + C.SELF_SUFFIX)
    if not twin:
        return None
    judging = case.task.judging
    phases = speed.judged_phases(judging)
    judged = speed.judge(timing_runs(results, case.facts.baseline), twin, case.facts.threshold,
                         {p: 0.0 for p in phases}, phases, look(case, final=True))
    return NoiseFloor(floor=floor[judging.primary], floors=floor, speed=judged,
                      speedup=speed.speedups(judged, speed.time_phases(judging)), timing=speed.summaries(twin, phases))


def task_info(case: Case) -> TaskInfo:
    judging = case.task.judging
    config = TaskConfig(case.task, case.facts.preset, case.facts.params)
    return TaskInfo(name=case.task.name, preset=config.preset, params=config.params,
                    command=command_template(config), toml_sha256=case.task.toml_sha256,
                    phases=list(judging.phases), primary_phase=judging.primary, step_key=case.task.step_key,
                    labels=dict(judging.labels))


def settings(case: Case, rounds_run: int) -> Settings:
    o = case.facts
    return Settings(rounds=o.rounds, rounds_run=rounds_run, min_rounds=min(stats.MIN_ROUNDS, o.rounds),
                    alpha=C.ALPHA, alpha_look=look(case, True).alpha, quick=o.quick, threshold=o.threshold,
                    timeout_s=case.facts.timeout_s, threads=o.threads, device=case.facts.device, fail_on=o.fail_on)


def clock_warnings(case: Case, results: Results) -> list[str]:
    """Phases too short for the log's clock to time, on any branch (known after the equivalence round)."""
    runs = [r for label in case.facts.labels for r in results.get(label, [])]
    clock = speed.clock_of(runs)
    found = [(p, speed.unmeasurable([[v for v in speed.phase_samples(results.get(label, []), p) if v is not None]
                                     for label in case.facts.labels], clock)) for p in case.task.judging.phases]
    return [f"{p}: {text}; a larger preset would make it measurable" for p, text in found if text]


def start_note(case: Case, results: Results) -> str:
    """How the runs started, for the report: times are only ever read from cold runs."""
    runs = [r for label in case.facts.labels for r in results.get(label, [])]
    warm = sum(r.start == "warm" for r in runs)
    if not warm:
        return "cold: every run in a fresh interpreter"
    return (f"{warm} of {len(runs)} runs (correctness only, their times unused) forked from a process that had "
            f"imported {', '.join(case.task.preload)}")


def document_warnings(case: Case, execution: Execution, tol_warnings: list[str]) -> list[str]:
    """The compare's own warnings: the baseline's reproducibility, clock and noise, the variants skipped."""
    results, base = execution.results, case.facts.baseline
    warnings = [*tol_warnings, *clock_warnings(case, results)]
    if not case.facts.quick:
        warnings += speed.instability_warnings(base, timing_runs(results, base), case.facts.threshold,
                                               speed.time_phases(case.task.judging), case.facts.rounds)
        warnings += speed.busy_warnings(base, timing_runs(results, base))
    if case.task.artifact_globs and results[base] and not results[base][0].artifacts and results[base][0].ok:
        warnings.append(f"artifacts.glob {', '.join(case.task.artifact_globs)} matched no file the baseline wrote "
                        f"(in its {case.task.artifact_root}): no artifact was compared")
    if (problem := integrity.clock_problem(results.get(base, []))) is not None:
        warnings.append(f"baseline: {problem}; phase comparisons are not meaningful")
    return warnings + execution.variant_warnings


def analyse(case: Case, execution: Execution) -> CompareDocument:
    """The full comparison document (compare.json, --json, and the report's input)."""
    results, base = execution.results, case.facts.baseline
    tol, tol_warnings = baseline_tolerance(case, results)
    floor = floors(case, results)
    return CompareDocument(
        created=case.facts.created, harness=case.facts.harness, baseline=base,
        baseline_sha=case.facts.shas[base], source=case.facts.source, task=task_info(case),
        settings=settings(case, execution.rounds_run),
        environment={**case.facts.environment, "start": start_note(case, results)},
        warnings=document_warnings(case, execution, tol_warnings), tolerance=tol,
        baseline_timing=speed.summaries(measured_runs(results, base), speed.judged_phases(case.task.judging)),
        baseline_status=verdicts.worst_status(results[base]), baseline_outcome=results[base][0].outcome,
        baseline_final=final_point(results[base][0]), noise_floor=noise_floor(case, results, floor),
        samples=round_samples(results, case.facts.labels, speed.judged_phases(case.task.judging)),
        candidates=candidates(case, execution, tol, floor), variants=execution.variants)
