"""The `compare` command: checkout → run → collect → compare → report, in that order.

Runs are interleaved round by round in a shuffled order (from a fixed seed), so
machine drift hits every branch alike; the baseline runs twice per round so
the report can show what "no difference" looks like on this machine (the
noise floor), and no smaller difference is ever declared.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import checkout, collect, compare, stats, timing
from harness import constants as C
from harness.environment import fingerprint
from harness.errors import UsageProblem
from harness.inputs import locate_input, prepare_input
from harness.run import InfraError, Outcome, RunSpec, child_env, execute, fresh_run_dir, load_result, write_json, write_meta
from harness.task import Task, load_task, render_command, resolve_params, validate_size

log = logging.getLogger(__name__)
SELF_SUFFIX = ".self"


@dataclass
class CompareOptions:
    """Everything the CLI parsed; defaults are the documented ones."""

    baseline: str
    candidates: list[str]
    project: Path = field(default_factory=Path.cwd)
    work_dir: Path = Path(C.WORK_DIR)
    repo: str | None = None
    python: str = sys.executable
    task: str | None = None
    preset: str | None = None
    overrides: list[str] = field(default_factory=list)
    repeat: int = C.DEFAULT_REPEAT
    quick: bool = False
    threshold: float = C.DEFAULT_THRESHOLD
    timeout_s: float = C.DEFAULT_TIMEOUT_S
    threads: int = os.cpu_count() or 1
    fresh: bool = False

    @property
    def rounds(self) -> int:
        return 1 if self.quick else self.repeat


@dataclass
class Plan:
    """The resolved, runnable compare: what runs where, and where results go."""

    opts: CompareOptions
    task: Task
    params: dict[str, str]
    source: Path
    checkouts: dict[str, checkout.Checkout]
    run_root: Path
    input_path: Path
    env: dict[str, str]
    environment: dict[str, Any]

    @property
    def labels(self) -> list[str]:
        """Baseline, its self-comparison twin (when timing is judged), then candidates."""
        twin = [] if self.opts.quick else [self.opts.baseline + SELF_SUFFIX]
        return [self.opts.baseline, *twin, *self.opts.candidates]

    def checkout_of(self, label: str) -> checkout.Checkout:
        return self.checkouts[label.removesuffix(SELF_SUFFIX)]


def validate_names(baseline: str, candidates: list[str]) -> None:
    """Names become folder names and table rows: they must be distinct."""
    if not candidates:
        raise UsageProblem("name at least one candidate to compare against the baseline")
    if baseline in candidates:
        raise UsageProblem(f"{baseline!r} is the baseline; it is compared with itself automatically (the noise-floor row)")
    dupes = sorted({c for c in candidates if candidates.count(c) > 1})
    if dupes:
        raise UsageProblem(f"candidate {dupes[0]!r} is named twice")


def run_id(opts: CompareOptions, task: Task, params: dict[str, str], shas: dict[str, str], python: str) -> str:
    """Same configuration → same folder, so an interrupted compare resumes.

    The repeat count is not part of the key: the schedule's first N rounds are
    the same for any larger N, so raising --repeat later only runs the new rounds.
    """
    key = json.dumps({"task": task.source_text, "params": params, "shas": shas, "python": python,
                      "threads": opts.threads, "quick": opts.quick}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    stamp = "-" + datetime.now().strftime("%Y%m%d%H%M%S") if opts.fresh else ""
    return f"{opts.preset or task.default_preset or 'default'}-{digest}{stamp}"


def compile_trees(python: str, trees: list[Path], env: dict[str, str]) -> None:
    """Byte-compile every worktree once (one process), so no timed run pays for it."""
    subprocess.run([python, "-m", "compileall", "-q", *map(str, trees)], env=env, capture_output=True, timeout=600)


def plan_compare(opts: CompareOptions) -> Plan:
    """Everything that can fail on bad input fails here, before a single run."""
    validate_names(opts.baseline, opts.candidates)
    task = load_task(opts.task)
    params = resolve_params(task, opts.preset, opts.overrides)
    size = validate_size(params)
    work_dir = opts.work_dir.resolve()
    source = checkout.prepare_source(opts.project, work_dir, opts.repo)
    checkouts = checkout.checkout_all(source, [opts.baseline, *opts.candidates], work_dir)
    env = child_env(opts.threads)
    environment = fingerprint(opts.python, env, opts.threads)
    compile_trees(opts.python, [co.path for co in checkouts.values()], env)
    shas = {name: co.sha for name, co in checkouts.items()}
    root = work_dir / C.RUNS_DIR / run_id(opts, task, params, shas, opts.python)
    base_tree = checkouts[opts.baseline].path
    input_path = prepare_input(locate_input(params["input"], base_tree), size, root / C.INPUTS_DIR)
    return Plan(opts, task, params, source, checkouts, root, input_path, env, environment)


def label_dir(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", label)


def run_spec(plan: Plan, label: str, rep: int, round_no: int) -> RunSpec:
    co = plan.checkout_of(label)
    run_dir = plan.run_root / label_dir(label) / f"rep-{rep:03d}"
    extra = {"python": plan.opts.python, "output_dir": str(run_dir / C.OUTPUT_DIR), "input": str(plan.input_path)}
    argv = render_command(plan.task, plan.params, extra)
    meta = {"round": round_no, "task": plan.task.name, "params": plan.params, "environment": plan.environment}
    return RunSpec(label, co.name, co.sha, rep, co.path, argv, run_dir, plan.env, plan.opts.timeout_s, meta)


def run_one(plan: Plan, spec: RunSpec) -> tuple[dict[str, Any], bool]:
    """Run (or resume) one repetition; returns (result, was_resumed)."""
    done = load_result(spec.run_dir)
    if done is not None:
        return {**done, "run_dir": str(spec.run_dir)}, True
    fresh_run_dir(spec.run_dir)
    write_meta(spec)
    outcome: Outcome = execute(spec)
    result = collect.collect(spec.run_dir, plan.task, int(plan.params["save_interval"]), outcome)
    result.update(label=spec.label, name=spec.name, sha=spec.sha, rep=spec.rep)
    write_json(spec.run_dir / C.RESULT_FILE, result)
    return {**result, "run_dir": str(spec.run_dir)}, False


def execute_plan(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """All rounds, interleaved; a baseline that cannot run at all stops everything (infra)."""
    schedule = stats.interleaved_schedule(plan.labels, plan.opts.rounds, C.SCHEDULE_SEED)
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in plan.labels}
    total, done, started = sum(len(r) for r in schedule), 0, time.perf_counter()
    for round_no, order in enumerate(schedule):
        for label in order:
            result, resumed = run_one(plan, run_spec(plan, label, round_no, round_no))
            results[label].append(result)
            done += 1
            _progress(done, total, label, round_no, plan.opts.rounds, result, resumed, started)
            _stop_if_baseline_broken(plan, label, result)
    return results


def _progress(done: int, total: int, label: str, rnd: int, rounds: int, result: dict, resumed: bool, started: float) -> None:
    how = "resumed" if resumed else f"{result['wall_s']:.2f}s"
    log.info("[%d/%d] round %d/%d %-20s %-8s %s (elapsed %.1fs)", done, total, rnd + 1, rounds, label,
             result["status"], how, time.perf_counter() - started)


def _stop_if_baseline_broken(plan: Plan, label: str, result: dict[str, Any]) -> None:
    if label == plan.opts.baseline and result["status"] != C.STATUS_OK:
        tail = result.get("stderr_tail", "").strip().splitlines()
        raise InfraError(f"the baseline run {result['status']} ({tail[-1] if tail else 'no stderr'}); "
                         f"nothing to compare against — see {plan.run_root}")


@dataclass(frozen=True)
class Tolerance:
    """How much the baseline differs from itself; zero on a deterministic machine."""

    loss: float = 0.0
    pixels: int = 0

    @property
    def exact(self) -> bool:
        return self.loss == 0.0 and self.pixels == 0


def consistency(plan: Plan, label: str, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every repetition against the first one of the same branch."""
    ok = [r for r in results if r["status"] == C.STATUS_OK]
    heat = plan.run_root / C.HEATMAP_DIR / f"{label_dir(label)}-self"
    return [compare.self_difference(ok[0], other, plan.task, heat) for other in ok[1:]]


def baseline_tolerance(plan: Plan, results: dict[str, list[dict[str, Any]]]) -> tuple[Tolerance, list[str]]:
    """Pixel equivalence is only decidable if the baseline reproduces itself; else fall back to its self-difference."""
    base = plan.opts.baseline
    runs = results[base] + results.get(base + SELF_SUFFIX, [])
    diffs = consistency(plan, base, runs)
    if all(d["consistent"] for d in diffs):
        return Tolerance(), []
    tol = Tolerance(max(d["loss_diff"] for d in diffs), max(d["pixels"] for d in diffs))
    return tol, [f"the baseline does not reproduce itself (losses differ by up to {tol.loss:.3g}, images by up to "
                 f"{tol.pixels} pixels): exact equivalence is undecidable; candidates judged within that tolerance"]


def equivalence(plan: Plan, name: str, base: dict[str, Any], cand: dict[str, Any], tol: Tolerance) -> dict[str, Any]:
    """Loss and image comparison of the first repetitions, with the diagnosis."""
    heat = plan.run_root / C.HEATMAP_DIR / label_dir(name)
    losses = compare.compare_losses(base["losses"], cand["losses"], tol.loss)
    rows = compare.compare_artifacts(compare.artifact_map(base), compare.artifact_map(cand), plan.task, heat, tol.pixels)
    diagnosis = compare.diagnose(cand["status"], losses, rows, cand.get("stderr_tail", ""), plan.opts.timeout_s)
    same = cand["status"] == C.STATUS_OK and losses["match"] and compare.images_identical(rows)
    return {"losses": losses, "images": rows, "losses_match": losses["match"],
            "images_identical": compare.images_identical(rows), "equivalent": same, "diagnosis": diagnosis}


def worst_status(results: list[dict[str, Any]]) -> str:
    for status in (C.STATUS_TIMEOUT, C.STATUS_CRASHED):
        if any(r["status"] == status for r in results):
            return status
    return C.STATUS_OK


def verdict_text(status: str, equivalent: bool, quick: bool, period: str | None) -> str:
    if status != C.STATUS_OK:
        return status
    if not equivalent:
        return "NOT equivalent"
    if quick:
        return "equivalent, speed not judged (--quick)"
    return {"faster": "equivalent, faster", "slower": "equivalent, slower"}.get(period or "", "equivalent, no significant difference")


def training_verdict(verdict: str, speed: dict[str, dict[str, Any]]) -> str:
    """The seed's rule: no candidate may make a training epoch slower, unless the period still wins."""
    if verdict == "equivalent, no significant difference" and speed["train_epoch"]["verdict"] == "slower":
        return "equivalent, slower training"
    return verdict


def judge_candidate(plan: Plan, name: str, results: dict[str, list[dict[str, Any]]], tol: Tolerance, floors: dict[str, float]) -> dict[str, Any]:
    """Everything the report and the JSON say about one candidate."""
    base, cand = results[plan.opts.baseline], results[name]
    shown = next((r for r in cand if r["status"] != C.STATUS_OK), cand[0])  # a failed run, if any
    status = worst_status(cand)
    entry: dict[str, Any] = {"name": name, "sha": plan.checkouts[name].sha, "status": status, "warnings": [],
                             "stderr_tail": shown.get("stderr_tail", ""), "timing": timing.summaries(cand)}
    entry.update(equivalence(plan, name, base[0], shown, tol))
    drift = [d for d in consistency(plan, name, cand) if not d["consistent"]]
    if drift and entry["equivalent"] and tol.exact:
        entry.update(equivalent=False, diagnosis="candidate is non-deterministic: a repetition differs from its first run")
    speed = timing.not_judged(base, cand) if plan.opts.quick else timing.judge(base, cand, plan.opts.threshold, floors)
    entry["speed"] = speed
    entry["speedup"] = timing.single_run_speedups(base, cand) if plan.opts.quick else timing.speedups(speed)
    rss = entry["timing"]["peak_rss_mb"]
    entry["peak_rss_mb"] = rss["median"] if rss else None
    period = None if plan.opts.quick else speed["period"]["verdict"]
    entry["verdict"] = verdict_text(status, entry["equivalent"], plan.opts.quick, period)
    if not plan.opts.quick:
        entry["verdict"] = training_verdict(entry["verdict"], speed)
    trade = None if plan.opts.quick else timing.hidden_trade_off(speed)
    entry["warnings"] += ([trade] if trade else []) + timing.instability_warnings(name, cand, plan.opts.threshold)
    return entry


def noise_floor_row(plan: Plan, results: dict[str, list[dict[str, Any]]], floors: dict[str, float]) -> dict[str, Any] | None:
    """The base-vs-base comparison: what 'no difference' measures as on this machine."""
    twin = results.get(plan.opts.baseline + SELF_SUFFIX)
    if not twin:
        return None
    speed = timing.judge(results[plan.opts.baseline], twin, plan.opts.threshold, {p: 0.0 for p in C.PHASES})
    return {"name": "baseline vs baseline", "speed": speed, "speedup": timing.speedups(speed),
            "floor": floors["period"], "floors": floors, "timing": timing.summaries(twin)}


def analyse(plan: Plan, results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The full comparison document (compare.json, --json, and the report's input)."""
    base = plan.opts.baseline
    tol, warnings = baseline_tolerance(plan, results)
    floors = timing.noise_floors(results[base], results.get(base + SELF_SUFFIX, []))
    candidates = [judge_candidate(plan, name, results, tol, floors) for name in plan.opts.candidates]
    for entry in candidates:
        entry["diffstat"] = checkout.diffstat(plan.source, plan.checkouts[base].sha, entry["sha"])
        entry["flags"] = compare.scan_flags(checkout.diff_text(plan.source, plan.checkouts[base].sha, entry["sha"]))
    if not plan.opts.quick:
        warnings += timing.instability_warnings(base, results[base], plan.opts.threshold)
    return document(plan, results, candidates, warnings, tol, floors)


def document(plan: Plan, results: dict, candidates: list, warnings: list[str], tol: Tolerance, floors: dict) -> dict[str, Any]:
    opts = plan.opts
    return {
        "schema": "evalharness.compare/1",
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "baseline": opts.baseline, "baseline_sha": plan.checkouts[opts.baseline].sha,
        "repeat": opts.rounds, "quick": opts.quick, "threshold": opts.threshold,
        "task": {"name": plan.task.name, "file": str(plan.task.path), "preset": opts.preset or plan.task.default_preset,
                 "params": plan.params, "command": run_spec(plan, opts.baseline, 0, 0).argv},
        "run_dir": str(plan.run_root), "source": str(opts.repo or "built-in (baseline/ + candidates/)"),
        "environment": plan.environment, "warnings": warnings,
        "tolerance": {"loss": tol.loss, "pixels": tol.pixels},
        "baseline_timing": timing.summaries(results[opts.baseline]),
        "noise_floor": noise_floor_row(plan, results, floors),
        "candidates": candidates,
    }


def exit_code(data: dict[str, Any]) -> int:
    """0 only when every candidate is equivalent and none is slower."""
    bad = [c for c in data["candidates"] if not c["equivalent"] or "slower" in c["verdict"]]
    return 1 if bad else 0


def run_compare(opts: CompareOptions) -> dict[str, Any]:
    """Plan, execute, analyse; writes compare.json into the run folder and returns it."""
    plan = plan_compare(opts)
    log.info("run folder %s", plan.run_root)
    results = execute_plan(plan)
    data = analyse(plan, results)
    write_json(plan.run_root / C.COMPARE_JSON, data)
    return data
