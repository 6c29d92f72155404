"""`evalharness leaderboard COMPARE.json`: the agents' board of a stored compare, running nothing."""

from __future__ import annotations

from pathlib import Path

import click

from harness import export
from harness.commands.options import call
from harness.errors import UsageProblem
from harness.export.leaderboard import table
from harness.judge.leaderboard import build, has_agents
from harness.results import CompareDocument



def default_out(json_path: Path) -> Path:
    """Beside the JSON: `<stem>-leaderboard.md` (and .csv, .png)."""
    return json_path.with_name(f"{json_path.stem}-leaderboard.md")


def write_leaderboard(json_path: Path, out: Path | None) -> tuple[str, list[Path]]:
    """Load the compare, write the board as markdown (+ its plot) and CSV; return the table and the paths."""
    doc = CompareDocument.load(json_path)
    if not has_agents(doc):
        raise UsageProblem(f"{json_path}: no candidate came with an agent (hand attempts in with --predictions)")
    md = out or default_out(json_path)
    targets = {"leaderboard-md": md, "leaderboard-csv": md.with_suffix(".csv")}
    export.check_writable(targets)
    return table(build(doc)), export.write_outputs(doc, targets, None) + [md.with_suffix(".png")]


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #


@click.command("leaderboard")
@click.argument("compare_json", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Markdown path; the CSV and plot go beside it (default: COMPARE-leaderboard.md beside the JSON).")
def command(compare_json: Path, out: Path | None) -> None:
    """The agents' leaderboard of a stored COMPARE_JSON: markdown, CSV and a plot.

    Example: evalharness leaderboard reports/agents-small.json
    """

    text, paths = call(write_leaderboard, compare_json, out)
    click.echo(text)
    click.echo("written: " + ", ".join(str(p) for p in paths))
