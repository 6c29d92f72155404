"""The plan and the execution, written down for the judge: `judge.json` beside the runs.

The judge (judge/analyse.py) takes a `Case` — these facts, the task file, the
run folder — and the stored results; it knows nothing of Plan, executors or
git. The driver asks it questions mid-compare with the facts so far; at the
end the facts are stored, and the compare's document is made from the run
folder alone, so a stored compare can be judged again the same way.
"""

from __future__ import annotations

from pathlib import Path

from harness import constants as C
from harness import layout
from harness.execution import Execution
from harness.judge.analyse import Case
from harness.plan import Plan
from harness.results import AttemptFacts, CompareFacts, DiffFacts, HarnessInfo


def runs_of(plan: Plan, execution: Execution | None) -> dict[str, list[str]]:
    """Every label's repetitions, as folders relative to the run folder, in round order."""
    if execution is None:
        return {}
    return {label: [layout.rep_dir(r.label, r.rep, r.sha) for r in runs] for label, runs in execution.results.items()}


def facts_of(plan: Plan, execution: Execution | None = None, harness: HarnessInfo | None = None, source: str = "",
             created: str = "", aliases: dict[str, str] | None = None) -> CompareFacts:
    """What the judge reads of the plan (and of the execution, once there is one)."""
    lineup, schedule, judging, done = plan.lineup, plan.schedule, plan.judging, execution or Execution({})
    return CompareFacts(
        created=created, harness=harness or HarnessInfo(version=""), source=source, task_path=str(plan.task.path),
        task_sha256=plan.task.toml_sha256, preset=plan.config.preset, params=dict(plan.config.params),
        baseline=lineup.baseline, candidates=list(lineup.candidates), labels=list(plan.labels),
        shas={name: co.sha for name, co in plan.checkouts.items()}, quick=schedule.quick, rounds=schedule.rounds,
        threshold=judging.threshold, timeout_s=plan.timeout_s, threads=plan.running.threads, fail_on=judging.fail_on,
        device=plan.device,
        environment=dict(plan.environment),
        diffs={name: DiffFacts(diffstat=stat, flags=flags) for name, (stat, flags) in plan.diffs.items()},
        attempts=[AttemptFacts(name=a.name, agent=a.agent, attempt=a.attempt, reference=a.reference)
                  for a in plan.attempts],
        rejected=dict(plan.rejected), runs=runs_of(plan, execution), notes=dict(done.notes),
        rounds_run=done.rounds_run, variants=list(done.variants), findings=dict(done.findings),
        variant_warnings=list(done.variant_warnings), aliases=dict(aliases or {}))


def case_of(plan: Plan) -> Case:
    """The judge's view of a plan mid-compare (a held-out variant's plan: its own folder and parameters)."""
    return Case(facts_of(plan), plan.task, plan.run_root)


def store(plan: Plan, execution: Execution, harness: HarnessInfo, source: str, created: str,
          aliases: dict[str, str]) -> Path:
    """judge.json in the run folder: from here on the compare is judged from the folder alone."""
    path = plan.run_root / C.FACTS_FILE
    facts_of(plan, execution, harness, source, created, aliases).save(path)
    return path
