"""All judgements of one compare, assembled into the typed CompareDocument.

Equivalence is judged on each candidate's first repetition against the
baseline's; every repetition is also checked against its own first run
(self-consistency); speed is judged over the paired rounds.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from harness import checkout, layout
from harness import constants as C
from harness.judge import equivalence, flags, speed, stats, verdicts
from harness.judge.samples import round_samples
from harness.plan import Plan

if TYPE_CHECKING:
    from harness.rounds import Execution
from harness.results import (CandidateVerdict, CompareDocument, HarnessInfo, NoiseFloor, RunResult, Settings,
                             TaskInfo, Tolerance)
from harness.tasks import command_template, parse_override, split_contender

Results = dict[str, list[RunResult]]


def consistency(plan: Plan, label: str, runs: list[RunResult]) -> list[dict[str, object]]:
    """Every repetition against the first one made under the same run key.

    Runs of one branch under different keys (the equivalence round fanned out
    with fewer threads by --jobs, say) may legitimately differ in the last
    float bits, so they are never held against each other.
    """
    heat = plan.run_root / layout.heatmap_dir(label + "-self")
    groups: dict[str, list[RunResult]] = {}
    for r in runs:
        if r.ok:
            groups.setdefault(r.key, []).append(r)
    return [equivalence.self_difference(same[0], other, plan.task, plan.run_root, heat)
            for same in groups.values() for other in same[1:]]


def baseline_tolerance(plan: Plan, results: Results) -> tuple[Tolerance, list[str]]:
    """Equivalence is only decidable if the baseline reproduces itself; else fall back to its self-difference."""
    base = plan.opts.baseline
    tol = equivalence.tolerance_from(consistency(plan, base, results[base] + results.get(base + C.SELF_SUFFIX, [])))
    if tol.exact:
        return tol, []
    return tol, [f"the baseline does not reproduce itself (metrics differ by up to {tol.metric:.3g}, images by up "
                 f"to {tol.pixels} pixels): exact equivalence is undecidable; candidates judged within that tolerance"]


def _first_shown(runs: list[RunResult]) -> RunResult:
    """A failed run if there is one (that is what to explain), else the first."""
    return next((r for r in runs if not r.ok), runs[0])


def _equivalence_fields(plan: Plan, name: str, base: RunResult, cand: RunResult, tol: Tolerance) -> dict:
    heat = plan.run_root / layout.heatmap_dir(name)
    metrics = equivalence.compare_metrics(base.metrics, cand.metrics, plan.task.step_key, tol.metric)
    rows = equivalence.compare_artifacts(base, cand, plan.task, plan.run_root, heat, tol.pixels)
    same_images = equivalence.artifacts_agree(rows, plan.task)
    outputs_agree = metrics.match and same_images or not plan.task.judging.outputs
    return {"losses": metrics, "images": rows, "losses_match": metrics.match, "images_identical": same_images,
            "equivalent": cand.ok and outputs_agree,
            "diagnosis": equivalence.diagnose(cand, metrics, rows, plan.task, plan.opts.timeout_s)}


def timing_runs(results: Results, label: str) -> list[RunResult]:
    """The runs of the timing rounds (round 0, the equivalence round, is not paired)."""
    return [r for r in results.get(label, []) if r.rep >= 1]


def measured_runs(results: Results, label: str) -> list[RunResult]:
    """The runs whose times a summary may show: the timing rounds' when there are any (round 0 may have
    shared the machine), else the single run of --quick or of an untimed candidate, unless it forked warm
    (rounds.warm_start: a warm process's times are not the script's own)."""
    return timing_runs(results, label) or [r for r in results.get(label, []) if r.start == "cold"]


def look(plan: Plan, final: bool) -> speed.Look:
    """The level of every look of the sequential design (see stats.per_look_alpha)."""
    return speed.Look(stats.per_look_alpha(C.ALPHA, stats.MIN_ROUNDS, plan.opts.rounds), final, plan.opts.rounds)


def floors(plan: Plan, results: Results) -> dict[str, float]:
    base = plan.opts.baseline
    return speed.noise_floors(timing_runs(results, base), timing_runs(results, base + C.SELF_SUFFIX),
                              speed.judged_phases(plan.task.judging))


def not_timed_reason(plan: Plan, results: Results, name: str) -> str | None:
    """Why the equivalence round already settles a candidate's verdict (None: it goes on to timing)."""
    cand = results[name][0]
    if not cand.ok:
        return cand.status
    tol, _ = baseline_tolerance(plan, results)
    fields = _equivalence_fields(plan, name, results[plan.opts.baseline][0], cand, tol)
    return None if fields["equivalent"] else verdicts.NOT_EQUIVALENT


def timing_state(plan: Plan, results: Results, name: str, final: bool) -> str:
    """This candidate's speed question at this look: "settled", "futile" (not answerable by the cap) or "open"."""
    judging = plan.task.judging
    base, cand = timing_runs(results, plan.opts.baseline), timing_runs(results, name)
    needed = (judging.primary, *judging.guard)
    judged = speed.judge(base, cand, plan.opts.threshold, floors(plan, results), needed, look(plan, final))
    if speed.settled(judged, judging):
        return "settled"
    return "futile" if speed.futile(judged, judging) else "open"


def _speed_part(plan: Plan, name: str, results: Results, floor: dict[str, float], status: str,
                equivalent: bool, note: str) -> tuple[dict, str, list[str]]:
    """(per-phase speed verdicts, the verdict words, speed warnings); no timing rounds, no speed verdict."""
    judging, phases = plan.task.judging, speed.judged_phases(plan.task.judging)
    base, cand = timing_runs(results, plan.opts.baseline), timing_runs(results, name)
    if plan.opts.quick or not cand:
        judged = speed.not_judged(results[plan.opts.baseline], results[name], phases,
                                  "--quick: one run per branch" if plan.opts.quick else note)
        return judged, verdicts.verdict_text(status, equivalent, plan.opts.quick, None, judging.outputs), []
    judged = speed.judge(base, cand, plan.opts.threshold, floor, phases, look(plan, final=True))
    verdict = verdicts.verdict_text(status, equivalent, False, judged[judging.primary].verdict, judging.outputs)
    trade = speed.hidden_trade_off(judged, judging)
    warnings = ([trade] if trade else []) + speed.instability_warnings(
        name, cand, plan.opts.threshold, speed.time_phases(judging), plan.opts.rounds)
    return judged, verdicts.guard_verdict(verdict, judged, judging), warnings


def judge_candidate(plan: Plan, name: str, results: Results, tol: Tolerance, floor: dict[str, float],
                    note: str = "") -> CandidateVerdict:
    """Everything the report and the JSON say about one candidate."""
    judging, base, cand = plan.task.judging, results[plan.opts.baseline], results[name]
    shown, status = _first_shown(cand), verdicts.worst_status(cand)
    fields = _equivalence_fields(plan, name, base[0], shown, tol)
    drift = [d for d in consistency(plan, name, cand) if not d["consistent"]]
    if drift and fields["equivalent"] and tol.exact:
        fields.update(equivalent=False, diagnosis=equivalence.NONDETERMINISTIC_DIAGNOSIS)
    judged, verdict, warnings = _speed_part(plan, name, results, floor, status, fields["equivalent"], note)
    warnings += speed.busy_warnings(name, timing_runs(results, name))  # round 0 may share the machine (--jobs)
    timing = speed.summaries(measured_runs(results, name), speed.judged_phases(judging))
    rss = timing.get(C.MEMORY_PHASE)
    return CandidateVerdict(
        name=name, sha=plan.checkouts[name].sha, status=status, **fields, verdict=verdict, timing=timing,
        speed=judged, speedup=speed.speedups(judged, speed.time_phases(judging)),
        peak_rss_mb=rss.median if rss else None, stderr_tail=shown.stderr_tail, warnings=warnings,
        timing_rounds=len(timing_runs(results, name)), timing_note=note, params=_overrides(plan, name),
        final=final_point(cand[0]), **_diff_fields(plan, name))


def final_point(result: RunResult) -> dict[str, float]:
    """The last logged step of a run (what a race's table shows: steps, counters, the final loss)."""
    return dict(result.metrics[-1]) if result.metrics else {}


def _overrides(plan: Plan, name: str) -> dict[str, str]:
    """The parameters a REF:key=value contender names for itself."""
    return dict(parse_override(text, plan.task) for text in split_contender(name)[1])


def _diff_fields(plan: Plan, name: str) -> dict:
    base_sha, sha = plan.checkouts[plan.opts.baseline].sha, plan.checkouts[name].sha
    return {"diffstat": checkout.diffstat(plan.source, base_sha, sha),
            "flags": flags.scan_flags(checkout.diff_text(plan.source, base_sha, sha), plan.task.flag_patterns)}


def noise_floor(plan: Plan, results: Results, floor: dict[str, float]) -> NoiseFloor | None:
    """The base-vs-base comparison: what 'no difference' measures as on this machine."""
    twin = timing_runs(results, plan.opts.baseline + C.SELF_SUFFIX)
    if not twin:
        return None
    judging = plan.task.judging
    phases = speed.judged_phases(judging)
    judged = speed.judge(timing_runs(results, plan.opts.baseline), twin, plan.opts.threshold,
                         {p: 0.0 for p in phases}, phases, look(plan, final=True))
    return NoiseFloor(floor=floor[judging.primary], floors=floor, speed=judged,
                      speedup=speed.speedups(judged, speed.time_phases(judging)), timing=speed.summaries(twin, phases))


def task_info(plan: Plan) -> TaskInfo:
    judging = plan.task.judging
    return TaskInfo(name=plan.task.name, preset=plan.config.preset, params=plan.config.params,
                    command=command_template(plan.config), toml_sha256=plan.task.toml_sha256,
                    phases=list(judging.phases), primary_phase=judging.primary, step_key=plan.task.step_key)


def settings(plan: Plan, rounds_run: int) -> Settings:
    o = plan.opts
    return Settings(rounds=o.rounds, rounds_run=rounds_run, min_rounds=min(stats.MIN_ROUNDS, o.rounds),
                    alpha=C.ALPHA, alpha_look=look(plan, True).alpha, quick=o.quick, threshold=o.threshold,
                    timeout_s=o.timeout_s, threads=o.threads, device=plan.device, fail_on=o.fail_on)


def clock_warnings(plan: Plan, results: Results) -> list[str]:
    """Phases too short for the log's clock to time, on any branch (known after the equivalence round)."""
    runs = [r for label in plan.labels for r in results.get(label, [])]
    clock = speed.clock_of(runs)
    found = [(p, speed.unmeasurable([[v for v in speed.phase_samples(results.get(label, []), p) if v is not None]
                                     for label in plan.labels], clock)) for p in plan.task.judging.phases]
    return [f"{p}: {text}; a larger preset would make it measurable" for p, text in found if text]


def start_note(plan: Plan, results: Results) -> str:
    """How the runs started, for the report: times are only ever read from cold runs."""
    runs = [r for label in plan.labels for r in results.get(label, [])]
    warm = sum(r.start == "warm" for r in runs)
    if not warm:
        return "cold: every run in a fresh interpreter"
    return (f"{warm} of {len(runs)} runs (correctness only, their times unused) forked from a process that had "
            f"imported {', '.join(plan.task.preload)}; every timed run in a fresh interpreter")


def analyse(plan: Plan, execution: Execution, harness: HarnessInfo, source: str) -> CompareDocument:
    """The full comparison document (compare.json, --json, and the report's input)."""
    results, base = execution.results, plan.opts.baseline
    tol, warnings = baseline_tolerance(plan, results)
    floor = floors(plan, results)
    candidates = [judge_candidate(plan, name, results, tol, floor, execution.notes.get(name, ""))
                  for name in plan.opts.candidates]
    warnings += clock_warnings(plan, results)
    if not plan.opts.quick:
        warnings += speed.instability_warnings(base, timing_runs(results, base), plan.opts.threshold,
                                               speed.time_phases(plan.task.judging), plan.opts.rounds)
        warnings += speed.busy_warnings(base, timing_runs(results, base))
    return CompareDocument(
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), harness=harness, baseline=base,
        baseline_sha=plan.checkouts[base].sha, source=source, task=task_info(plan),
        settings=settings(plan, execution.rounds_run),
        environment={**plan.environment, "start": start_note(plan, results)}, warnings=warnings, tolerance=tol,
        baseline_timing=speed.summaries(measured_runs(results, base), speed.judged_phases(plan.task.judging)),
        baseline_status=verdicts.worst_status(results[base]), baseline_outcome=results[base][0].outcome,
        baseline_final=final_point(results[base][0]),
        noise_floor=noise_floor(plan, results, floor),
        samples=round_samples(results, plan.labels, speed.judged_phases(plan.task.judging)),
        candidates=candidates)
