"""One repetition, start to stored result: resume it, or run it (twice if it fails).

A stored result counts as done only when it is this very run (label, commit,
round, run key) and every file it recorded still has its checksum. A failed
run is not a fact: a fresh failure is run once more, and a stored one is
rerun when resumed; when the two attempts end differently the run is
"flaky", with both endings in its problems.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from harness import cache, collect, isolation, store
from harness import constants as C
from harness.executors import Executor, Outcome, RunSpec
from harness.jsonio import write_json
from harness.results import RunResult

if TYPE_CHECKING:
    from harness.plan import Plan
    from harness.tasks import Task

log = logging.getLogger(__name__)
#: Stored statuses resumed as final; any other failure is rerun once.
FINAL = (C.STATUS_OK, C.STATUS_FLAKY)


def write_meta(spec: RunSpec) -> None:
    meta = {"label": spec.label, "name": spec.name, "sha": spec.sha, "rep": spec.rep, "command": spec.argv,
            "env": spec.env, "timeout_s": spec.timeout_s, "device": spec.device, "sandbox": spec.confinement.key,
            "max_rss_mb": spec.max_rss_mb, **spec.meta}
    write_json(spec.run_dir / C.META_FILE, meta)


def ready(plan: Plan, spec: RunSpec) -> RunSpec:
    """The spec isolated (fresh tree, private HOME/TMPDIR, confinement) with its meta.json written."""
    isolated = isolation.prepare(plan, spec)
    write_meta(isolated)
    return isolated


def complete(plan: Plan, spec: RunSpec, outcome: Outcome) -> RunResult:
    """Copy the outputs into the store and read only the store, with the label's own parameters."""
    reference = None if spec.label.removesuffix(C.SELF_SUFFIX) == plan.lineup.baseline else plan.baseline_artifacts
    captured = store.capture(spec, plan.task, plan.manifests.get(spec.sha), plan.store_budget, reference)
    return collect.collect(spec, plan.task, plan.config_of(spec.label).params, outcome, captured)


def attempt(plan: Plan, executor: Executor, spec: RunSpec) -> RunResult:
    """Isolate, run, copy the outputs into the store, read only the store."""
    isolated = ready(plan, spec)
    return complete(plan, isolated, executor.run(isolated))


def ending(result: RunResult) -> str:
    """A failed run's ending in a few words: its status and its last line of explanation."""
    lines = [*result.stderr_tail.strip().splitlines(), *result.problems[:1]]
    return f"{result.status} ({lines[-1]})" if lines and not result.ok else result.status


def settle(first: RunResult, second: RunResult) -> RunResult:
    """Two attempts, the first a failure: the same kind of failure stands; any other ending is flaky.

    Statuses are compared, not messages: a crash message that carries an
    address or a peak that differs by a megabyte is still the same failure.
    """
    if first.status == second.status:
        return second
    note = f"flaky: first attempt {ending(first)}, rerun {ending(second)}"
    log.warning("%s round %d: %s", second.label, second.rep + 1, note)
    return second.model_copy(update={"status": C.STATUS_FLAKY, "problems": [note, *second.problems]})


def is_final(task: Task, result: RunResult) -> bool:
    """Ok, flaky, or one of the task's own endings (a race contender 'unfinished' at its cap): a rerun would
    end the same way at the same cost (up to the cap again), so it is not run once more."""
    return result.status in FINAL or result.status in task.exit_codes.values()


def resumable(plan: Plan, spec: RunSpec, reuse: bool) -> tuple[RunResult | None, RunResult | None, bool]:
    """(a result that makes the run unnecessary, a stored failure to rerun, resumed?).

    `reuse`: outputs stored by an earlier compare under the same run key
    (harness/cache.py) stand in for the run — the equivalence round only.
    """
    earlier = store.load_verified(spec.run_dir, spec.label, spec.sha, spec.rep, spec.key)
    if earlier is not None and is_final(plan.task, earlier):
        return earlier, None, True
    if earlier is not None:
        log.info("%s round %d: the stored run %s; running it again", spec.label, spec.rep + 1, ending(earlier))
        return None, earlier, False
    cached = cache.lookup(plan.running, spec) if reuse else None
    if cached is not None:
        cached.save(spec.run_dir / C.RESULT_FILE)
    return cached, None, False


def conclude(plan: Plan, executor: Executor, spec: RunSpec, earlier: RunResult | None, result: RunResult) -> RunResult:
    """A fresh failure runs once more; two endings are settled (flaky or not); the result is saved and cached."""
    if earlier is None and not is_final(plan.task, result):
        log.info("%s round %d: %s; running it once more", spec.label, spec.rep + 1, ending(result))
        earlier, result = result, attempt(plan, executor, spec)
    if earlier is not None:
        result = settle(earlier, result)
    cache.record(plan.running, spec, result)
    result.save(spec.run_dir / C.RESULT_FILE)
    return result


def run_or_resume(plan: Plan, executor: Executor, spec: RunSpec, reuse: bool = False) -> tuple[RunResult, bool]:
    """The repetition's result and whether it was resumed; every new result is saved before it is returned."""
    prior, earlier, resumed = resumable(plan, spec, reuse)
    if prior is not None:
        return prior, resumed
    return conclude(plan, executor, spec, earlier, attempt(plan, executor, spec)), False
