"""`evalharness report COMPARE.json`: re-render a stored compare, running nothing."""

from __future__ import annotations

from pathlib import Path

import click

from harness import constants as C
from harness import export
from harness.commands.options import call
from harness.export import COMPARE_EXPORTERS
from harness.results import CompareDocument



def default_run_root(json_path: Path) -> Path | None:
    """A compare.json inside its run folder knows where its images are."""
    return json_path.parent if json_path.name == C.COMPARE_JSON else None


def rerender(json_path: Path, fmt: str, out: Path | None, run_root: Path | None) -> Path:
    """Load, validate, and write the document in `fmt`, any registered format (beside the JSON, named by the
    format's suffix, unless `out` is given); the path written (a histogram set: its first PNG)."""
    doc = CompareDocument.load(json_path)
    target = out or export.default_path(json_path, fmt)
    export.check_writable({fmt: target})
    return export.write_outputs(doc, {fmt: target}, run_root or default_run_root(json_path))[0]


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #


@click.command("report")
@click.argument("compare_json", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(list(COMPARE_EXPORTERS)), default="md", show_default=True, help="Output format, any registered exporter: " + "; ".join(f"{name}: {e.what}" for name, e in COMPARE_EXPORTERS.items()) + ".")
@click.option("--out", type=click.Path(path_type=Path), help="Output path (default: beside the JSON, e.g. COMPARE.html).")
@click.option("--run-dir", type=click.Path(path_type=Path, file_okay=False), help="The compare's run folder, for images (default: the JSON's folder when it is a compare.json).")
def command(compare_json: Path, fmt: str, out: Path | None, run_dir: Path | None) -> None:
    """Re-render a stored COMPARE_JSON as a report, running nothing.

    Example: evalharness report reports/seed-1024.json --format html
    """

    click.echo(f"written: {call(rerender, compare_json, fmt, out, run_dir)}")
