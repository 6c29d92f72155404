"""Command line: the `evalharness` group, its logging, and where its commands are.

Every command is a module of `harness/commands/` that owns its click command (`command`, built from the
shared option sets in `commands/options.py`) and the function it calls; the group finds them by name and
imports one only when it runs (or when --help lists them), so starting one command loads no other's
libraries.

Exit codes (click's convention): 0 all candidates equivalent and none slower
(for `check`: none fails its --fail-on rule), 1 a candidate is not
equivalent, crashed or slower (fails the gate), 2 bad usage or an
infrastructure failure — always one line on stderr, never a traceback.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys

import click

from harness import commands
from harness.commands.options import INTERRUPTED, InfraFailure

__all__ = ["main", "INTERRUPTED", "InfraFailure"]  # the CLI's words, for callers and tests

#: Modules of harness/commands that are not commands.
NOT_COMMANDS = {"options"}


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


def command_names() -> dict[str, str]:
    """Command name → its module under harness/commands (compare_results → compare-results), found by listing
    the package: a new command is a new module, nothing to register."""
    found = (m.name for m in pkgutil.iter_modules(commands.__path__) if m.name not in NOT_COMMANDS)
    return {name.replace("_", "-"): name for name in found}


class CommandModules(click.Group):
    """A group whose commands are the `command` of each module in harness/commands, imported on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(command_names())

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        module = command_names().get(cmd_name)
        if module is None:
            return None
        return importlib.import_module(f"harness.commands.{module}").command


@click.group(cls=CommandModules, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="evalharness")
@click.option("-v", "--verbose", count=True, help="More logging.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and the result.")
def main(verbose: int, quiet: bool) -> None:
    """Check optimised branches of a training script against their baseline."""
    setup_logging(verbose, quiet)
