"""The solver race's hooks: its parameters, its phases, and what its table means next to the seed's.

The race has no outputs to compare: two solvers take different paths to the
same loss target. What matters is how each run ended (target reached, the
loss-decrease invariant broken, or unfinished at the cap), how many steps,
gradient evaluations and Hessian-vector products it took, and its time to
target — read from the harness-visible log, like every other task.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness.errors import UsageProblem
from harness.tasks.base import Event

IMPLEMENTATIONS = ("ours", "package")
SOLVERS = ("adaptive", "euler")
MAX_CLASSES = 10  # digits and CIFAR-10 both have ten

#: The seed notebook's table (LambdaLabs A100, seconds): (n_train, n_classes) → (euler, adaptive).
SEED_A100 = {(64, 2): (4.38303, 11.4608), (64, 4): (14.0392, 13.9129), (64, 10): (70.4531, 12.2033),
             (256, 2): (10.3577, 68.1163), (256, 4): (33.0347, 88.1126), (256, 10): (182.06, 81.9457)}


class ParamError(UsageProblem):
    """A contender or grid point the race script would refuse; refused before any run."""


def validate(params: dict[str, str]) -> None:
    """Names and ranges race.py accepts, checked before the first run (and for every grid point)."""
    for key, allowed in (("impl", IMPLEMENTATIONS), ("solver", SOLVERS)):
        if params[key] not in allowed:
            raise ParamError(f"{key}={params[key]!r}: expected one of {', '.join(allowed)}")
    if not 2 <= int(params["n_classes"]) <= MAX_CLASSES:
        raise ParamError(f"n_classes={params['n_classes']}: expected 2 to {MAX_CLASSES}")
    for key in ("n_train", "threshold", "max_step", "cap_seconds"):
        if not float(params[key]) > 0:
            raise ParamError(f"{key}={params[key]} must be positive")
    if int(params["n_train"]) < int(params["n_classes"]):
        raise ParamError(f"n_train={params['n_train']} is fewer examples than n_classes={params['n_classes']}")


def prepare_inputs(config: Any, baseline_tree: Path, dest: Path) -> dict[str, str]:
    """`data` is 'digits' (inside scikit-learn) or a folder the user points at: nothing to copy."""
    return {}


def phases(events: list[Event], params: dict[str, str]) -> dict[str, float | None]:
    """solve: from the contender's start line to its last step; step: the mean time per step."""
    start = next((e.ts for e in events if e.kind == "start"), None)
    steps = [e for e in events if e.kind == "step"]
    if start is None or not steps:
        return {"solve": None, "step": None}
    solve = steps[-1].ts - start
    return {"solve": solve, "step": solve / len(steps)}


def sweep_axis(point: dict[str, str]) -> tuple[str, float] | None:
    """The seed's question is how time grows with the number of classes."""
    if "n_classes" in point:
        return "number of classes", float(point["n_classes"])
    return None


# --------------------------------------------------------------------------- #
# Who wins where, and does the pattern match the seed's A100 table?
# --------------------------------------------------------------------------- #


def _method(contender: str) -> str:
    """'race:impl=ours,solver=euler' → 'euler' (the method, whichever implementation)."""
    return "euler" if "solver=euler" in contender else "adaptive" if "solver=adaptive" in contender else contender


def _times(row: Any, contenders: list[str]) -> dict[str, float]:
    """Finished contenders' mean time to target in this row (NaN cells, i.e. unfinished, left out)."""
    out = {}
    for name in contenders:
        value = row.get(f"{name} solve s")
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[name] = float(value)
    return out


def _seed_winner(n_train: int, n_classes: int) -> str | None:
    seed = SEED_A100.get((n_train, n_classes))
    if seed is None:
        return None
    return "euler" if seed[0] < seed[1] else "adaptive"


def _cell_line(row: Any, contenders: list[str]) -> tuple[str, bool | None]:
    times = _times(row, contenders)
    n_train, n_classes = int(row["n_train"]), int(row["n_classes"])
    if not times:
        return f"- {n_train} × {n_classes}: no contender reached the target", None
    winner = min(times, key=times.get)
    ours = _method(winner)
    seed = _seed_winner(n_train, n_classes)
    agree = None if seed is None else ours == seed
    verdict = "" if seed is None else f"; the seed's A100 table: {seed} ({'same' if agree else 'different'})"
    return f"- {n_train} × {n_classes}: fastest {winner} ({times[winner]:.3g} s), method {ours}{verdict}", agree


def sweep_summary(table: Any, grid_keys: list[str]) -> str:
    """Which contender wins each cell, and how that pattern compares with the seed's (not its seconds)."""
    if not {"n_train", "n_classes"} <= set(grid_keys):
        return ""
    contenders = [c[: -len(" solve s")] for c in table.columns if c.endswith(" solve s")]
    lines, agreements = ["Who reaches the target first, cell by cell:", ""], []
    for _, row in table.iterrows():
        line, agree = _cell_line(row, contenders)
        lines.append(line)
        if agree is not None:
            agreements.append(agree)
    if agreements:
        lines += ["", f"The winning method matches the seed's A100 table in {sum(agreements)} of {len(agreements)} "
                      "cells (the pattern, not the seconds: this machine is a 2-core CPU)."]
    return "\n".join(lines)
