"""`evalharness sweep`: the seed notebook's table — every grid point, every branch.

Each grid point × seed is one ordinary compare (same checkout, runs, resume
and equivalence checks). Every point is validated by the task before the
first run: an invalid combination is marked in the table ("not run: …")
while the others still run, instead of dying minutes in.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import pandas as pd

from harness import constants as C
from harness import export
from harness.commands.compare import run_compare
from harness.commands.options import call, common_run_options, compare_options, interruptible
from harness.errors import UsageProblem
from harness.executors import Executor
from harness.export import sweep as sweep_export
from harness.export.sweep import SweepCell
from harness.plan import CompareOptions, resolve_config
from harness.tasks import TaskConfig, split_list


log = logging.getLogger(__name__)


def split_values(text: str) -> list[str]:
    """Split on commas outside brackets: '[100]*10,[64, 32]' → ['[100]*10', '[64, 32]']."""
    return split_list(text, "--grid value list")


def parse_grid(specs: list[str]) -> dict[str, list[str]]:
    """`--grid key=v1,v2` options → {key: [v1, v2]}, keys in the order given."""
    grid: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        if not sep or not key.strip():
            raise UsageProblem(f"--grid {spec!r} is not key=v1,v2,... (e.g. --grid size=256,512)")
        if key.strip() in grid:
            raise UsageProblem(f"--grid {key.strip()} given twice")
        grid[key.strip()] = split_values(values)
    return grid


def parse_seeds(text: str | None) -> list[str]:
    if not text:
        return []
    seeds = split_values(text)
    if not all(s.isdigit() for s in seeds):
        raise UsageProblem(f"--seeds {text!r}: expected whole numbers like 0,1")
    return seeds


def grid_points(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def point_configs(base: TaskConfig, grid: dict[str, list[str]], seeds: list[str]) -> list[tuple[SweepCell, TaskConfig | None]]:
    """Every grid point × seed, validated up front: a refused point keeps its reason."""
    cells = []
    for point in grid_points(grid):
        for seed in seeds or [None]:
            sets = [f"{k}={v}" for k, v in point.items()] + ([f"seed={seed}"] if seed is not None else [])
            try:
                cells.append((SweepCell(point, seed), base.with_overrides(sets)))
            except UsageProblem as exc:
                cells.append((SweepCell(point, seed, refused=str(exc)), None))
    if all(config is None for _, config in cells):
        raise UsageProblem(f"no grid point is valid: {cells[0][0].refused}")
    return cells


def run_sweep(opts: CompareOptions, grid: dict[str, list[str]], seeds: list[str], out_dir: Path,
              executor: Executor | None = None) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Every valid grid point × seed as a compare; the table in every sweep format (the exporter registry's)
    written to out_dir as sweep.csv, sweep.md, sweep.png."""
    base = resolve_config(opts)
    cells = point_configs(base, grid, seeds)
    for i, (cell, config) in enumerate(cells):
        if config is None:
            log.warning("grid point %s not run: %s", cell.point, cell.refused)
            continue
        log.info("grid point %d/%d: %s seed=%s", i + 1, len(cells), cell.point, cell.seed)
        cell.doc = run_compare(replace(opts, overrides=[]), executor, config).doc
    table = sweep_export.build_table([c for c, _ in cells], base.task)
    outputs = sweep_export.SweepTable(table, base.task, list(grid), judged=not opts.quick)
    return table, export.write_sweep_outputs(outputs, export.sweep_targets(out_dir))


def problems(table: pd.DataFrame, grid_keys: list[str], baseline: str) -> list[str]:
    """Why the sweep fails (exit 1), one line each: the grid points not run, then every candidate that did not
    match or did not finish at a point. The baseline's own ending (a race's baseline contender can be
    unfinished) is in the table but fails nothing, as in `compare`."""
    found = []
    for _, row in table.iterrows():
        if str(row.get("note", "")).startswith("not run"):
            found.append(f"{_point(row, grid_keys)}: {row['note']}")
    for col in [c for c in table.columns if c.endswith((" match", " status")) and not c.startswith(f"{baseline} ")]:
        name = col.rsplit(" ", 1)[0]
        for _, row in table[table[col].notna() & (table[col] != "yes")].iterrows():
            found.append(f"{name} at {_point(row, grid_keys)}: {'NOT equivalent' if row[col] == 'NO' else row[col]}")
    return found


def _point(row: pd.Series, grid_keys: list[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in grid_keys)


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #


@click.command("sweep")
@click.argument("baseline")
@click.argument("candidates", nargs=-1, required=True)
@common_run_options
@click.option("--grid", "grid_specs", multiple=True, required=True, metavar="KEY=V1,V2", help="A parameter and its values, e.g. --grid size=256,512.")
@click.option("--seeds", help="Comma-separated seeds, each grid point run once per seed (averaged).")
@click.option("--repeat", type=click.IntRange(1, 100), default=1, show_default=True, help="Rounds per grid point (1 = no speed verdict).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Folder for sweep.csv / .md / .png (default under reports/).")
def command(baseline: str, candidates: tuple[str, ...], grid_specs: tuple[str, ...], seeds: str | None, out_dir: Path | None, **kw: Any) -> None:
    """Run every grid point for BASELINE and each CANDIDATE; write the table.

    Example: evalharness sweep baseline fused --grid size=128,256 --seeds 0,1
    """
    from harness.export.sweep import markdown_table

    grid = call(parse_grid, list(grid_specs))
    seed_list = call(parse_seeds, seeds)
    repeat = kw.pop("repeat")
    opts = compare_options(baseline, candidates, kw, repeat=repeat, quick=repeat == 1, variants=0)
    out = out_dir or Path(C.REPORTS_DIR) / ("sweep-" + "-".join([baseline, *candidates]).replace("/", "_"))
    with interruptible():
        table, paths = call(run_sweep, opts, grid, seed_list, out)
    click.echo(markdown_table(table))
    click.echo("written: " + ", ".join(str(p) for p in paths.values()))
    found = problems(table, list(grid), baseline)
    if found:
        raise click.ClickException(f"{len(found)} problem{'s' if len(found) > 1 else ''} in the sweep (the table "
                                   "above has them all):\n" + "\n".join(f"  - {line}" for line in found))
