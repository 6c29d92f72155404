"""Stage 2's building blocks: one run's spec, one round of runs through an executor, progress.

`schedule.py` decides which rounds run (the equivalence round, then
sequential timing rounds); `variants.py` runs the held-out variants; both
run their rounds through `run_round` here, which isolates, resumes, reuses
and fans out. An existing result.json means that run is done, so a rerun
resumes the same decisions.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence

from harness import isolation, layout, runner
from harness import constants as C
from harness.executors import Executor, Outcome, RunSpec
from harness.plan import Plan, key_digest
from harness.results import RunResult
from harness.tasks import render_command

log = logging.getLogger(__name__)
Results = dict[str, list[RunResult]]


def run_spec(plan: Plan, label: str, rep: int) -> RunSpec:
    """Everything about one repetition of one branch known before it runs: argv, folder, environment, limits,
    what it may read and its confinement (the one place a run spec is made; isolation.prepare only binds it to
    the sandbox made just before it starts)."""
    co = plan.checkout_of(label)
    run_dir = plan.run_root / layout.rep_dir(label, rep, co.sha)
    values = {**plan.config_of(label).params, **plan.inputs, "python": plan.running.python,
              "task_dir": str(plan.task_copy or ""),
              "output_dir": isolation.OUTPUT_PLACEHOLDER, "device": plan.device}
    key = plan.run_key(label)
    preload = plan.task.preload if warm_start(plan) else ()
    meta = {"round": rep, "task": plan.task.name, "run_key": key, "environment": plan.environment}
    return RunSpec(label, co.name, co.sha, rep, co.path, render_command(plan.task, values), run_dir, plan.env,
                   plan.timeout_s, plan.device, key_digest(key), meta, preload=preload,
                   readable=(*plan.reads, *isolation.declared_inputs(plan, label)), confinement=plan.confinement,
                   max_rss_mb=plan.running.max_rss_mb)


def warm_start(plan: Plan) -> bool:
    """Every run of a compare starts the same way, so a run cannot tell a checked round from a timed one by
    what its process holds ("torch" already in sys.modules). Timed runs must start cold, as the script really
    runs: a process forked from a warm one has another heap, and allocation-heavy code runs at another speed
    there (measured: claude's 512² visualisation 0.15 s warm, 0.30 s cold; the baseline's 0.3–0.5 s both
    ways). So only a compare without timing rounds (--quick, the equivalence gate) forks its runs warm. CPU
    runs only: a CUDA runtime that the preload touched (torch.cuda.is_available() may) is unusable after a
    fork."""
    return plan.running.start == "warm" and plan.schedule.quick and bool(plan.task.preload) and plan.device == "cpu"


def reusable(label: str, rep: int) -> bool:
    """Only the equivalence round's outputs may come from the cache, and never the twin's: it exists to
    show whether the baseline reproduces itself, which a copy of the baseline's own run cannot."""
    return rep == 0 and not label.endswith(C.SELF_SUFFIX)


def run_round(plan: Plan, executor: Executor, labels: Sequence[str], rep: int, progress: Progress,
              stage: str | None = None) -> dict[str, RunResult]:
    """One repetition of every label through the executor's `run_many`: for correctness runs only.

    A local pool or Ray runs them at once, each with the thread count every
    other run has; a plain executor runs them one by one. Results come back
    keyed by label, resumed or reused ones included.
    """
    results: dict[str, RunResult] = {}
    pending: list[tuple[RunSpec, RunResult | None]] = []  # (isolated spec, a stored failure to rerun)
    for spec in (run_spec(plan, label, rep) for label in labels):
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

    executor.run_many([spec for spec, _ in pending], finished)
    for i, first in failed.items():
        spec, earlier = pending[i]
        results[spec.label] = runner.conclude(plan, executor, spec, earlier, first)
        progress.step(spec.label, rep, results[spec.label], False, stage)
    return {label: results[label] for label in labels}


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
        branches = 1 + len(plan.lineup.candidates)
        self.rounds = 0 if plan.schedule.quick else plan.schedule.rounds
        variant_runs = plan.schedule.variants * branches if plan.task.variants else 0
        self.total = branches + variant_runs + (0 if plan.schedule.quick else 1 + self.rounds * (branches + 1))
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
