"""`evalharness tasks [NAME_OR_FILE]`: the built-in tasks and their presets, so --task and --preset need no guess.

Until this command, presets showed up only in the error for a wrong one. Each
task is listed with its description, every preset with the parameters it sets
over the task's defaults (the default preset marked), and the defaults
themselves; a TOML file given by path is described the same way.
"""

from __future__ import annotations

import click
from tabulate import tabulate

from harness.commands.options import call
from harness.tasks import Task, builtin_tasks, default_task_path, load_task, locate_task


HEADERS = ("preset", "sets (over the defaults)")
FOOTER = ("--task NAME (or a task TOML file) picks the task, --preset NAME the preset, --set KEY=VALUE any "
          "parameter; without them: the default task and its default preset")


def describe_all() -> str:
    """Every built-in task, the default one first, then the usage line."""
    default = default_task_path().resolve()
    paths = sorted(builtin_tasks().values(), key=lambda p: (p.resolve() != default, p.parent.name))
    return "\n\n".join([*(describe(load_task(str(p)), p.resolve() == default) for p in paths), FOOTER])


def describe_one(spec: str) -> str:
    """One task, by built-in name, folder or TOML path (a wrong name gets the did-you-mean error)."""
    path = locate_task(spec)
    return describe(load_task(str(path)), path.resolve() == default_task_path().resolve())


def describe(task: Task, is_default: bool) -> str:
    """'name (default task): description', the presets table, the defaults."""
    title = f"{task.name}{' (default task)' if is_default else ''}" + (f": {task.description}" if task.description else "")
    rows = [[f"{name}{' (default)' if name == task.default_preset else ''}", _sets(values) or "(the defaults)"]
            for name, values in task.presets.items()]
    table = tabulate(rows, headers=HEADERS, disable_numparse=True) if rows else "no presets"
    return "\n".join([title, table, f"defaults: {_sets(task.defaults) or 'none'}"])


def _sets(values: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in values.items())


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #


@click.command("tasks")
@click.argument("task", required=False, metavar="[NAME_OR_FILE]")
def command(task: str | None) -> None:
    """List the built-in tasks with their presets (or describe one task, built-in or a TOML file).

    Example: evalharness tasks (or: evalharness tasks my-task.toml)
    """

    click.echo(call(describe_all) if task is None else call(describe_one, task))
