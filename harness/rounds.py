"""Stage 2's driver: interleaved rounds of runs through an executor, resumable.

Runs are interleaved round by round in a shuffled order (from a fixed seed),
so machine drift hits every branch alike; the baseline runs twice per round
so the report can show what "no difference" looks like on this machine (the
noise floor). An existing result.json means that run is done.
"""

from __future__ import annotations

import logging
import time

from harness import cache, collect, layout
from harness import constants as C
from harness.errors import InfraError
from harness.executors import Executor, RunSpec
from harness.judge import stats
from harness.jsonio import write_json
from harness.plan import Plan, key_digest
from harness.results import ResultError, RunResult
from harness.tasks import render_command

log = logging.getLogger(__name__)
Results = dict[str, list[RunResult]]


def run_spec(plan: Plan, label: str, rep: int) -> RunSpec:
    """The argv, folder and environment of one repetition of one branch."""
    co = plan.checkout_of(label)
    run_dir = plan.run_root / layout.rep_dir(label, rep)
    values = {**plan.config.params, **plan.inputs, "python": plan.opts.python,
              "output_dir": str(run_dir / C.OUTPUT_DIR), "device": plan.device}
    key = plan.run_key(label)
    meta = {"round": rep, "task": plan.task.name, "run_key": key, "environment": plan.environment}
    return RunSpec(label, co.name, co.sha, rep, co.path, render_command(plan.task, values), run_dir, plan.env,
                   plan.opts.timeout_s, plan.device, key_digest(key), meta)


def load_done(spec: RunSpec) -> RunResult | None:
    """An existing, readable result with this very run key means the run is done (resume)."""
    path = spec.run_dir / C.RESULT_FILE
    if not path.exists():
        return None
    try:
        result = RunResult.load(path)
    except ResultError:
        return None
    if result.key != spec.key:
        log.info("%s: earlier result was made under another run key; running again", spec.run_dir.name)
        return None
    return result


def fresh_run_dir(spec: RunSpec) -> None:
    """Clear what an interrupted earlier attempt left (no result means not done)."""
    for name in (C.STDOUT_FILE, C.STDERR_FILE, C.META_FILE):
        (spec.run_dir / name).unlink(missing_ok=True)
    output = spec.run_dir / C.OUTPUT_DIR
    if output.exists():
        for child in sorted(output.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() and not child.is_symlink() else child.unlink()
    output.mkdir(parents=True, exist_ok=True)


def write_meta(spec: RunSpec) -> None:
    meta = {"label": spec.label, "name": spec.name, "sha": spec.sha, "rep": spec.rep, "command": spec.argv,
            "env": spec.env, "timeout_s": spec.timeout_s, "device": spec.device, **spec.meta}
    write_json(spec.run_dir / C.META_FILE, meta)


def run_one(plan: Plan, executor: Executor, spec: RunSpec, reuse: bool = False) -> tuple[RunResult, bool]:
    """Run (or resume) one repetition; returns (result, was_resumed).

    `reuse`: outputs stored by an earlier compare under the same run key stand
    in for the run (equivalence only: timing rounds must pass False).
    """
    done = load_done(spec)
    if done is not None:
        return done, True
    fresh_run_dir(spec)
    write_meta(spec)
    result = cache.lookup(plan, spec) if reuse else None
    if result is None:
        result = collect.collect(spec, plan.task, plan.config.params, executor.run(spec))
        cache.record(plan, spec, result)
    result.save(spec.run_dir / C.RESULT_FILE)
    return result, False


def execute_plan(plan: Plan, executor: Executor) -> Results:
    """All rounds, interleaved; a baseline that cannot run at all stops everything (infra)."""
    schedule = stats.interleaved_schedule(plan.labels, plan.opts.rounds, C.SCHEDULE_SEED)
    results: Results = {label: [] for label in plan.labels}
    progress = Progress(sum(len(r) for r in schedule), plan.opts.rounds)
    for round_no, order in enumerate(schedule):
        for label in order:
            result, resumed = run_one(plan, executor, run_spec(plan, label, round_no), reuse=plan.opts.quick)
            results[label].append(result)
            progress.step(label, round_no, result, resumed)
            _stop_if_baseline_broken(plan, label, result)
    return results


class Progress:
    """One log line per run: how far, how long, what happened."""

    def __init__(self, total: int, rounds: int) -> None:
        self.total, self.rounds, self.done, self.started = total, rounds, 0, time.perf_counter()

    def step(self, label: str, round_no: int, result: RunResult, resumed: bool) -> None:
        self.done += 1
        how = "resumed" if resumed else f"{result.wall_s:.2f}s"
        log.info("[%d/%d] round %d/%d %-20s %-8s %s (elapsed %.1fs)", self.done, self.total, round_no + 1,
                 self.rounds, label, result.status, how, time.perf_counter() - self.started)


def _stop_if_baseline_broken(plan: Plan, label: str, result: RunResult) -> None:
    if label == plan.opts.baseline and not result.ok:
        tail = result.stderr_tail.strip().splitlines()
        raise InfraError(f"the baseline run {result.status} ({tail[-1] if tail else 'no stderr'}); "
                         f"nothing to compare against — see {plan.run_root}")
