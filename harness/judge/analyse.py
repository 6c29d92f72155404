"""All judgements of one compare, assembled into the typed CompareDocument.

Equivalence is judged on each candidate's first repetition against the
baseline's; every repetition is also checked against its own first run
(self-consistency); speed is judged over the paired rounds.
"""

from __future__ import annotations

from datetime import datetime, timezone

from harness import checkout, layout
from harness import constants as C
from harness.judge import equivalence, flags, speed, verdicts
from harness.plan import Plan
from harness.results import (CandidateVerdict, CompareDocument, HarnessInfo, NoiseFloor, RunResult, Settings,
                             TaskInfo, Tolerance)
from harness.tasks import command_template

Results = dict[str, list[RunResult]]


def consistency(plan: Plan, label: str, runs: list[RunResult]) -> list[dict[str, object]]:
    """Every repetition against the first one of the same branch."""
    ok = [r for r in runs if r.ok]
    heat = plan.run_root / layout.heatmap_dir(label + "-self")
    return [equivalence.self_difference(ok[0], other, plan.task, plan.run_root, heat) for other in ok[1:]]


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
    same_images = equivalence.images_identical(rows)
    return {"losses": metrics, "images": rows, "losses_match": metrics.match, "images_identical": same_images,
            "equivalent": cand.ok and metrics.match and same_images,
            "diagnosis": equivalence.diagnose(cand, metrics, rows, plan.task, plan.opts.timeout_s)}


def _speed_part(plan: Plan, name: str, results: Results, floors: dict[str, float], status: str,
                equivalent: bool) -> tuple[dict, str, list[str]]:
    """(per-phase speed verdicts, the verdict words, speed warnings); --quick judges no speed."""
    judging, base, cand = plan.task.judging, results[plan.opts.baseline], results[name]
    if plan.opts.quick:
        judged = speed.not_judged(base, cand, speed.judged_phases(judging))
        return judged, verdicts.verdict_text(status, equivalent, True, None), []
    judged = speed.judge(base, cand, plan.opts.threshold, floors, speed.judged_phases(judging))
    verdict = verdicts.verdict_text(status, equivalent, False, judged[judging.primary].verdict)
    trade = speed.hidden_trade_off(judged, judging)
    warnings = ([trade] if trade else []) + speed.instability_warnings(
        name, cand, plan.opts.threshold, speed.time_phases(judging))
    return judged, verdicts.guard_verdict(verdict, judged, judging), warnings


def judge_candidate(plan: Plan, name: str, results: Results, tol: Tolerance, floors: dict[str, float]) -> CandidateVerdict:
    """Everything the report and the JSON say about one candidate."""
    judging, base, cand = plan.task.judging, results[plan.opts.baseline], results[name]
    shown, status = _first_shown(cand), verdicts.worst_status(cand)
    fields = _equivalence_fields(plan, name, base[0], shown, tol)
    drift = [d for d in consistency(plan, name, cand) if not d["consistent"]]
    if drift and fields["equivalent"] and tol.exact:
        fields.update(equivalent=False, diagnosis=equivalence.NONDETERMINISTIC_DIAGNOSIS)
    judged, verdict, warnings = _speed_part(plan, name, results, floors, status, fields["equivalent"])
    timing = speed.summaries(cand, speed.judged_phases(judging))
    rss = timing.get(C.MEMORY_PHASE)
    return CandidateVerdict(
        name=name, sha=plan.checkouts[name].sha, status=status, **fields, verdict=verdict, timing=timing,
        speed=judged, speedup=speed.speedups(judged, speed.time_phases(judging)),
        peak_rss_mb=rss.median if rss else None, stderr_tail=shown.stderr_tail, warnings=warnings,
        **_diff_fields(plan, name))


def _diff_fields(plan: Plan, name: str) -> dict:
    base_sha, sha = plan.checkouts[plan.opts.baseline].sha, plan.checkouts[name].sha
    return {"diffstat": checkout.diffstat(plan.source, base_sha, sha),
            "flags": flags.scan_flags(checkout.diff_text(plan.source, base_sha, sha), plan.task.flag_patterns)}


def noise_floor(plan: Plan, results: Results, floors: dict[str, float]) -> NoiseFloor | None:
    """The base-vs-base comparison: what 'no difference' measures as on this machine."""
    twin = results.get(plan.opts.baseline + C.SELF_SUFFIX)
    if not twin:
        return None
    judging = plan.task.judging
    phases = speed.judged_phases(judging)
    judged = speed.judge(results[plan.opts.baseline], twin, plan.opts.threshold, {p: 0.0 for p in phases}, phases)
    return NoiseFloor(floor=floors[judging.primary], floors=floors, speed=judged,
                      speedup=speed.speedups(judged, speed.time_phases(judging)), timing=speed.summaries(twin, phases))


def task_info(plan: Plan) -> TaskInfo:
    judging = plan.task.judging
    return TaskInfo(name=plan.task.name, preset=plan.config.preset, params=plan.config.params,
                    command=command_template(plan.config), toml_sha256=plan.task.toml_sha256,
                    phases=list(judging.phases), primary_phase=judging.primary, step_key=plan.task.step_key)


def settings(plan: Plan) -> Settings:
    o = plan.opts
    return Settings(rounds=o.rounds, quick=o.quick, threshold=o.threshold, timeout_s=o.timeout_s, threads=o.threads,
                    device=plan.device, fail_on=o.fail_on)


def analyse(plan: Plan, results: Results, harness: HarnessInfo, source: str) -> CompareDocument:
    """The full comparison document (compare.json, --json, and the report's input)."""
    base = plan.opts.baseline
    tol, warnings = baseline_tolerance(plan, results)
    phases = speed.judged_phases(plan.task.judging)
    floors = speed.noise_floors(results[base], results.get(base + C.SELF_SUFFIX, []), phases)
    candidates = [judge_candidate(plan, name, results, tol, floors) for name in plan.opts.candidates]
    if not plan.opts.quick:
        warnings += speed.instability_warnings(base, results[base], plan.opts.threshold,
                                               speed.time_phases(plan.task.judging))
    return CompareDocument(
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), harness=harness, baseline=base,
        baseline_sha=plan.checkouts[base].sha, source=source, task=task_info(plan), settings=settings(plan),
        environment=plan.environment, warnings=warnings, tolerance=tol,
        baseline_timing=speed.summaries(results[base], phases), noise_floor=noise_floor(plan, results, floors),
        candidates=candidates)
