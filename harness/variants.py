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

Wiring: `check(plan, executor, results, n, progress)` right after the equivalence
round, `apply(doc, report)` on the finished document.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import layout
from harness import constants as C
from harness.errors import UsageProblem
from harness.executors import Executor
from harness.judge import equivalence, verdicts
from harness.jsonio import write_json
from harness.plan import Plan
from harness.results import CompareDocument, RunResult, Tolerance
from harness.tasks import TaskConfig, check_type

if TYPE_CHECKING:
    from harness.rounds import Progress

log = logging.getLogger(__name__)
DRAWS_FILE = "draws.json"
ATTEMPTS_PER_VARIANT = 50
Results = dict[str, list[RunResult]]


@dataclass
class VariantReport:
    """What the variant checks found: the variants run, a finding per candidate that differed, warnings."""

    variants: list[dict[str, str]] = field(default_factory=list)
    findings: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


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
    base_tree = plan.checkouts[plan.opts.baseline].path
    inputs = plan.task.hooks.prepare_inputs(config, base_tree, root / C.INPUTS_DIR)
    return replace(plan, config=config, run_root=root, inputs=inputs)


def run_variants(vplan: Plan, executor: Executor, labels: list[str], progress: Progress) -> dict[str, RunResult]:
    """One run of every label on the variant: correctness runs, so fanned out as far as the executor can."""
    from harness.rounds import run_round  # the one way a round is run (isolated, resumable, cached)

    return run_round(vplan, executor, labels, 0, progress, stage="held-out variant")


def tolerance(plan: Plan, results: Results) -> Tolerance:
    """How far the baseline strays from itself so far (zero on a deterministic machine)."""
    base = plan.opts.baseline
    runs = [r for r in results.get(base, []) + results.get(base + C.SELF_SUFFIX, []) if r.ok]
    heat = plan.run_root / layout.heatmap_dir(base + "-variants-self")
    return equivalence.tolerance_from([equivalence.self_difference(runs[0], r, plan.task, plan.run_root, heat)
                                       for r in runs[1:]])


def matched_round_one(plan: Plan, results: Results, tol: Tolerance) -> list[str]:
    """Candidates worth checking further: their first run is ok and equals the baseline's (metrics and artifacts)."""
    base = results[plan.opts.baseline][0]
    heat = plan.run_root / layout.heatmap_dir("variants-precheck")
    return [name for name in plan.opts.candidates
            if results.get(name) and difference(plan, base, results[name][0], tol, heat) is None]


def difference(vplan: Plan, base: RunResult, cand: RunResult, tol: Tolerance, heat: Path) -> str | None:
    """The diagnosis when the candidate's run differs from the baseline's (same parameters), else None."""
    task = vplan.task
    metrics = equivalence.compare_metrics(base.metrics, cand.metrics, task.step_key, tol.metric)
    rows = equivalence.compare_artifacts(base, cand, task, vplan.run_root, heat, tol.pixels)
    if cand.ok and metrics.match and equivalence.images_identical(rows):
        return None
    return equivalence.diagnose(cand, metrics, rows, task, vplan.opts.timeout_s)


def check_one(plan: Plan, executor: Executor, variant: dict[str, str], names: list[str], tol: Tolerance,
              report: VariantReport, progress: Progress) -> None:
    """Run one variant for the baseline and `names` (all at once where the executor can); record who differs."""
    vplan = variant_plan(plan, variant)
    done = run_variants(vplan, executor, [plan.opts.baseline, *names], progress)
    base = done[plan.opts.baseline]
    if not base.ok:
        report.warnings.append(f"variant {describe(variant)} skipped: the baseline run {base.status} on it")
        return
    for name in names:
        heat = vplan.run_root / layout.heatmap_dir(name)
        found = difference(vplan, base, done[name], tol, heat)
        if found is not None:
            report.findings[name] = f"differs on variant {describe(variant)}: {found}"


def check(plan: Plan, executor: Executor, results: Results, n: int, progress: Progress) -> VariantReport:
    """Call after the equivalence round: n held-out variants for every candidate that matched so far."""
    report = VariantReport()
    if n <= 0 or not plan.task.variants or not results.get(plan.opts.baseline):
        return report
    tol = tolerance(plan, results)
    names = matched_round_one(plan, results, tol)
    if not names:
        return report
    report.variants = stored_draws(plan, n)
    for variant in report.variants:
        log.info("held-out variant %s", describe(variant))
        check_one(plan, executor, variant, [m for m in names if m not in report.findings], tol, report, progress)
    return report


def apply(doc: CompareDocument, report: VariantReport) -> CompareDocument:
    """The document with every candidate that differed on a variant marked NOT equivalent, and the variants listed."""
    candidates = [c.model_copy(update={"equivalent": False, "verdict": verdicts.NOT_EQUIVALENT,
                                       "diagnosis": report.findings[c.name]})
                  if c.name in report.findings and c.equivalent else c for c in doc.candidates]
    return doc.model_copy(update={"candidates": candidates, "variants": report.variants,
                                  "warnings": [*doc.warnings, *report.warnings]})
