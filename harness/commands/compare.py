"""`evalharness compare`: checkout → run → collect → judge → export, in that order."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
from tabulate import tabulate

from harness import checkout, export, facts, layout, portable
from harness import constants as C
from harness.commands import harness_info
from harness.commands.options import call, common_run_options, compare_options, echo_plain, intake_options, interruptible
from harness.executors import Executor
from harness.executors.registry import make_executor
from harness.export import caveats
from harness.export import ratios
from harness.judge.analyse import judge_folder, load_case
from harness.judge.leaderboard import has_agents
from harness.plan import CompareOptions, plan_compare, resolve_config
from harness.results import CandidateVerdict, CompareDocument
from harness.schedule import execute_plan
from harness.tasks import TaskConfig


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompareRun:
    """A finished compare: its document and the run folder its relative paths point into."""

    doc: CompareDocument
    run_root: Path


def source_label(opts: CompareOptions) -> str:
    """Where the branches came from, without an absolute machine path."""
    if not opts.repo:
        return "built-in (the task's baseline folder + candidate patches)"
    local = Path(opts.repo)
    return local.name if local.exists() else opts.repo


def executor_for(opts: CompareOptions, given: Executor | None) -> AbstractContextManager[Executor]:
    """The executor given (whoever made it closes it), or the one --executor names, closed after the runs."""
    if given is not None:
        return nullcontext(given)
    return make_executor(opts.executor, opts.executor_options, opts.threads)


def run_compare(opts: CompareOptions, executor: Executor | None = None, config: TaskConfig | None = None) -> CompareRun:
    """Plan (locking the run folder), execute, check held-out variants, analyse; compare.json goes in the run folder.

    A --repo that is no repository is refused before the work folder exists;
    the work folder is made with its .gitignore before anything goes in it.
    An executor made here (none given) is closed when the runs are done.
    """
    if opts.repo:
        checkout.check_repo_arg(opts.repo)
    layout.make_work_dir(opts.work_dir)
    plan = plan_compare(opts, config)
    try:
        with executor_for(opts, executor) as running:
            log.info("run folder %s (confinement: %s)", plan.run_root, plan.confinement.level)
            execution = execute_plan(plan, running)
        created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        aliases = portable.aliases(plan.running.work_dir, plan.python_paths)
        facts.store(plan, execution, harness_info(), source_label(opts), created, aliases)
        doc = document_of(plan.run_root)
        export.write_outputs(doc, {"json": plan.run_root / C.COMPARE_JSON}, plan.run_root)
    finally:
        plan.release()
    return CompareRun(doc, plan.run_root)


def document_of(run_root: Path) -> CompareDocument:
    """A compare's document from its run folder alone (judge.json and the results), machine paths aliased."""
    return portable.scrub_document(judge_folder(run_root), load_case(run_root).facts.aliases)


def report_names(opts: CompareOptions) -> str:
    """The default report's name part: baseline, candidates, --patch names and the predictions file's stem."""
    handed_in = [p.partition("=")[0] for p in opts.patches] + ([opts.predictions.stem] if opts.predictions else [])
    return "-".join([opts.baseline, *opts.candidates, *handed_in]).replace("/", "_")


def workload_name(opts: CompareOptions) -> str:
    """'task-preset' of the compare, so two tasks with the same branch names never share a report."""
    config = resolve_config(opts)
    return f"{config.task.name}-{config.preset or 'default'}"


def default_report_path(opts: CompareOptions) -> Path:
    return Path(C.REPORTS_DIR) / f"compare-{workload_name(opts)}-{report_names(opts)}.md"


def leaderboard_targets(doc: CompareDocument, report: Path) -> dict[str, Path]:
    """With agents, the leaderboard's CSV beside the report (its table and plot are inside the report)."""
    if not has_agents(doc):
        return {}
    return {"leaderboard-csv": report.with_name(f"{report.stem}-leaderboard.csv")}


SUMMARY_HEADERS = ("candidate", "verdict", "speed", "diagnosis")


def speed_cell(doc: CompareDocument, c: CandidateVerdict) -> str:
    """The primary phase's judged speedup; a --quick run's ratio labelled as an indication; else a dash
    (the same rule as the report's: harness.export.ratios)."""
    primary = doc.task.primary_phase
    v, base, cand = c.speed.get(primary), doc.baseline_timing.get(primary), c.timing.get(primary)
    if (hint := ratios.indicative(v, c, doc.settings.quick, base, cand)) is not None:
        return f"{primary} {hint:.2f}× ({ratios.INDICATIVE})"
    if (value := ratios.speedup(v, base, cand)) is not None:
        return f"{primary} {value:.2f}×"
    return f"{primary} – ({ratios.DISAGREE})" if ratios.contradicted(v, base, cand) else f"{primary} –"


def summary_lines(doc: CompareDocument) -> list[str]:
    """The terminal verdict table: a header, one row per candidate (the noise floor last), then the warnings.

    tabulate sizes every column to its longest cell, so a long verdict ("patch
    does not apply: …") cannot push the columns after it out of line.
    """
    primary = doc.task.primary_phase
    rows = []
    for c in doc.candidates:
        rows.append([c.name, c.verdict, speed_cell(doc, c), c.diagnosis])
    if doc.noise_floor is not None:
        rows.append(["(noise floor)", "baseline vs baseline", f"{primary} ±{doc.noise_floor.floor:.1%}", ""])
    return table_lines(SUMMARY_HEADERS, rows) + [f"warning: {w}" for w in caveats.listed(doc)]


def table_lines(headers: Sequence[str], rows: list[list[str]]) -> list[str]:
    """A plain headed table for the terminal and CI logs: one line per row (whitespace in a cell flattened)."""
    cells = [[" ".join(str(cell).split()) for cell in row] for row in rows]
    return tabulate(cells, headers=list(headers), disable_numparse=True).splitlines()


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #


@click.command("compare")
@click.argument("baseline")
@click.argument("candidates", nargs=-1)
@common_run_options
@intake_options
@click.option("--repeat", type=click.IntRange(1, 100), default=C.DEFAULT_REPEAT, show_default=True, help="Interleaved rounds per branch.")
@click.option("--quick", is_flag=True, help="One run per branch; equivalence only, no speed verdict.")
@click.option("--variants", type=click.IntRange(0, 20), default=C.DEFAULT_VARIANTS, show_default=True, help="Held-out parameter variants every matching candidate is also checked on (0: off).")
@click.option("--report", type=click.Path(path_type=Path), help="Report path (default: markdown under reports/); a .html path gets the HTML report.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the comparison as JSON here.")
def command(baseline: str, candidates: tuple[str, ...], report: Path | None, json_path: Path | None, **kw: Any) -> None:
    """Run BASELINE and each CANDIDATE under a fixed RNG state and judge them.

    Example: evalharness compare baseline gemini claude
    """
    from harness import export
    from harness.judge.verdicts import exit_code
    from harness.plan import gather_attempts

    opts = compare_options(baseline, candidates, kw, patches=list(kw.pop("patches")))
    call(gather_attempts, opts)
    report = report or call(default_report_path, opts)
    targets = {export.report_format(report): report}
    if json_path is not None:
        targets["json"] = json_path
    call(export.check_writable, targets)
    with interruptible():
        done = call(run_compare, opts)
        call(export.write_outputs, done.doc, targets | leaderboard_targets(done.doc, report), done.run_root)
    for line in summary_lines(done.doc):
        echo_plain(line)
    sys.exit(exit_code(done.doc.candidates))
