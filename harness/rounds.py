"""Stage 2's driver: interleaved rounds of runs through an executor, resumable.

Runs are interleaved round by round in a shuffled order (from a fixed seed),
so machine drift hits every branch alike; the baseline runs twice per round
so the report can show what "no difference" looks like on this machine (the
noise floor). An existing result.json means that run is done.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from harness import collect, layout
from harness import constants as C
from harness.errors import InfraError
from harness.executors import Executor, Outcome, RunSpec
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


def run_one(plan: Plan, executor: Executor, spec: RunSpec) -> tuple[RunResult, bool]:
    """Run (or resume) one repetition; returns (result, was_resumed)."""
    done = load_done(spec)
    if done is not None:
        return done, True
    fresh_run_dir(spec)
    write_meta(spec)
    outcome = executor.run(spec)
    result = collect.collect(spec, plan.task, plan.config.params, outcome)
    result.save(spec.run_dir / C.RESULT_FILE)
    return result, False


def with_threads(plan: Plan, spec: RunSpec, threads: int) -> RunSpec:
    """The same run with another thread count: a different environment, hence a different run key."""
    if threads == plan.opts.threads:
        return spec
    env = {k: str(threads) if k.endswith("_NUM_THREADS") else v for k, v in spec.env.items()}
    key = {**plan.run_key(spec.label), "threads": threads, "env": env}
    return replace(spec, env=env, key=key_digest(key), meta={**spec.meta, "run_key": key})


def run_round(plan: Plan, executor: Executor, labels: Sequence[str], rep: int, progress: Progress) -> dict[str, RunResult]:
    """One repetition of every label, as many at once as the executor can: for correctness runs only.

    An executor with `run_many` (a local pool, Ray) fans the runs out, each
    with the thread count it hands out (`run_threads`); without it the runs go
    one by one. Results come back keyed by label, resumed ones included.
    """
    fan_out = getattr(executor, "run_many", None)
    if fan_out is None:
        return {label: _run_counted(plan, executor, run_spec(plan, label, rep), progress) for label in labels}
    threads = executor.run_threads(plan.opts.threads)  # type: ignore[attr-defined]
    specs = [with_threads(plan, run_spec(plan, label, rep), threads) for label in labels]
    results = {spec.label: done for spec in specs if (done := load_done(spec)) is not None}
    for label, done in results.items():
        progress.step(label, rep, done, True)
    pending = [spec for spec in specs if spec.label not in results]
    for spec in pending:
        fresh_run_dir(spec)
        write_meta(spec)

    def finished(i: int, outcome: Outcome) -> None:
        results[pending[i].label] = _collected(plan, pending[i], outcome, progress)

    fan_out(pending, finished)
    return {label: results[label] for label in labels}


def _collected(plan: Plan, spec: RunSpec, outcome: Outcome, progress: Progress) -> RunResult:
    """A finished run's result.json, written and counted."""
    result = collect.collect(spec, plan.task, plan.config.params, outcome)
    result.save(spec.run_dir / C.RESULT_FILE)
    progress.step(spec.label, spec.rep, result, False)
    return result


def _run_counted(plan: Plan, executor: Executor, spec: RunSpec, progress: Progress) -> RunResult:
    result, resumed = run_one(plan, executor, spec)
    progress.step(spec.label, spec.rep, result, resumed)
    return result


def execute_plan(plan: Plan, executor: Executor) -> Results:
    """All rounds, interleaved; a baseline that cannot run at all stops everything (infra).

    --quick is one correctness round (no timing), so its runs may go at once
    (`run_round`); timed rounds always run one at a time.
    """
    schedule = stats.interleaved_schedule(plan.labels, plan.opts.rounds, C.SCHEDULE_SEED)
    results: Results = {label: [] for label in plan.labels}
    progress = Progress(sum(len(r) for r in schedule), plan.opts.rounds, agent_labels(plan))
    if plan.opts.quick:
        done = run_round(plan, executor, schedule[0], 0, progress)
        _stop_if_baseline_broken(plan, plan.opts.baseline, done[plan.opts.baseline])
        return {label: [result] for label, result in done.items()}
    for round_no, order in enumerate(schedule):
        for label in order:
            result, resumed = run_one(plan, executor, run_spec(plan, label, round_no))
            results[label].append(result)
            progress.step(label, round_no, result, resumed)
            _stop_if_baseline_broken(plan, label, result)
    return results


def agent_labels(plan: Plan) -> dict[str, str]:
    """label → agent for every attempt that has one (the progress line tallies per agent)."""
    return {a.name: a.agent for a in plan.attempts if a.agent}


class Progress:
    """One log line per run over the whole batch: how far, how long still, what happened, per agent so far."""

    def __init__(self, total: int, rounds: int, agents: dict[str, str] | None = None) -> None:
        self.total, self.rounds, self.done, self.ran, self.started = total, rounds, 0, 0, time.perf_counter()
        self.agents = agents or {}
        self.tallies: dict[str, Counter[str]] = {}

    def step(self, label: str, round_no: int, result: RunResult, resumed: bool) -> None:
        self.done += 1
        self.ran += 0 if resumed else 1
        self.tally(label, result.status)
        how = "resumed" if resumed else f"{result.wall_s:.2f}s"
        elapsed = time.perf_counter() - self.started
        log.info("[%d/%d] round %d/%d %-20s %-8s %s (elapsed %.1fs%s)%s", self.done, self.total, round_no + 1,
                 self.rounds, label, result.status, how, elapsed, self.eta(elapsed), self.tally_text())

    def tally(self, label: str, word: str) -> None:
        """Count one outcome word (a run status, or a verdict such as "equivalent") for the label's agent."""
        if label in self.agents:
            self.tallies.setdefault(self.agents[label], Counter())[word] += 1

    def eta(self, elapsed: float) -> str:
        """Time left at the pace of the runs made so far (resumed runs cost nothing)."""
        left = self.total - self.done
        return f", ETA {elapsed / self.ran * left:.0f}s" if self.ran and left else ""

    def tally_text(self) -> str:
        parts = [f"{agent} " + " ".join(f"{n} {word}" for word, n in sorted(counts.items()))
                 for agent, counts in sorted(self.tallies.items())]
        return " · " + "; ".join(parts) if parts else ""


def _stop_if_baseline_broken(plan: Plan, label: str, result: RunResult) -> None:
    if label == plan.opts.baseline and not result.ok:
        tail = result.stderr_tail.strip().splitlines()
        raise InfraError(f"the baseline run {result.status} ({tail[-1] if tail else 'no stderr'}); "
                         f"nothing to compare against — see {plan.run_root}")
