"""The `sweep` command: the seed notebook's table — every grid point, every branch.

Each grid point × seed is one ordinary compare (same checkout, runs, resume
and equivalence checks), so a sweep row says both how fast and whether the
outputs still matched, answering "how does this scale to larger networks?".
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness import constants as C
from harness.cmd_compare import CompareOptions, run_compare
from harness.errors import UsageProblem
from harness.sweep_table import build_sweep_table, write_sweep_outputs

log = logging.getLogger(__name__)


def split_values(text: str) -> list[str]:
    """Split on commas outside brackets: '[100]*10,[64, 32]' → ['[100]*10', '[64, 32]']."""
    values, depth, current = [], 0, ""
    for ch in text:
        depth += {"[": 1, "(": 1, "]": -1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += ch
    values.append(current.strip())
    if depth != 0 or not all(values):
        raise UsageProblem(f"--grid value list {text!r} has an empty entry or unbalanced brackets")
    return values


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


def records_from(data: dict[str, Any], point: dict[str, str], seed: str | None) -> list[dict[str, Any]]:
    """One sweep record per branch from one compare document."""
    def median(timing: dict, phase: str) -> float | None:
        return timing[phase]["median"] if timing.get(phase) else None

    base = {"grid": point, "branch": data["baseline"], "seed": seed, "matched": None, "status": C.STATUS_OK,
            "visualise_s": median(data["baseline_timing"], "visualise"), "period_s": median(data["baseline_timing"], "period")}
    rows = [base]
    for c in data["candidates"]:
        rows.append({"grid": point, "branch": c["name"], "seed": seed, "matched": c["equivalent"], "status": c["status"],
                     "visualise_s": median(c["timing"], "visualise"), "period_s": median(c["timing"], "period")})
    return rows


def run_sweep(opts: CompareOptions, grid: dict[str, list[str]], seeds: list[str], out_dir: Path) -> tuple[Any, dict[str, Path]]:
    """Every grid point × seed as a compare; the table and plot written to out_dir."""
    records: list[dict[str, Any]] = []
    points = grid_points(grid)
    for i, point in enumerate(points):
        for seed in seeds or [None]:
            sets = [f"{k}={v}" for k, v in point.items()] + ([f"seed={seed}"] if seed is not None else [])
            log.info("grid point %d/%d: %s", i + 1, len(points), " ".join(sets))
            data = run_compare(replace(opts, overrides=[*opts.overrides, *sets]))
            records += records_from(data, point, seed)
    table = build_sweep_table(records, opts.baseline)
    return table, write_sweep_outputs(table, out_dir)
