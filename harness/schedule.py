"""Stage 2's driver: which rounds run, in what order, and when a candidate's rounds stop.

Round 0 is the equivalence round: the baseline first (its wall time sets the
others' timeout unless --timeout is given), then every candidate once. The
held-out variants follow. A candidate whose verdict round 0 settles (not
equivalent, crashed, timed out) gets no timing rounds. The others run in
timing rounds 1..--repeat, interleaved in a seeded shuffled order so machine
drift hits every branch alike, with the baseline twice per round (the noise
floor). After every timed run the judge is asked whether it still equals the
baseline's (a run that differs ends that candidate's timing: "NOT
equivalent"), and after each round from the minimum on, whether a
candidate's speed question is settled (see judge.stats for the per-look level
that keeps peeking honest).

The driver asks the judge narrow questions about stored results; the judge
never calls back.
"""

from __future__ import annotations

import logging

from harness import constants as C
from harness import runner, variants
from harness.errors import InfraError
from harness.execution import Execution
from harness.facts import case_of
from harness.executors import Executor
from harness.judge import analyse, stats
from harness.plan import Plan, Running
from harness.results import RunResult
from harness.rounds import Progress, run_round, run_spec

log = logging.getLogger(__name__)
#: Without --timeout, every run after the baseline's first may take this many times its wall time…
TIMEOUT_FACTOR = 10.0
#: …but never less than this (start-up alone can take seconds on a busy machine).
MIN_TIMEOUT_S = 60.0


def execute_plan(plan: Plan, executor: Executor) -> Execution:
    """The equivalence round, the held-out variants, then sequential timing rounds for those that passed."""
    run = Execution({label: [] for label in plan.labels})
    progress = Progress(plan)
    equivalence_round(plan, executor, run, progress)
    variants.check(plan, executor, run, plan.schedule.variants, progress)
    if plan.schedule.quick:
        return run
    for warning in analyse.clock_warnings(case_of(plan), run.results):
        log.warning("%s", warning)
    remaining = timing_gate(plan, run)
    for round_no in range(1, plan.schedule.rounds + 1):
        if not remaining:
            break
        timing_round(plan, executor, run, round_no, remaining, progress)
        remaining = still_open(plan, run, remaining, round_no)
    return run


def derived_timeout(running: Running, baseline: RunResult) -> float:
    """The timeout of every run after the baseline's first: --timeout if given, else ten times that run's wall
    time (a candidate that hangs, say on something the sandbox denies, is not waited for an hour)."""
    if running.timeout_s is not None:
        return running.timeout_s
    return max(MIN_TIMEOUT_S, TIMEOUT_FACTOR * baseline.wall_s)


def equivalence_round(plan: Plan, executor: Executor, run: Execution, progress: Progress) -> None:
    """Round 0: the baseline (and its twin, so its reproducibility is known), then every candidate once.

    These are correctness runs, so an executor that can fans them out (`--jobs`, Ray).
    """
    base, twin = plan.lineup.baseline, plan.lineup.baseline + C.SELF_SUFFIX
    first = [base, *([] if plan.schedule.quick else [twin])]
    done = run_round(plan, executor, first, 0, progress)
    stop_if_baseline_broken(plan, base, done[base])
    plan.run_timeout_s = derived_timeout(plan.running, done[base])
    plan.baseline_artifacts = {a.name: a.size for a in done[base].artifacts}
    done |= run_round(plan, executor, plan.lineup.candidates, 0, progress)
    for label in [*first, *plan.lineup.candidates]:
        run.results[label].append(done[label])


def timing_gate(plan: Plan, run: Execution) -> list[str]:
    """Candidates whose equivalence round settles their verdict get no timing rounds; the rest go on."""
    remaining = []
    for name in plan.lineup.candidates:
        reason = "NOT equivalent on a held-out variant" if name in run.findings else \
            analyse.not_timed_reason(case_of(plan), run.results, name)
        if reason is None:
            remaining.append(name)
        else:
            run.notes[name] = f"not timed: {reason} after the equivalence round"
            log.info("%s: %s", name, run.notes[name])
    return remaining


def timing_round(plan: Plan, executor: Executor, run: Execution, round_no: int, remaining: list[str],
                 progress: Progress) -> None:
    """One interleaved round: baseline, its twin and every open candidate, in a seeded shuffled order."""
    labels = [plan.lineup.baseline, plan.lineup.baseline + C.SELF_SUFFIX, *remaining]
    for label in stats.interleaved_schedule(labels, 1, C.SCHEDULE_SEED + round_no)[0]:
        spec = run_spec(plan, label, round_no)
        result, resumed = runner.run_or_resume(plan, executor, spec)
        progress.step(label, round_no, result, resumed)
        run.results[label].append(result)
        stop_if_baseline_broken(plan, label, result)
    run.rounds_run = round_no


def still_open(plan: Plan, run: Execution, remaining: list[str], round_no: int) -> list[str]:
    """After a round, the candidates whose timing goes on: not those whose run failed or differs from the
    baseline's, nor (from the minimum on) those whose speed question is settled or futile."""
    looking = round_no >= min(stats.MIN_ROUNDS, plan.schedule.rounds)
    open_ = []
    for name in remaining:
        note = stop_reason(plan, run, name, round_no, looking)
        if note is None:
            open_.append(name)
        else:
            run.notes[name] = note
    return open_


def stop_reason(plan: Plan, run: Execution, name: str, round_no: int, looking: bool) -> str | None:
    """Why this candidate's timing stops after this round (None: it goes on)."""
    last = run.results[name][-1]
    if not last.ok:
        return f"timing stopped: a run {last.status} in round {round_no}"
    if analyse.run_differs(case_of(plan), run.results, name, last) is not None:
        return f"timing stopped: NOT equivalent, timed round {round_no} differs from the baseline"
    state = analyse.timing_state(case_of(plan), run.results, name, final=round_no == plan.schedule.rounds) if looking else "open"
    return stop_note(state, round_no, plan.schedule.rounds)


def stop_note(state: str, round_no: int, cap: int) -> str | None:
    """Why a candidate's timing stops after this look (None: it goes on)."""
    if state == "settled":
        return f"settled after {round_no} timing rounds"
    if state == "futile":
        return (f"stopped after {round_no} timing rounds: at this noise, rounds up to --repeat {cap} would settle it "
                f"less than {stats.FUTILITY_POWER:.0%} of the time")
    if round_no == cap:
        return f"not settled after {round_no} timing rounds (--repeat {cap})"
    return None


def stop_if_baseline_broken(plan: Plan, label: str, result: RunResult) -> None:
    """Without a working baseline there is nothing to compare outputs against (an infrastructure failure);
    a task that compares no outputs (a race) only loses that baseline's times."""
    if label == plan.lineup.baseline and not result.ok and plan.task.judging.outputs:
        tail = result.stderr_tail.strip().splitlines()
        why = next((p for p in result.problems if p.startswith("denied by the sandbox")), None)
        raise InfraError(f"the baseline run {result.status} ({why or (tail[-1] if tail else 'no stderr')}); "
                         f"nothing to compare against — see {plan.run_root}")

