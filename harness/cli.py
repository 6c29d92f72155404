"""Command line: parse, call the command module, map failures to exit codes.

Exit codes (click's convention): 0 all candidates equivalent and none slower
(for `check`: none fails its --fail-on rule), 1 a candidate is not
equivalent, crashed or slower (fails the gate), 2 bad usage or an
infrastructure failure — always one line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from harness import constants as C
from harness.environment import default_threads
from harness.errors import InfraError, UsageProblem
from harness.export import COMPARE_EXPORTERS

INTERRUPTED = "interrupted — rerun the same command to resume"
EXIT_INTERRUPTED = 130


class InfraFailure(click.ClickException):
    """Infrastructure failed (git, interpreter, baseline): exit 2, like a usage error."""

    exit_code = 2

    def format_message(self) -> str:
        return f"{self.message} (infrastructure failure)"


class PlainFormatter(logging.Formatter):
    """Log lines quote what runs wrote (a crash's last line): never a terminal escape of theirs."""

    def format(self, record: logging.LogRecord) -> str:
        from harness.export.safe import plain

        return plain(super().format(record))


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PlainFormatter("evalharness: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def echo_plain(line: str) -> None:
    """A result line on stdout; it quotes what runs wrote, so no terminal escapes pass."""
    from harness.export.safe import plain

    click.echo(plain(line))


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a command function, turning known failures into one-line click errors."""
    try:
        return fn(*args, **kwargs)
    except InfraError as exc:
        raise InfraFailure(str(exc)) from None
    except UsageProblem as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise InfraFailure(f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")) from None


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C or SIGTERM: the run in progress is killed (with every process it started) on the way out,
    and the command ends with one line and exit status 130; finished runs are kept for the resume."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        click.echo(INTERRUPTED, err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, previous)


def finite(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """NaN slips through every range check: refuse it (and infinities) at the command line."""
    if isinstance(value, float) and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="evalharness")
@click.option("-v", "--verbose", count=True, help="More logging.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and the result.")
def main(verbose: int, quiet: bool) -> None:
    """Check optimised branches of a training script against their baseline."""
    setup_logging(verbose, quiet)


def common_run_options(fn: Any) -> Any:
    """Options shared by compare and sweep: where branches come from and how runs are made."""
    options = [
        click.option("--repo", metavar="PATH_OR_URL", help="Git repository holding the branches (default: the task's built-in baseline + candidate patches)."),
        click.option("--python", "python", default=sys.executable, show_default="this interpreter", help="Interpreter for the runs."),
        click.option("--task", "task", metavar="NAME_OR_FILE", help="Built-in task name or task TOML (default: the built-in default task; `evalharness tasks` lists them)."),
        click.option("--preset", help="Task preset (default: the task's default_preset; `evalharness tasks` lists every task's presets)."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a task parameter, e.g. --set epochs=10."),
        click.option("--threshold", type=click.FloatRange(0, 10), default=C.DEFAULT_THRESHOLD, show_default=True, callback=finite, help="Smallest relative difference called faster/slower."),
        click.option("--timeout", "timeout_s", type=click.FloatRange(1, 7 * 24 * 3600), callback=finite, help=f"Seconds before a run is killed (default: {C.DEFAULT_TIMEOUT_S:g} for the baseline's first run, then ten times its wall time, at least a minute)."),
        click.option("--max-rss", "max_rss_mb", type=click.FloatRange(1, None), callback=finite, metavar="MB", help="Kill a run whose processes together use more memory than this (its own verdict)."),
        click.option("--pass-env", "pass_env", multiple=True, metavar="NAME", help="Pass this variable of your environment to the runs (by default only PATH and library paths are)."),
        click.option("--sandbox", type=click.Choice(["auto", "landlock", "none"]), default="auto", show_default=True, help="Confinement of the runs: the strongest available, Landlock (or fail), or none."),
        click.option("--threads", type=click.IntRange(1), default=default_threads(), show_default=True, help="OMP/MKL threads, the same for every run (default: one core fewer than the machine has, left to the harness and the OS)."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True, help="Device for every run, resolved once (part of the run key)."),
        click.option("--work-dir", type=click.Path(path_type=Path), default=C.WORK_DIR, show_default=True, help="Private clones, run folders and the result cache."),
        click.option("--fresh", is_flag=True, help="Start new runs instead of resuming an identical earlier compare."),
        click.option("--no-cache", is_flag=True, help="Neither reuse nor store outputs of identical earlier runs (result cache)."),
        click.option("--start", type=click.Choice(["warm", "cold"]), default="cold", show_default=True, help="warm: in a compare without timing rounds (--quick, the equivalence gate), every run forks from a process that already imported the task's `preload` modules (torch: ~2.7 s a run saved; no times are shown, and peak RSS includes the shared imports); cold: a fresh interpreter per run. A timed compare starts every run cold."),
        *executor_flags(),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def executor_flags() -> list[Any]:
    """--executor, offering every executor the registry finds, and each one's own options."""
    from harness.executors import registry

    known = registry.discover()
    where = ", ".join(f"{name} ({cls.summary})" for name, cls in known.items())
    options = [click.option("--executor", type=click.Choice(list(known)), default=registry.DEFAULT, show_default=True,
                            help=f"Where runs go: {where}.")]
    for cls in known.values():
        options += [click.option(o.flag, o.dest, type=o.type, default=o.default, show_default=o.default is not None,
                                 metavar=o.metavar, help=o.help) for o in cls.options]
    return options


def executor_settings(kw: dict[str, Any]) -> dict[str, Any]:
    """The chosen executor's own options, taken out of `kw`; another executor's option given on the command
    line is a usage error (its value would be silently ignored)."""
    from harness.executors import registry

    ctx = click.get_current_context()
    values = {dest: kw.pop(dest) for dest in registry.owners()}
    given = {dest: value for dest, value in values.items()
             if ctx.get_parameter_source(dest) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)}
    return call(registry.settings, kw["executor"], given)


def _options(baseline: str, candidates: tuple[str, ...], kw: dict[str, Any], **extra: Any) -> Any:
    from harness.plan import CompareOptions

    return CompareOptions(baseline=baseline, candidates=list(candidates), overrides=list(kw.pop("overrides")),
                          cache=not kw.pop("no_cache"), pass_env=list(kw.pop("pass_env")),
                          executor_options=executor_settings(kw), **kw, **extra)


def intake_options(fn: Any) -> Any:
    """Candidates handed in as patches rather than branches: compare and check take the same ones."""
    options = [
        click.option("--patch", "patches", multiple=True, metavar="NAME=FILE", help="A patch applied to the baseline, compared as candidate NAME."),
        click.option("--predictions", type=click.Path(path_type=Path, dir_okay=False), help='Attempts, one JSON line each: {"agent": ..., "attempt": N, "patch": ... or "ref": ...} (SWE-bench\'s model_name_or_path, model_patch, instance_id too).'),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@main.command()
@click.argument("baseline")
@click.argument("candidates", nargs=-1)
@common_run_options
@intake_options
@click.option("--repeat", type=click.IntRange(1, 100), default=C.DEFAULT_REPEAT, show_default=True, help="Interleaved rounds per branch.")
@click.option("--quick", is_flag=True, help="One run per branch; equivalence only, no speed verdict.")
@click.option("--variants", type=click.IntRange(0, 20), default=C.DEFAULT_VARIANTS, show_default=True, help="Held-out parameter variants every matching candidate is also checked on (0: off).")
@click.option("--report", type=click.Path(path_type=Path), help="Report path (default: markdown under reports/); a .html path gets the HTML report.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the comparison as JSON here.")
def compare(baseline: str, candidates: tuple[str, ...], report: Path | None, json_path: Path | None, **kw: Any) -> None:
    """Run BASELINE and each CANDIDATE under a fixed RNG state and judge them.

    Example: evalharness compare baseline gemini claude
    """
    from harness import export
    from harness.commands.compare import default_report_path, leaderboard_targets, run_compare, summary_lines
    from harness.judge.verdicts import exit_code
    from harness.plan import gather_attempts

    opts = _options(baseline, candidates, kw, patches=list(kw.pop("patches")))
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


@main.command()
@click.argument("baseline")
@click.argument("candidates", nargs=-1, required=True)
@common_run_options
@click.option("--grid", "grid_specs", multiple=True, required=True, metavar="KEY=V1,V2", help="A parameter and its values, e.g. --grid size=256,512.")
@click.option("--seeds", help="Comma-separated seeds, each grid point run once per seed (averaged).")
@click.option("--repeat", type=click.IntRange(1, 100), default=1, show_default=True, help="Rounds per grid point (1 = no speed verdict).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Folder for sweep.csv / .md / .png (default under reports/).")
def sweep(baseline: str, candidates: tuple[str, ...], grid_specs: tuple[str, ...], seeds: str | None, out_dir: Path | None, **kw: Any) -> None:
    """Run every grid point for BASELINE and each CANDIDATE; write the table.

    Example: evalharness sweep baseline fused --grid size=128,256 --seeds 0,1
    """
    from harness.commands.sweep import parse_grid, parse_seeds, problems, run_sweep
    from harness.export.sweep import markdown_table

    grid = call(parse_grid, list(grid_specs))
    seed_list = call(parse_seeds, seeds)
    repeat = kw.pop("repeat")
    opts = _options(baseline, candidates, kw, repeat=repeat, quick=repeat == 1, variants=0)
    out = out_dir or Path(C.REPORTS_DIR) / ("sweep-" + "-".join([baseline, *candidates]).replace("/", "_"))
    with interruptible():
        table, paths = call(run_sweep, opts, grid, seed_list, out)
    click.echo(markdown_table(table))
    click.echo("written: " + ", ".join(str(p) for p in paths.values()))
    found = problems(table, list(grid), baseline)
    if found:
        raise click.ClickException(f"{len(found)} problem{'s' if len(found) > 1 else ''} in the sweep (the table "
                                   "above has them all):\n" + "\n".join(f"  - {line}" for line in found))


@main.command()
@click.argument("baseline")
@click.argument("candidates", nargs=-1)
@common_run_options
@intake_options
@click.option("--fail-on", type=click.Choice(["nonequivalent", "slower", "not-faster"]), default="nonequivalent", show_default=True, help="What fails the gate; slower/not-faster add timed rounds.")
@click.option("--repeat", type=click.IntRange(1, 100), help=f"Timed rounds (default: none for nonequivalent, {C.DEFAULT_REPEAT} otherwise).")
@click.option("--junit", "junit_path", type=click.Path(path_type=Path, dir_okay=False), help="Write JUnit XML here (one test case per candidate).")
@click.option("--report", type=click.Path(path_type=Path), help="Markdown report path (default under reports/).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the comparison as JSON here.")
def check(baseline: str, candidates: tuple[str, ...], fail_on: str, repeat: int | None, junit_path: Path | None,
          report: Path | None, json_path: Path | None, **kw: Any) -> None:
    """Gate CANDIDATEs against BASELINE for CI: exit 1 when one fails.

    Appends a job summary when GITHUB_STEP_SUMMARY is set and annotates flagged
    diff lines when GITHUB_ACTIONS is true.

    Example: evalharness check main my-branch --repo . --junit reports/gate.xml
    """
    from harness.commands.check import run_check

    opts = _options(baseline, candidates, kw, patches=list(kw.pop("patches")))
    done = call(run_check, opts, fail_on, repeat, {"md": report, "junit": junit_path, "json": json_path})
    for line in done.lines:
        echo_plain(line)
    sys.exit(done.exit_code)


@main.command()
@click.argument("task", required=False, metavar="[NAME_OR_FILE]")
def tasks(task: str | None) -> None:
    """List the built-in tasks with their presets (or describe one task, built-in or a TOML file).

    Example: evalharness tasks (or: evalharness tasks my-task.toml)
    """
    from harness.commands.tasks import describe_all, describe_one

    click.echo(call(describe_all) if task is None else call(describe_one, task))


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--repo", default=".", show_default=True, metavar="PATH_OR_URL", help="The repository the command runs in.")
@click.option("--ref", default="HEAD", show_default=True, help="The branch, tag or commit to run it on.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default="task.toml", show_default=True, help="Where to write the task file.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--python", "python", default=sys.executable, show_default="this interpreter", help="Interpreter for the runs ({python} in the command).")
@click.option("--work-dir", type=click.Path(path_type=Path), default=C.WORK_DIR, show_default=True, help="Private clones and run folders.")
@click.option("--sandbox", type=click.Choice(["auto", "landlock", "none"]), default="auto", show_default=True, help="Confinement of the runs, as for compare.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(1, 7 * 24 * 3600), callback=finite, help=f"Seconds before a run is killed (default {C.DEFAULT_TIMEOUT_S:g}).")
def init(command: tuple[str, ...], out: Path, force: bool, ref: str, **kw: Any) -> None:
    """Run COMMAND twice on --ref, in the sandbox, and write a starting task file for it.

    The task file compares what both runs printed and wrote alike: metric lines
    (a step and values), labelled text, the files written. Put the command after --.

    Example: evalharness init --repo ~/src/charlm -- python train.py --steps 100
    """
    from harness.commands.init import run_init
    from harness.plan import CompareOptions

    if out.exists() and not force:
        raise click.UsageError(f"{out} exists: pass --force to overwrite it, or --out another path")
    opts = CompareOptions(baseline=ref, candidates=[], **kw)
    with interruptible():
        done = call(run_init, opts, list(command), out)
    click.echo(f"written: {done.path} ({len(done.proposal.metrics)} metric pattern(s), "
               f"{len(done.proposal.texts)} printed text(s), {len(done.proposal.artifacts)} artifact glob(s))")
    for why in done.proposal.left_out:
        click.echo(f"left out: {why}")


@main.group()
def cache() -> None:
    """The result cache: outputs of earlier runs, reused by run key."""


@cache.command("ls")
@click.option("--work-dir", type=click.Path(path_type=Path), default=C.WORK_DIR, show_default=True, help="The work folder holding the cache.")
def cache_ls(work_dir: Path) -> None:
    """List stored runs, most recently used first."""
    from tabulate import tabulate

    from harness.commands.cache import LS_HEADERS, list_entries

    rows = call(list_entries, work_dir)
    click.echo(tabulate(rows, headers=LS_HEADERS) if rows else "the result cache is empty")


@cache.command("prune")
@click.option("--work-dir", type=click.Path(path_type=Path), default=C.WORK_DIR, show_default=True, help="The work folder holding the cache.")
@click.option("--older-than", "older_than", type=click.FloatRange(0), metavar="DAYS", help="Remove entries not used for this many days.")
@click.option("--all", "everything", is_flag=True, help="Remove every entry.")
def cache_prune(work_dir: Path, older_than: float | None, everything: bool) -> None:
    """Remove stored runs (not used for --older-than DAYS, or --all)."""
    from harness.commands.cache import prune

    removed = call(prune, work_dir, older_than, everything)
    click.echo(f"removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'}")


@main.command()
@click.argument("compare_json", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(list(COMPARE_EXPORTERS)), default="md", show_default=True, help="Output format, any registered exporter: " + "; ".join(f"{name}: {e.what}" for name, e in COMPARE_EXPORTERS.items()) + ".")
@click.option("--out", type=click.Path(path_type=Path), help="Output path (default: beside the JSON, e.g. COMPARE.html).")
@click.option("--run-dir", type=click.Path(path_type=Path, file_okay=False), help="The compare's run folder, for images (default: the JSON's folder when it is a compare.json).")
def report(compare_json: Path, fmt: str, out: Path | None, run_dir: Path | None) -> None:
    """Re-render a stored COMPARE_JSON as a report, running nothing.

    Example: evalharness report reports/seed-1024.json --format html
    """
    from harness.commands.report import rerender

    click.echo(f"written: {call(rerender, compare_json, fmt, out, run_dir)}")


@main.command()
@click.argument("compare_json", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Markdown path; the CSV and plot go beside it (default: COMPARE-leaderboard.md beside the JSON).")
def leaderboard(compare_json: Path, out: Path | None) -> None:
    """The agents' leaderboard of a stored COMPARE_JSON: markdown, CSV and a plot.

    Example: evalharness leaderboard reports/agents-small.json
    """
    from harness.commands.leaderboard import write_leaderboard

    text, paths = call(write_leaderboard, compare_json, out)
    click.echo(text)
    click.echo("written: " + ", ".join(str(p) for p in paths))


@main.command("compare-results")
@click.argument("a_json", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("b_json", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--phase", "phases", multiple=True, metavar="NAME", help="Only this phase (repeatable; default: every judged phase, the primary first).")
def compare_results(a_json: Path, b_json: Path, phases: tuple[str, ...]) -> None:
    """Hold two stored compares against each other, branch by branch and phase by phase (pyperf's compare_to).

    From the raw per-round values each document keeps: A's median, B's median, how B differs, and whether
    that is significant (Mann-Whitney U, unpaired). The documents must have run the same task, preset and
    parameters.

    Example: evalharness compare-results old/compare.json new/compare.json
    """
    from harness.commands.compare_results import compare_documents

    click.echo(call(compare_documents, a_json, b_json, list(phases)))


@main.command("history")
@click.argument("compares", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--phase", metavar="NAME", help="The phase to follow (default: the task's primary phase).")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), help="Also draw the history (medians, interquartile ranges, steps) as a PNG here.")
def history_command(compares: tuple[Path, ...], phase: str | None, plot: Path | None) -> None:
    """Each branch's median over stored COMPARES (files, or folders holding them), oldest first, with its steps.

    asv's history view: one row per compare of one task, preset and parameters, one column per branch; a step is
    a significant change of median beyond the rounds' noise.

    Example: evalharness history .evalharness/runs --plot reports/history.png
    """
    from harness.commands.history import history

    click.echo(call(history, list(compares), phase, plot))
