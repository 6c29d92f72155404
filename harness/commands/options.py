"""What every command line shares: one-line errors and exit codes, Ctrl-C, and the option sets several
commands take (where branches come from and how runs are made; attempts handed in as patches).

Each command module under `harness/commands/` owns its own click command (its `command`) and builds it from
these; `cli.py` only finds the commands and sets up logging.
"""

from __future__ import annotations

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

INTERRUPTED = "interrupted — rerun the same command to resume"
EXIT_INTERRUPTED = 130


class InfraFailure(click.ClickException):
    """Infrastructure failed (git, interpreter, baseline): exit 2, like a usage error."""

    exit_code = 2

    def format_message(self) -> str:
        return f"{self.message} (infrastructure failure)"

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

def compare_options(baseline: str, candidates: tuple[str, ...], kw: dict[str, Any], **extra: Any) -> Any:
    """The parsed CompareOptions of a command that runs a compare (compare, check, sweep)."""
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
