"""Equivalence beyond the one timed configuration: held-out parameter variants.

A candidate can special-case the benchmark (detect the seed, the input's hash,
the shape) and be exact only there. So after the equivalence round, the
baseline and every candidate that matched it also run once on a few variants
of the parameters, drawn by the harness at run time from the ranges the task
declares in its `[variants]` table (other seeds, shapes, sizes — a different
input image where the size changes it). A candidate that differs from the
baseline on a variant is "NOT equivalent: differs on variant seed=…".

The draws are made with the operating system's randomness when a compare
first needs them and stored in the run folder, so a resumed compare checks
the same variants (and resumes their runs).

Wiring: `check(plan, executor, execution, n, progress)` right after the
equivalence round records the variants and findings in the execution; the
judge folds them into each candidate's verdict.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import replace
from typing import Any

from harness import layout
from harness import constants as C
from harness.errors import UsageProblem
from harness.execution import Execution, Results
from harness.executors import Executor
from harness.facts import case_of
from harness.judge import analyse
from harness.jsonio import write_json
from harness.plan import Plan
from harness.results import RunResult, Tolerance
from harness.rounds import Progress, run_round
from harness.tasks import TaskConfig, check_type

log = logging.getLogger(__name__)
DRAWS_FILE = "draws.json"
ATTEMPTS_PER_VARIANT = 50


def describe(variant: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in variant.items())


def _draw_value(spec: dict[str, Any], rng: random.Random) -> str:
    if "choices" in spec:
        value = rng.choice(spec["choices"])
        return str(value).lower() if isinstance(value, bool) else str(value)
    return str(rng.randint(int(spec["min"]), int(spec["max"])))


def draw(config: TaskConfig, n: int, rng: random.Random) -> list[dict[str, str]]:
    """Up to n distinct, valid variants: every declared parameter drawn, the rest as in the timed configuration."""
    task, found = config.task, []
    for _ in range(n * ATTEMPTS_PER_VARIANT):
        if len(found) == n:
            break
        variant = {key: _draw_value(spec, rng) for key, spec in task.variants.items()}
        params = {**config.params, **variant}
        if variant in found or params == config.params or not _valid(config, params):
            continue
        found.append(variant)
    return found


def _valid(config: TaskConfig, params: dict[str, str]) -> bool:
    try:
        for key, value in params.items():
            check_type(key, value, config.task.param_types[key])
        config.task.hooks.validate(params)
    except UsageProblem:
        return False
    return True


def stored_draws(plan: Plan, n: int) -> list[dict[str, str]]:
    """The variants of this run folder: those drawn before, topped up with fresh draws to n."""
    path = plan.run_root / C.VARIANTS_DIR / DRAWS_FILE
    try:
        earlier = [dict(v) for v in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        earlier = []
    earlier = [v for v in earlier if _valid(plan.config, {**plan.config.params, **v})]
    if len(earlier) < n:
        fresh = draw(plan.config, n, random.SystemRandom())
        earlier += [v for v in fresh if v not in earlier][:n - len(earlier)]
        write_json(path, earlier)
    return earlier[:n]


def variant_id(variant: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(variant, sort_keys=True).encode()).hexdigest()[:12]


def variant_plan(plan: Plan, variant: dict[str, str]) -> Plan:
    """The same compare on other parameters, in its own folder (and so with its own run keys)."""
    config = TaskConfig(plan.task, plan.config.preset, {**plan.config.params, **variant})
    root = layout.variant_root(plan.run_root, variant_id(variant))
    base_tree = plan.checkouts[plan.lineup.baseline].path
    inputs = plan.task.hooks.prepare_inputs(config, base_tree, root / C.INPUTS_DIR)
    return replace(plan, config=config, run_root=root, inputs=inputs)


def run_variants(vplan: Plan, executor: Executor, labels: list[str], progress: Progress) -> dict[str, RunResult]:
    """One run of every label on the variant: correctness runs, so fanned out as far as the executor can."""
    return run_round(vplan, executor, labels, 0, progress, stage="held-out variant")


def matched_round_one(plan: Plan, results: Results, tol: Tolerance) -> list[str]:
    """Candidates worth checking further: their first run is ok and equals the baseline's."""
    base = results[plan.lineup.baseline][0]
    return [name for name in plan.lineup.candidates
            if results.get(name) and analyse.judge_run(case_of(plan), name, base, results[name][0], tol).equivalent]


def check_one(plan: Plan, executor: Executor, variant: dict[str, str], names: list[str], tol: Tolerance,
              run: Execution, progress: Progress) -> None:
    """Run one variant for the baseline and `names` (all at once where the executor can); record who differs."""
    vplan = variant_plan(plan, variant)
    done = run_variants(vplan, executor, [plan.lineup.baseline, *names], progress)
    base = done[plan.lineup.baseline]
    if not base.ok:
        run.variant_warnings.append(f"variant {describe(variant)} skipped: the baseline run {base.status} on it")
        return
    for name in names:
        found = analyse.judge_run(case_of(vplan), name, base, done[name], tol)
        if not found.equivalent:
            run.findings[name] = f"differs on variant {describe(variant)}: {found.diagnosis}"


def check(plan: Plan, executor: Executor, run: Execution, n: int, progress: Progress) -> None:
    """Call after the equivalence round: n held-out variants for every candidate that matched so far."""
    if n <= 0 or not plan.task.variants or not run.results.get(plan.lineup.baseline):
        return
    tol, _ = analyse.baseline_tolerance(case_of(plan), run.results)
    names = matched_round_one(plan, run.results, tol)
    if not names:
        return
    run.variants = stored_draws(plan, n)
    for variant in run.variants:
        log.info("held-out variant %s", describe(variant))
        check_one(plan, executor, variant, [m for m in names if m not in run.findings], tol, run, progress)
