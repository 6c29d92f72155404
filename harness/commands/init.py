"""`evalharness init`: a starting task file for a repository the harness has never seen.

It runs the user's command twice, in the same sandbox every compare uses, on
one commit of the repository, reads what both runs printed and wrote
(`tasks.propose`), and writes a commented task TOML that `compare --task`
accepts as is: the command verbatim (the interpreter as {python}), the metric
lines, the printed text and the files to compare, and what it left out and why.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from harness import collect, layout, runner
from harness import constants as C
from harness.commands.options import call, finite, interruptible
from harness.errors import UsageProblem
from harness.executors.registry import make_executor
from harness.plan import CompareOptions, Plan, plan_compare
from harness.results import RunResult
from harness.rounds import run_spec
from harness.tasks.propose import Proposal, propose
from harness.tasks.schema import PLACEHOLDER


PYTHONS = ("python", "python3")
#: The task the two runs go through: every line with a number is an event, every new file an artifact.
PROBE_TASK = """name = {name}
command = {command}
[artifacts]
glob = "*"  # a relative pattern matches from the right: every file, at any depth
root = "tree"
[log]
metrics = "any"
[log.patterns]
any = '(?P<step>\\d+)'
[judge]
phases = []
"""


@dataclass(frozen=True)
class Proposed:
    """What init wrote: the task file, and what it found."""

    path: Path
    proposal: Proposal


def template_command(command: list[str]) -> list[str]:
    """The user's command as a task's argv: the interpreter becomes {python} (the runs' own, --python)."""
    if not command:
        raise UsageProblem("give the command to run after --, e.g. evalharness init -- python train.py")
    for arg in command:
        if PLACEHOLDER.search(arg):
            raise UsageProblem(f"argument {arg!r} looks like a {{placeholder}}: write it in the task file by hand")
    head = Path(command[0]).name
    return ["{python}", *command[1:]] if head in PYTHONS or command[0] == sys.executable else list(command)


def toml_string(text: str) -> str:
    """A TOML string: literal ('...') where it can be, so regexes keep their backslashes readable."""
    return f"'{text}'" if "'" not in text and "\n" not in text else json.dumps(text)


def probe_task(folder: Path, command: list[str], name: str) -> Path:
    path = folder / "probe.toml"
    path.write_text(PROBE_TASK.format(name=json.dumps(name), command=json.dumps(command)), encoding="utf-8")
    return path


def two_runs(opts: CompareOptions) -> tuple[Plan, list[RunResult]]:
    """The command run twice on the baseline commit, confined as every run of a compare is."""
    plan = plan_compare(opts)
    try:
        with make_executor(opts.executor, opts.executor_options, opts.threads) as executor:
            runs = [runner.run_or_resume(plan, executor, run_spec(plan, opts.baseline, rep))[0] for rep in (0, 1)]
    finally:
        plan.release()
    for run in runs:
        if not run.ok:
            tail = run.stderr_tail.strip().splitlines()
            raise UsageProblem(f"the command {run.status} ({tail[-1] if tail else 'no stderr'}): make it run on "
                               f"{opts.baseline} first — see {plan.run_root}")
    return plan, runs


def run_init(opts: CompareOptions, command: list[str], out: Path) -> Proposed:
    """Run, read, propose, write the task file."""
    argv = template_command(command)
    name = Path(opts.repo or ".").resolve().name or "task"
    with tempfile.TemporaryDirectory(prefix="evalharness-init-") as tmp:
        task = probe_task(Path(tmp), argv, name)
        plan, runs = two_runs(_probe_options(opts, task))
        logs = [collect.stamped_lines(plan.run_root / layout.rep_dir(run.label, run.rep, run.sha)) for run in runs]
    files = tuple({a.name: a.sha256 or "" for a in run.artifacts} for run in runs)
    found = propose(logs[0], logs[1], files)  # type: ignore[arg-type]
    if not (found.patterns or found.texts or found.artifacts):
        raise UsageProblem("nothing to compare: the two runs printed no metric line or labelled text alike and "
                           f"wrote no file alike ({'; '.join(found.left_out) or 'nothing printed or written'})")
    out.write_text(render(found, argv, name, opts), encoding="utf-8")
    return Proposed(out, found)


def _probe_options(opts: CompareOptions, task: Path) -> CompareOptions:
    return replace(opts, task=str(task), candidates=[], quick=True, variants=0, cache=False, fresh=True, alone=True)


def render(found: Proposal, argv: list[str], name: str, opts: CompareOptions) -> str:
    """The task file, with a comment on every part saying where it came from."""
    lines = [f"# Proposed by `evalharness init` from two runs of {' '.join(argv)} on {opts.baseline}.",
             "# Read it, adjust it, then: evalharness compare BASELINE CANDIDATE --repo REPO --task THIS_FILE",
             f"name = {json.dumps(name)}", f"command = {json.dumps(argv)}", ""]
    lines += _artifacts(found) + _log(found) + _judge(found) + _left_out(found)
    return "\n".join(lines).rstrip() + "\n"


def _artifacts(found: Proposal) -> list[str]:
    if not found.artifacts:
        return ["# No file was written identically by both runs: none is compared.", ""]
    globs = found.artifacts[0] if len(found.artifacts) == 1 else found.artifacts
    return ["# Files both runs wrote byte-identically, in the run's own tree: compared by bytes (PNGs by pixels).",
            "[artifacts]", f"glob = {json.dumps(globs)}", ""]


def _log(found: Proposal) -> list[str]:
    lines = ["# Lines both runs printed. Metric lines: every named group is compared at every step.", "[log]",
             f"step_key = {json.dumps(found.step_key)}"]
    if found.timestamp_format:
        lines.append(f"timestamp_format = {json.dumps(found.timestamp_format)}  # the lines' own time: a cross-check")
    if found.metrics:
        lines.append(f"metrics = {json.dumps(found.metrics)}")
    if found.patterns:
        lines += ["[log.patterns]", *(f"{k} = {toml_string(v)}" for k, v in found.patterns.items())]
    if found.texts:
        lines += ["# Printed text compared verbatim, line by line.", "[log.text]",
                  *(f"{k} = {toml_string(v)}" for k, v in found.texts.items())]
    return [*lines, ""]


def _judge(found: Proposal) -> list[str]:
    if found.metrics:
        return ["# Timed from the metric lines: `span` (first to last) is the verdict, `step` the time per step.",
                "[judge]", 'phases = ["span", "step"]', 'primary = "span"', ""]
    return ["# No metric lines: only the wall clock is timed.", "[judge]", "phases = []", ""]


def _left_out(found: Proposal) -> list[str]:
    return ["# Seen but not compared:", *(f"#   {why}" for why in found.left_out)] if found.left_out else []


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #


@click.command("init", context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--repo", default=".", show_default=True, metavar="PATH_OR_URL", help="The repository the command runs in.")
@click.option("--ref", default="HEAD", show_default=True, help="The branch, tag or commit to run it on.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default="task.toml", show_default=True, help="Where to write the task file.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--python", "python", default=sys.executable, show_default="this interpreter", help="Interpreter for the runs ({python} in the command).")
@click.option("--work-dir", type=click.Path(path_type=Path), default=C.WORK_DIR, show_default=True, help="Private clones and run folders.")
@click.option("--sandbox", type=click.Choice(["auto", "landlock", "none"]), default="auto", show_default=True, help="Confinement of the runs, as for compare.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(1, 7 * 24 * 3600), callback=finite, help=f"Seconds before a run is killed (default {C.DEFAULT_TIMEOUT_S:g}).")
def command(command: tuple[str, ...], out: Path, force: bool, ref: str, **kw: Any) -> None:
    """Run COMMAND twice on --ref, in the sandbox, and write a starting task file for it.

    The task file compares what both runs printed and wrote alike: metric lines
    (a step and values), labelled text, the files written. Put the command after --.

    Example: evalharness init --repo ~/src/charlm -- python train.py --steps 100
    """
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
