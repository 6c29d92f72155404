"""The polytope trainer's hooks: its input, its phases, how its images differ and why.

Everything the generic harness must not know lives here: the input image and
its `size` resize, the save-interval period (train `save_interval` epochs +
one visualisation, the seed's "sum of 10 training steps and the
visualisation"), the red boundary lines of the first panel, and the words for
what a differing image means (a hash that merges or splits polytopes).
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UsageProblem
from harness.judge import images
from harness.tasks.base import ArtifactComparison, Event, default_prepare_inputs, locate_file, to_float

RNG_DIAGNOSIS = "training trajectory changed: RNG stream or initialisation perturbed"
COLLISION_DIAGNOSIS = "polytope hash merges neighbouring regions (collisions)"
SPLIT_DIAGNOSIS = "polytope hash splits regions (spurious boundaries)"
RENDER_DIAGNOSIS = "rendering changed"

BOUNDARY_COLOR = (255, 0, 0)  # the first panel paints boundaries pure red
BOUNDARY_PANEL = (0.0, 0.0, 1 / 3, 1.0)  # x0, y0, x1, y1 as fractions of the image
VALIDATION_PIXELS = 1000  # the trainer holds out this many pixels besides --points
SHAPE = re.compile(r"^\s*\[\s*(?P<body>\d+(?:\s*,\s*\d+)*)\s*,?\s*\]\s*(?:\*\s*(?P<repeat>\d+))?\s*$")


class ParamError(UsageProblem):
    """A parameter combination the trainer would reject; refused before any run."""


# --------------------------------------------------------------------------- #
# Parameters and input
# --------------------------------------------------------------------------- #


def hidden_units(shape: str) -> int | None:
    """Total hidden units of '[100]*20' or '[64, 32]' (None when it is not a shape)."""
    match = SHAPE.match(shape)
    if match is None:
        return None
    widths = [int(tok) for tok in match["body"].split(",")]
    return sum(widths) * int(match["repeat"] or 1)


def validate(params: dict[str, str]) -> None:
    """Combinations the trainer would refuse after minutes of other runs: refuse them now."""
    if hidden_units(params["shape"]) is None:
        raise ParamError(f"shape={params['shape']!r} is not a list of layer widths like [100]*20")
    for key in ("epochs", "points", "save_interval"):
        if int(params[key]) <= 0:
            raise ParamError(f"{key}={params[key]} must be positive")
    size = int(params["size"])
    if size and not 8 <= size <= 8192:
        raise ParamError(f"size={size}: expected a whole number of pixels from 8 to 8192 (0 = input as is)")
    if size and int(params["points"]) + VALIDATION_PIXELS > size * size:
        raise ParamError(f"points={params['points']} plus {VALIDATION_PIXELS} validation pixels is more than "
                         f"the {size}x{size} input's {size * size} pixels")


def prepare_inputs(config: Any, baseline_tree: Path, dest: Path) -> dict[str, str]:
    """The input image, resized to `size` x `size` grey when asked; the same file for every branch."""
    size = int(config.params["size"])
    if not size:
        return default_prepare_inputs(config, baseline_tree, dest)
    source = locate_file(config.params["input"], baseline_tree, "input")
    target = dest / f"{source.stem}_{size}.png"
    _resize(source, size, target)  # every compare: an input changed at the same path is never stale
    return {"input": str(target)}


def _resize(source: Path, size: int, target: Path) -> None:
    from PIL import Image, UnidentifiedImageError

    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        with Image.open(source) as img:
            img.convert("L").resize((size, size), Image.Resampling.LANCZOS).save(target, format="PNG")
    except (UnidentifiedImageError, OSError) as exc:
        raise UsageProblem(f"input {source} is not a readable image: {exc}") from exc


# --------------------------------------------------------------------------- #
# Phases
# --------------------------------------------------------------------------- #


def train_epoch_seconds(events: list[Event]) -> float | None:
    """Mean epoch time: the summed gaps that end in an epoch line, over their count.

    Summing before dividing keeps the millisecond log resolution from
    dominating short epochs (the error is ±1 ms over the whole run).
    """
    gaps = [b.ts - a.ts for a, b in zip(events, events[1:]) if b.kind == "epoch"]
    return sum(gaps) / len(gaps) if gaps else None


def visualise_seconds(events: list[Event]) -> list[float]:
    """Each visualisation's duration: its line minus the preceding epoch line."""
    return [b.ts - a.ts for a, b in zip(events, events[1:]) if b.kind == "visualise" and a.kind == "epoch"]


def phases(events: list[Event], params: dict[str, str]) -> dict[str, float | None]:
    """train_epoch, visualise and the period (save_interval epochs + one visualisation)."""
    epoch = train_epoch_seconds(events)
    vis = visualise_seconds(events)
    visualise = statistics.median(vis) if vis else None
    reported = [to_float(e.values["seconds"]) for e in events if e.kind == "visualise"]
    interval = int(params["save_interval"])
    period = epoch * interval + visualise if epoch is not None and visualise is not None else None
    return {"train_epoch": epoch, "visualise": visualise, "period": period,
            "visualise_reported": statistics.median(reported) if reported else None}


# --------------------------------------------------------------------------- #
# Images and diagnoses
# --------------------------------------------------------------------------- #


def panel_mask(shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the region of the image where boundaries are painted."""
    h, w = shape
    x0, y0, x1, y1 = BOUNDARY_PANEL
    mask = np.zeros((h, w), dtype=bool)
    mask[round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)] = True
    return mask


def boundary_pixels(rgb: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of the boundary colour inside the boundary panel."""
    return np.all(rgb == np.asarray(BOUNDARY_COLOR, dtype=np.uint8), axis=-1) & panel_mask(rgb.shape[:2])


def compare_artifact(base_path: Path, cand_path: Path, heatmap: Path, tolerance: int) -> ArtifactComparison:
    """The generic pixel comparison plus boundary pixels lost/gained (what a hash bug looks like)."""
    found = images.compare_pngs(base_path, cand_path, heatmap, tolerance)
    if found.differing_pixels == 0 or (found.details or {}).get("shape_mismatch"):
        return _with_boundary(found, 0, 0, False)
    base, cand = images.load_rgb(base_path), images.load_rgb(cand_path)
    diff = images.pixel_difference(base, cand) > 0
    base_b, cand_b = boundary_pixels(base), boundary_pixels(cand)
    only_boundary = bool(not np.any(diff & ~(base_b | cand_b)))
    return _with_boundary(found, int(np.count_nonzero(base_b & ~cand_b)),
                          int(np.count_nonzero(cand_b & ~base_b)), only_boundary)


def _with_boundary(found: ArtifactComparison, lost: int, gained: int, only: bool) -> ArtifactComparison:
    details = {**(found.details or {}), "boundary_lost": lost, "boundary_gained": gained, "only_boundary": only}
    return ArtifactComparison(found.identical, found.differing_pixels, found.bbox, found.ssim,
                              found.heatmap_written, details)


def diagnose_artifacts(rows: list[Any]) -> str:
    """Losses are equal but images are not: a hash that merges or splits regions, or other rendering."""
    bad = [r for r in rows if not r.identical]
    if bad and all(r.details.get("only_boundary") for r in bad):
        lost = sum(r.details.get("boundary_lost", 0) for r in bad)
        gained = sum(r.details.get("boundary_gained", 0) for r in bad)
        kind = COLLISION_DIAGNOSIS if lost >= gained else SPLIT_DIAGNOSIS
        return f"{kind}: {lost} boundary pixels lost, {gained} gained"
    pixels = sum(r.differing_pixels or 0 for r in bad)
    return f"{RENDER_DIAGNOSIS}: {pixels} pixels differ outside the polytope boundaries"


def diagnose_divergence(step_key: str, first: int, max_diff: float) -> str:
    """A loss that differs from the first epoch on means the RNG or the initialisation moved."""
    if first == 1:
        return RNG_DIAGNOSIS
    return f"training trajectory changed from epoch {first} (max loss difference {max_diff:.6g})"


def sweep_axis(point: dict[str, str]) -> tuple[str, float] | None:
    """Sweeps over shapes plot against total hidden units, the seed's scaling question."""
    if "shape" in point and (units := hidden_units(point["shape"])) is not None:
        return "hidden units (sum of layer widths)", float(units)
    return None
