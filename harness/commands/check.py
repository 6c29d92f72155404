"""`evalharness check`: the compare pipeline as a CI gate.

By default the gate asks only "does the candidate compute the same thing?":
one run per branch (compare's --quick), where the baseline's run is usually
reused from the result cache. `--fail-on slower|not-faster` asks about speed
too; then the normal compare rounds run, fresh and paired, under the same
noise rules. The outputs are the ones CI systems read: JUnit XML, the GitHub
job summary (when `GITHUB_STEP_SUMMARY` is set) and annotations on the
flagged diff lines (when `GITHUB_ACTIONS` is true).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from harness import constants as C
from harness import export
from harness.commands.compare import report_names, run_compare, table_lines, workload_name
from harness.commands.options import call, common_run_options, compare_options, echo_plain, intake_options
from harness.executors import Executor
from harness.export import caveats, github
from harness.judge import gate
from harness.plan import CompareOptions, gather_attempts
from harness.results import CompareDocument



@dataclass(frozen=True)
class CheckResult:
    """A finished gate: the document, what to print, the exit status."""

    doc: CompareDocument
    lines: list[str]
    exit_code: int


def gate_options(opts: CompareOptions, fail_on: str, repeat: int | None) -> CompareOptions:
    """One run each for the equivalence gate (unless --repeat asks for timings); compare rounds for speed."""
    speed = gate.needs_speed(fail_on) or repeat is not None
    rounds = repeat if repeat is not None else C.DEFAULT_REPEAT
    return replace(opts, fail_on=fail_on, quick=not speed, repeat=rounds)


def default_report_path(opts: CompareOptions) -> Path:
    return Path(C.REPORTS_DIR) / f"check-{workload_name(opts)}-{report_names(opts)}.md"


def output_targets(opts: CompareOptions, paths: dict[str, Path | None], environ: dict[str, str]) -> dict[str, Path]:
    """Every output asked for (format → path; the report always), plus the job summary under GitHub Actions."""
    report = paths.get("md") or default_report_path(opts)
    targets = {export.report_format(report): report}  # the report's suffix picks its renderer (.html: HTML)
    targets.update({fmt: path for fmt, path in paths.items() if path is not None and fmt != "md"})
    if environ.get("GITHUB_STEP_SUMMARY"):
        targets["github"] = Path(environ["GITHUB_STEP_SUMMARY"])
    return targets


def gate_lines(doc: CompareDocument) -> list[str]:
    """A headed table, one row per candidate (pass/fail, verdict, speed only where judged), the warnings, the decision.

    One run each judges no speed, and a baseline restored from the cache ran at
    another time: quoting a single-run speedup there would be noise, so none is.
    """
    failed, primary, judged = gate.failures(doc), doc.task.primary_phase, not doc.settings.quick
    headers = ["gate", "candidate", "verdict", *(["speed"] if judged else []), "diagnosis"]
    rows = [["FAIL" if c.name in failed else "pass", c.name, c.verdict,
             *([gate.speed_words(c, primary)] if judged else []), c.diagnosis] for c in doc.candidates]
    if doc.noise_floor is not None:
        floor = f"{primary} ±{doc.noise_floor.floor:.1%}"
        rows.append(["", "(noise floor)", "baseline vs baseline", *([floor] if judged else []), ""])
    lines = table_lines(headers, rows) + [f"warning: {w}" for w in caveats.for_gate(doc)]
    rule = gate.rule_of(doc)
    decision = (f"gate (fail on {rule}): {len(failed)} of {len(doc.candidates)} failed: " + ", ".join(failed)
                if failed else f"gate (fail on {rule}): all {len(doc.candidates)} passed")
    return [*lines, decision]


def run_check(opts: CompareOptions, fail_on: str, repeat: int | None, paths: dict[str, Path | None],
              executor: Executor | None = None, environ: dict[str, str] | None = None) -> CheckResult:
    """Validate, run the compare under the gate's options, write every output, decide.

    `paths`: format → path the user asked for (md, junit, json; None = not asked).
    """
    environ = dict(os.environ) if environ is None else environ
    gather_attempts(opts)  # names, --patch and --predictions checked before any output or run
    gated = gate_options(opts, gate.check_rule(fail_on), repeat)
    targets = output_targets(gated, paths, environ)
    export.check_writable(targets)
    done = run_compare(gated, executor)
    export.write_outputs(done.doc, targets, done.run_root)
    lines = gate_lines(done.doc)
    if environ.get("GITHUB_ACTIONS") == "true":
        lines += github.annotations(done.doc)
    return CheckResult(done.doc, lines, gate.exit_code(done.doc))


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #


@click.command("check")
@click.argument("baseline")
@click.argument("candidates", nargs=-1)
@common_run_options
@intake_options
@click.option("--fail-on", type=click.Choice(["nonequivalent", "slower", "not-faster"]), default="nonequivalent", show_default=True, help="What fails the gate; slower/not-faster add timed rounds.")
@click.option("--repeat", type=click.IntRange(1, 100), help=f"Timed rounds (default: none for nonequivalent, {C.DEFAULT_REPEAT} otherwise).")
@click.option("--junit", "junit_path", type=click.Path(path_type=Path, dir_okay=False), help="Write JUnit XML here (one test case per candidate).")
@click.option("--report", type=click.Path(path_type=Path), help="Markdown report path (default under reports/).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the comparison as JSON here.")
def command(baseline: str, candidates: tuple[str, ...], fail_on: str, repeat: int | None, junit_path: Path | None,
          report: Path | None, json_path: Path | None, **kw: Any) -> None:
    """Gate CANDIDATEs against BASELINE for CI: exit 1 when one fails.

    Appends a job summary when GITHUB_STEP_SUMMARY is set and annotates flagged
    diff lines when GITHUB_ACTIONS is true.

    Example: evalharness check main my-branch --repo . --junit reports/gate.xml
    """

    opts = compare_options(baseline, candidates, kw, patches=list(kw.pop("patches")))
    done = call(run_check, opts, fail_on, repeat, {"md": report, "junit": junit_path, "json": json_path})
    for line in done.lines:
        echo_plain(line)
    sys.exit(done.exit_code)
