"""`evalharness cache ls|prune`: what the result cache holds, and dropping what is no longer needed."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from harness import constants as C
from harness.cache import StoredEntry, store_of
from harness.commands.options import call
from harness.errors import UsageProblem


LS_HEADERS = ("key", "branch", "commit", "task", "parameters", "recorded", "last used", "size")


def list_entries(work_dir: Path) -> list[list[str]]:
    """One row per stored run, most recently used first (the table `cache ls` prints)."""
    return [_row(e) for e in store_of(work_dir).entries()]


def _row(e: StoredEntry) -> list[str]:
    params = " ".join(f"{k}={v}" for k, v in sorted(e.params.items()))
    used = datetime.fromtimestamp(e.last_used, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [e.key, e.name, e.sha[:12], e.task, params, e.recorded, used, _size(e.size_bytes)]


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def prune(work_dir: Path, older_than_days: float | None, everything: bool) -> list[str]:
    """Remove entries unused for the given days, or all of them; returns the keys removed."""
    if older_than_days is None and not everything:
        raise UsageProblem("say what to prune: --older-than DAYS or --all")
    return store_of(work_dir).prune(None if everything else older_than_days)


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #


@click.group("cache")
def command() -> None:
    """The result cache: outputs of earlier runs, reused by run key."""


@command.command("ls")
@click.option("--work-dir", type=click.Path(path_type=Path), default=C.WORK_DIR, show_default=True, help="The work folder holding the cache.")
def cache_ls(work_dir: Path) -> None:
    """List stored runs, most recently used first."""
    from tabulate import tabulate


    rows = call(list_entries, work_dir)
    click.echo(tabulate(rows, headers=LS_HEADERS) if rows else "the result cache is empty")


@command.command("prune")
@click.option("--work-dir", type=click.Path(path_type=Path), default=C.WORK_DIR, show_default=True, help="The work folder holding the cache.")
@click.option("--older-than", "older_than", type=click.FloatRange(0), metavar="DAYS", help="Remove entries not used for this many days.")
@click.option("--all", "everything", is_flag=True, help="Remove every entry.")
def cache_prune(work_dir: Path, older_than: float | None, everything: bool) -> None:
    """Remove stored runs (not used for --older-than DAYS, or --all)."""

    removed = call(prune, work_dir, older_than, everything)
    click.echo(f"removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'}")
