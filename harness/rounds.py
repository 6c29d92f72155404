"""Stage 2's driver: interleaved rounds of runs through an executor, resumable.

Round 0 is the equivalence round: every branch once. A candidate whose
verdict it settles (not equivalent, crashed, timed out) gets no timing
rounds. The others run in timing rounds 1..--repeat, interleaved in a seeded
shuffled order so machine drift hits every branch alike, with the baseline
twice per round (the noise floor); after each round from the minimum on,
candidates whose speed question is settled stop (see judge.stats for the
per-look level that keeps peeking honest). An existing result.json means
that run is done, so a rerun resumes the same decisions.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from harness import isolation, layout, runner, store, variants
from harness import constants as C
from harness.errors import InfraError
from harness.executors import Executor, Outcome, RunSpec
from harness.judge import stats
from harness.plan import Plan, key_digest
from harness.results import RunResult
from harness.tasks import render_command

log = logging.getLogger(__name__)
Results = dict[str, list[RunResult]]


def run_spec(plan: Plan, label: str, rep: int) -> RunSpec:
    """The argv, folder and environment of one repetition of one branch."""
    co = plan.checkout_of(label)
    run_dir = plan.run_root / layout.rep_dir(label, rep, co.sha)
    values = {**plan.config_of(label).params, **plan.inputs, "python": plan.opts.python,
              "output_dir": str(run_dir / C.OUTPUT_DIR), "device": plan.device}
    key = plan.run_key(label)
    preload = plan.task.preload if warm_start(plan, rep) else ()
    meta = {"round": rep, "task": plan.task.name, "run_key": key, "environment": plan.environment}
    return RunSpec(label, co.name, co.sha, rep, co.path, render_command(plan.task, values), run_dir, plan.env,
                   plan.opts.timeout_s, plan.device, key_digest(key), meta, preload=preload)


def warm_start(plan: Plan, rep: int) -> bool:
    """Only correctness runs whose times nobody reads fork warm: round 0 (and the held-out variants) when
    timing rounds follow. Timed runs start cold, as the script really runs: a process forked from a warm
    one has another heap, and allocation-heavy code can run at another speed there (measured: claude's
    512² visualisation 0.15 s warm, 0.30 s cold; the baseline's 0.3–0.5 s both ways). CPU runs only: a
    CUDA runtime that the preload touched (torch.cuda.is_available() may) is unusable after a fork."""
    return (plan.opts.start == "warm" and rep == 0 and not plan.opts.quick and bool(plan.task.preload)
            and plan.device == "cpu")


def load_done(spec: RunSpec) -> RunResult | None:
    """A stored result of this very run (label, commit, round, run key) whose files pass their checksums (resume)."""
    return store.load_verified(spec.run_dir, spec.label, spec.sha, spec.rep, spec.key)


def fresh_run_dir(spec: RunSpec) -> None:
    """Clear what an interrupted earlier attempt left (no result means not done)."""
    isolation.fresh_run_dir(spec.run_dir)


def run_one(plan: Plan, executor: Executor, spec: RunSpec, reuse: bool = False) -> tuple[RunResult, bool]:
    """Run (or resume, or reuse) one repetition, isolated, failures run twice; returns (result, was_resumed).

    `reuse`: outputs stored by an earlier compare under the same run key stand
    in for the run (equivalence only: timing rounds must pass False).
    """
    return runner.run_or_resume(plan, executor, spec, reuse)


def reusable(label: str, rep: int) -> bool:
    """Only the equivalence round's outputs may come from the cache, and never the twin's: it exists to
    show whether the baseline reproduces itself, which a copy of the baseline's own run cannot."""
    return rep == 0 and not label.endswith(C.SELF_SUFFIX)


def with_threads(plan: Plan, spec: RunSpec, threads: int) -> RunSpec:
    """The same run with another thread count: a different environment, hence a different run key."""
    if threads == plan.opts.threads:
        return spec
    env = {k: str(threads) if k.endswith("_NUM_THREADS") else v for k, v in spec.env.items()}
    key = {**plan.run_key(spec.label), "threads": threads, "env": env}
    return replace(spec, env=env, key=key_digest(key), meta={**spec.meta, "run_key": key})


def run_round(plan: Plan, executor: Executor, labels: Sequence[str], rep: int, progress: Progress,
              stage: str | None = None) -> dict[str, RunResult]:
    """One repetition of every label, as many at once as the executor can: for correctness runs only.

    An executor with `run_many` (a local pool, Ray) fans the runs out, each
    with the thread count it hands out (`run_threads`); without it the runs go
    one by one. Results come back keyed by label, resumed or reused ones included.
    """
    fan_out = getattr(executor, "run_many", None)
    if fan_out is None:
        return {label: _run_counted(plan, executor, run_spec(plan, label, rep), progress, stage) for label in labels}
    threads = executor.run_threads(plan.opts.threads)  # type: ignore[attr-defined]
    results: dict[str, RunResult] = {}
    pending: list[tuple[RunSpec, RunResult | None]] = []  # (isolated spec, a stored failure to rerun)
    for spec in (with_threads(plan, run_spec(plan, label, rep), threads) for label in labels):
        prior, earlier, resumed = runner.resumable(plan, spec, reusable(spec.label, rep))
        if prior is None:
            pending.append((runner.ready(plan, spec), earlier))
        else:
            results[spec.label] = prior
            progress.step(spec.label, rep, prior, resumed, stage)

    failed: dict[int, RunResult] = {}

    def finished(i: int, outcome: Outcome) -> None:
        """A good run is saved at once (an interrupt keeps it); a failure waits to be rerun alone."""
        spec, earlier = pending[i]
        result = runner.complete(plan, spec, outcome)
        if not result.ok or earlier is not None:
            failed[i] = result
            return
        results[spec.label] = runner.conclude(plan, executor, spec, None, result)
        progress.step(spec.label, rep, result, False, stage)

    fan_out([spec for spec, _ in pending], finished)
    for i, first in failed.items():
        spec, earlier = pending[i]
        results[spec.label] = runner.conclude(plan, executor, spec, earlier, first)
        progress.step(spec.label, rep, results[spec.label], False, stage)
    return {label: results[label] for label in labels}


def _run_counted(plan: Plan, executor: Executor, spec: RunSpec, progress: Progress,
                 stage: str | None = None) -> RunResult:
    result, resumed = run_one(plan, executor, spec, reusable(spec.label, spec.rep))
    progress.step(spec.label, spec.rep, result, resumed, stage)
    return result


@dataclass
class Execution:
    """All runs of a compare, and why each candidate got the timing rounds it got."""

    results: Results
    notes: dict[str, str] = field(default_factory=dict)
    rounds_run: int = 0
    held_out: variants.VariantReport = field(default_factory=variants.VariantReport)


def execute_plan(plan: Plan, executor: Executor) -> Execution:
    """The equivalence round, then sequential timing rounds for the candidates that passed it."""
    run = Execution({label: [] for label in plan.labels})
    progress = Progress(plan)
    equivalence_round(plan, executor, run, progress)
    run.held_out = variants.check(plan, executor, run.results, plan.opts.variants, progress)
    if plan.opts.quick:
        return run
    _warn_about_the_clock(plan, run)
    remaining = timing_gate(plan, run)
    for round_no in range(1, plan.opts.rounds + 1):
        if not remaining:
            break
        timing_round(plan, executor, run, round_no, remaining, progress)
        remaining = still_open(plan, run, remaining, round_no)
    return run


def equivalence_round(plan: Plan, executor: Executor, run: Execution, progress: Progress) -> None:
    """Round 0: every branch once (and the baseline's twin, so its reproducibility is known).

    These are correctness runs, so an executor that can fans them out (`--jobs`, Ray).
    """
    base, twin = plan.opts.baseline, plan.opts.baseline + C.SELF_SUFFIX
    labels = [base, *([] if plan.opts.quick else [twin]), *plan.opts.candidates]
    done = run_round(plan, executor, labels, 0, progress)
    _stop_if_baseline_broken(plan, base, done[base])
    for label in labels:
        run.results[label].append(done[label])


def _warn_about_the_clock(plan: Plan, run: Execution) -> None:
    from harness.judge.analyse import clock_warnings

    for warning in clock_warnings(plan, run.results):
        log.warning("%s", warning)


def timing_gate(plan: Plan, run: Execution) -> list[str]:
    """Candidates whose equivalence round settles their verdict get no timing rounds; the rest go on."""
    from harness.judge.analyse import not_timed_reason

    remaining = []
    for name in plan.opts.candidates:
        reason = "NOT equivalent on a held-out variant" if name in run.held_out.findings else \
            not_timed_reason(plan, run.results, name)
        if reason is None:
            remaining.append(name)
        else:
            run.notes[name] = f"not timed: {reason} after the equivalence round"
            log.info("%s: %s", name, run.notes[name])
    return remaining


def timing_round(plan: Plan, executor: Executor, run: Execution, round_no: int, remaining: list[str],
                 progress: Progress) -> None:
    """One interleaved round: baseline, its twin and every open candidate, in a seeded shuffled order."""
    labels = [plan.opts.baseline, plan.opts.baseline + C.SELF_SUFFIX, *remaining]
    for label in stats.interleaved_schedule(labels, 1, C.SCHEDULE_SEED + round_no)[0]:
        result = _run_and_record(plan, executor, run, label, round_no, progress)
        _stop_if_baseline_broken(plan, label, result)
    run.rounds_run = round_no


def still_open(plan: Plan, run: Execution, remaining: list[str], round_no: int) -> list[str]:
    """After a look, the candidates whose speed question is still open (all of them before the minimum)."""
    from harness.judge.analyse import timing_state

    looking = round_no >= min(stats.MIN_ROUNDS, plan.opts.rounds)
    open_ = []
    for name in remaining:
        last = run.results[name][-1]
        if not last.ok:
            run.notes[name] = f"timing stopped: a run {last.status} in round {round_no}"
            continue
        state = timing_state(plan, run.results, name, final=round_no == plan.opts.rounds) if looking else "open"
        note = stop_note(state, round_no, plan.opts.rounds)
        if note is None:
            open_.append(name)
        else:
            run.notes[name] = note
    return open_


def stop_note(state: str, round_no: int, cap: int) -> str | None:
    """Why a candidate's timing stops after this round (None: it goes on)."""
    if state == "settled":
        return f"settled after {round_no} timing rounds"
    if state == "futile":
        return (f"stopped after {round_no} timing rounds: at this noise, rounds up to --repeat {cap} would settle it "
                f"less than {stats.FUTILITY_POWER:.0%} of the time")
    if round_no == cap:
        return f"not settled after {round_no} timing rounds (--repeat {cap})"
    return None


def _run_and_record(plan: Plan, executor: Executor, run: Execution, label: str, rep: int,
                    progress: Progress) -> RunResult:
    result = _run_counted(plan, executor, run_spec(plan, label, rep), progress)
    run.results[label].append(result)
    return result


def agent_labels(plan: Plan) -> dict[str, str]:
    """label → agent for every attempt that has one (the progress line tallies per agent)."""
    return {a.name: a.agent for a in plan.attempts if a.agent}


class Progress:
    """One log line per run over the whole batch: which round, what happened, elapsed time, an ETA to the
    most rounds left, and per-agent tallies of attempts (not runs) as they come in.

    The total is an upper bound (the sequential rule usually stops earlier), so
    the ETA is one too: it can only come in early. A run resumed from this
    compare's folder or reused from the result cache shows as such, not with a
    wall time nobody waited for, and costs the ETA nothing.
    """

    def __init__(self, plan: Plan) -> None:
        branches = 1 + len(plan.opts.candidates)
        self.rounds = 0 if plan.opts.quick else plan.opts.rounds
        variant_runs = plan.opts.variants * branches if plan.task.variants else 0
        self.total = branches + variant_runs + (0 if plan.opts.quick else 1 + self.rounds * (branches + 1))
        self.done, self.fresh, self.started = 0, 0, time.perf_counter()
        self.agents = agent_labels(plan)
        self.rejected = set(plan.rejected)  # attempts whose patch does not apply: they never run
        self.states: dict[str, str] = {}  # attempt → the worst status of its runs so far

    def step(self, label: str, round_no: int, result: RunResult, resumed: bool, stage: str | None = None) -> None:
        self.done += 1
        self.fresh += not (resumed or result.reused)
        self.tally(label, result.status)
        elapsed = time.perf_counter() - self.started
        how = "resumed" if resumed else "reused" if result.reused else f"{result.wall_s:.2f}s"
        which = stage or ("equivalence round" if round_no == 0 else f"timing round {round_no}/{self.rounds}")
        log.info("[%d/≤%d] %s %-20s %-8s %s (elapsed %.0fs%s)%s", self.done, self.total, which, label,
                 result.status, how, elapsed, self.eta(elapsed), self.tally_text())

    def eta(self, elapsed: float) -> str:
        """At the pace of the runs made so far (resumed and reused runs cost nothing), to the most runs left."""
        if not self.fresh or self.done >= self.total:
            return ""
        return f", at most ~{elapsed / self.fresh * (self.total - self.done):.0f}s left"

    def tally(self, label: str, status: str) -> None:
        """An attempt's state is the worst status of its runs so far: one attempt, however many runs."""
        if label in self.agents:
            self.states[label] = self._worse(self.states.get(label, C.STATUS_OK), status)

    @staticmethod
    def _worse(a: str, b: str) -> str:
        """The worse of two run statuses: by the harness's ranking, and any failure (a task's own word) over ok."""
        ranked = [s for s in C.STATUS_RANK if s in (a, b)]
        if ranked and ranked[0] != C.STATUS_OK:
            return ranked[0]
        return a if a != C.STATUS_OK else b

    def attempt_word(self, label: str) -> str:
        """'ran' (its runs finished; equivalence is judged at the end), its failure, 'waiting' or 'not applied'."""
        if label in self.rejected:
            return "not applied"
        state = self.states.get(label)
        return "waiting" if state is None else "ran" if state == C.STATUS_OK else state

    def tally_text(self) -> str:
        """' · claude 1 attempt: 1 ran; gemini 2 attempts: 1 ran, 1 crashed' (agents by name)."""
        parts = []
        for agent in sorted(set(self.agents.values())):
            words = Counter(self.attempt_word(label) for label, who in self.agents.items() if who == agent)
            n = sum(words.values())
            counts = ", ".join(f"{k} {word}" for word, k in sorted(words.items(), key=self._word_order))
            parts.append(f"{agent} {n} attempt{'' if n == 1 else 's'}: {counts}")
        return " · " + "; ".join(parts) if parts else ""

    @staticmethod
    def _word_order(item: tuple[str, int]) -> tuple[int, str]:
        """Ran first, then failures (by name), then not applied; waiting last."""
        return {"ran": 0, "not applied": 2, "waiting": 3}.get(item[0], 1), item[0]


def _stop_if_baseline_broken(plan: Plan, label: str, result: RunResult) -> None:
    """Without a working baseline there is nothing to compare outputs against (an infrastructure failure);
    a task that compares no outputs (a race) only loses that baseline's times."""
    if label == plan.opts.baseline and not result.ok and plan.task.judging.outputs:
        tail = result.stderr_tail.strip().splitlines()
        raise InfraError(f"the baseline run {result.status} ({tail[-1] if tail else 'no stderr'}); "
                         f"nothing to compare against — see {plan.run_root}")
