"""Stage 4: judge one candidate's outputs against the baseline's, and say why.

Equivalence is decided on decoded pixels (numpy), never on PNG bytes, and on
every logged epoch loss. When something differs, the numbers that explain it
are computed here: differing pixels, their bounding box, SSIM, boundary pixels
lost or gained (the first panel paints boundaries pure red), the first
divergent epoch — and a diagnosis in words.
"""

from __future__ import annotations

import filecmp
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from harness import constants as C
from harness.task import Task

RNG_DIAGNOSIS = "training trajectory changed: RNG stream or initialisation perturbed"
COLLISION_DIAGNOSIS = "polytope hash merges neighbouring regions (collisions)"
SPLIT_DIAGNOSIS = "polytope hash splits regions (spurious boundaries)"
RENDER_DIAGNOSIS = "rendering changed"
IDENTICAL_DIAGNOSIS = "outputs identical to the baseline"

# What a speed claim must not touch: (category, pattern over changed diff lines).
FLAG_PATTERNS = (
    ("seeds", re.compile(r"manual_seed|\bseed\s*\(|random\.seed|np\.random\.seed|default_rng|Generator\(")),
    ("RNG draws or state", re.compile(r"fork_rng|[gs]et_rng_state|torch\.(rand|randn|randint|randperm|normal|bernoulli|multinomial)\(|np\.random\.|\brandom\.(random|randint|choice|shuffle)\(")),
    ("thread counts", re.compile(r"set_num_threads|set_num_interop_threads|OMP_NUM_THREADS|MKL_NUM_THREADS|OPENBLAS_NUM_THREADS")),
    ("precision switches", re.compile(r"allow_tf32|set_float32_matmul_precision|cudnn\.benchmark|use_deterministic_algorithms|autocast|\.half\(|bfloat16|float16")),
    ("logging or timing code", re.compile(r"\blogging\.|\blogger\.|basicConfig|Formatter|perf_counter|time\.time\(|monotonic|Visualization @|asctime")),
)


def load_rgb(path: str | Path) -> np.ndarray:
    """Decoded pixels as (H, W, 3) uint8, whatever the PNG's mode."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def panel_mask(shape: tuple[int, int], panel: tuple[float, float, float, float]) -> np.ndarray:
    """(H, W) bool: the region of the image where the task paints boundaries."""
    h, w = shape
    x0, y0, x1, y1 = panel
    mask = np.zeros((h, w), dtype=bool)
    mask[round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)] = True
    return mask


def boundary_pixels(rgb: np.ndarray, task: Task) -> np.ndarray:
    """(H, W) bool: pixels of the boundary colour inside the boundary panel."""
    colour = np.all(rgb == np.asarray(task.boundary_color, dtype=np.uint8), axis=-1)
    return colour & panel_mask(rgb.shape[:2], task.boundary_panel)


def bounding_box(mask: np.ndarray) -> list[int] | None:
    """[x0, y0, x1, y1] (inclusive) of the True pixels, or None."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity on luminance (fast enough for 3-panel 1024² images).

    scikit-image is imported here, not at module level: it costs ~0.3 s and is
    only needed when images differ, and import time is harness overhead.
    """
    from skimage.metrics import structural_similarity

    gray_a = a.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    gray_b = b.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    return float(structural_similarity(gray_a, gray_b, data_range=255.0))


def write_heatmap(base: np.ndarray, diff: np.ndarray, path: Path) -> str:
    """A faded baseline with every differing pixel in magenta, brighter where the difference is larger."""
    faded = 255 - (255 - base.mean(axis=-1)) * 0.25
    out = np.repeat(faded[..., None], 3, axis=-1)
    strength = 0.5 + 0.5 * diff / max(float(diff.max()), 1.0)
    out[diff > 0] = np.stack([255 * strength, 0 * strength, 255 * strength], axis=-1)[diff > 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(out.astype(np.uint8)).save(path)
    return str(path)


def _missing(epoch: int, where: str, base: str | None, cand: str | None) -> dict[str, Any]:
    return {"epoch": epoch, "identical": False, "differing_pixels": None, "bbox": None, "ssim": None,
            "boundary_lost": None, "boundary_gained": None, "baseline_png": base, "candidate_png": cand,
            "heatmap_png": None, "missing": where}


def identical_row(epoch: int, base_png: str, cand_png: str) -> dict[str, Any]:
    return {"epoch": epoch, "baseline_png": base_png, "candidate_png": cand_png, "missing": None, "identical": True,
            "differing_pixels": 0, "bbox": None, "ssim": 1.0, "boundary_lost": 0, "boundary_gained": 0,
            "only_boundary": False, "heatmap_png": None}


def compare_images(epoch: int, base_png: str, cand_png: str, task: Task, heat_dir: Path, tolerance: int = 0) -> dict[str, Any]:
    """Pixel comparison of one epoch's images, with everything that explains a difference.

    Byte-identical files decode to identical pixels, so they skip decoding: with
    repeats, most comparisons are such self-checks of a deterministic branch.
    """
    if filecmp.cmp(base_png, cand_png, shallow=False):
        return identical_row(epoch, base_png, cand_png)
    base, cand = load_rgb(base_png), load_rgb(cand_png)
    row = {"epoch": epoch, "baseline_png": base_png, "candidate_png": cand_png, "missing": None}
    if base.shape != cand.shape:
        return {**row, "identical": False, "differing_pixels": int(base.shape[0] * base.shape[1]), "bbox": None,
                "ssim": None, "boundary_lost": None, "boundary_gained": None, "heatmap_png": None,
                "shape_mismatch": [list(base.shape), list(cand.shape)]}
    diff = np.abs(base.astype(np.int16) - cand.astype(np.int16)).max(axis=-1)
    differing = int(np.count_nonzero(diff))
    base_b, cand_b = boundary_pixels(base, task), boundary_pixels(cand, task)
    row.update(identical=differing <= tolerance, differing_pixels=differing, bbox=bounding_box(diff > 0),
               boundary_lost=int(np.count_nonzero(base_b & ~cand_b)),
               boundary_gained=int(np.count_nonzero(cand_b & ~base_b)),
               only_boundary=bool(differing and not np.any((diff > 0) & ~(base_b | cand_b))))
    row["ssim"] = 1.0 if differing == 0 else ssim(base, cand)
    row["heatmap_png"] = write_heatmap(base, diff, heat_dir / f"epoch_{epoch:04d}.png") if differing else None
    return row


def artifact_map(result: dict[str, Any]) -> dict[int, str]:
    """Epoch → absolute PNG path (result paths are relative to the run folder)."""
    root = Path(result.get("run_dir", "."))
    return {int(a["epoch"]): str(root / a["path"]) for a in result.get("artifacts", [])}


def compare_artifacts(base: dict[int, str], cand: dict[int, str], task: Task, heat_dir: Path, tolerance: int = 0) -> list[dict[str, Any]]:
    """One row per epoch seen on either side; a missing image is a difference."""
    rows = []
    for epoch in sorted(set(base) | set(cand)):
        if epoch not in cand:
            rows.append(_missing(epoch, "only in baseline", base[epoch], None))
        elif epoch not in base:
            rows.append(_missing(epoch, "only in candidate", None, cand[epoch]))
        else:
            rows.append(compare_images(epoch, base[epoch], cand[epoch], task, heat_dir, tolerance))
    return rows


def _same(a: float, b: float, tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol


def loss_window(base: list[dict], cand: list[dict], centre: int | None, width: int = 3) -> list[dict[str, Any]]:
    """The rows around the first divergence (or the first and last few when equal)."""
    by_epoch = {r["epoch"]: r for r in cand}
    epochs = [r["epoch"] for r in base]
    if centre is None:
        chosen = epochs[:width] + epochs[-width:]
    else:
        chosen = [e for e in epochs if centre - width < e <= centre + width]
    rows = []
    for e in sorted(set(chosen)):
        b, c = next(r for r in base if r["epoch"] == e), by_epoch.get(e, {})
        rows.append({"epoch": e, "baseline_train": b["train"], "candidate_train": c.get("train"),
                     "baseline_val": b["val"], "candidate_val": c.get("val")})
    return rows


def compare_losses(base: list[dict], cand: list[dict], tolerance: float = 0.0) -> dict[str, Any]:
    """Every logged epoch equal (within the baseline's own self-difference), or where it first was not."""
    by_epoch = {r["epoch"]: r for r in cand}
    first, largest = None, 0.0
    for b in base:
        c = by_epoch.get(b["epoch"])
        if c is None:
            first = b["epoch"] if first is None else first
            continue
        delta = max(abs(b["train"] - c["train"]), abs(b["val"] - c["val"]))
        largest = max(largest, 0.0 if math.isnan(delta) else delta)
        if first is None and not (_same(b["train"], c["train"], tolerance) and _same(b["val"], c["val"], tolerance)):
            first = b["epoch"]
    extra = sorted(set(by_epoch) - {b["epoch"] for b in base})
    if first is None and extra:
        first = extra[0]
    return {"match": first is None and bool(base), "first_divergent_epoch": first,
            "max_abs_diff": largest, "rows": loss_window(base, cand, first)}


def images_identical(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and all(r["identical"] for r in rows)


def diagnose_images(rows: list[dict[str, Any]]) -> str:
    """Losses are equal but images are not: which kind of difference is it?"""
    bad = [r for r in rows if not r["identical"]]
    missing = [r for r in bad if r.get("missing")]
    if missing:
        return "images missing: " + ", ".join(f"epoch {r['epoch']} {r['missing']}" for r in missing)
    if all(r.get("only_boundary") for r in bad):
        lost = sum(r["boundary_lost"] or 0 for r in bad)
        gained = sum(r["boundary_gained"] or 0 for r in bad)
        kind = COLLISION_DIAGNOSIS if lost >= gained else SPLIT_DIAGNOSIS
        return f"{kind}: {lost} boundary pixels lost, {gained} gained"
    pixels = sum(r["differing_pixels"] or 0 for r in bad)
    return f"{RENDER_DIAGNOSIS}: {pixels} pixels differ outside the polytope boundaries"


def diagnose(status: str, losses: dict[str, Any], rows: list[dict[str, Any]], stderr_tail: str, timeout_s: float) -> str:
    """One sentence a reviewer can act on, most fundamental cause first."""
    if status == C.STATUS_TIMEOUT:
        return f"timed out after {timeout_s:g}s" + (f": {stderr_tail.splitlines()[-1]}" if stderr_tail else "")
    if status == C.STATUS_CRASHED:
        last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else "no stderr"
        return f"crashed: {last}"
    first = losses["first_divergent_epoch"]
    if first == 1:
        return RNG_DIAGNOSIS
    if first is not None:
        return f"training trajectory changed from epoch {first} (max loss difference {losses['max_abs_diff']:.6g})"
    if not images_identical(rows):
        return diagnose_images(rows) if rows else "no images were produced"
    return IDENTICAL_DIAGNOSIS


def scan_flags(diff: str) -> list[str]:
    """Changed lines touching seeds, threads, precision or logging/timing, as 'category: file: line'."""
    flags, current = [], "?"
    for line in diff.splitlines():
        if line.startswith("+++ "):
            current = line[6:] if line.startswith("+++ b/") else line[4:]
        elif line[:1] in "+-" and not line.startswith(("+++", "---")):
            for category, pattern in FLAG_PATTERNS:
                if pattern.search(line):
                    flags.append(f"{category}: {current}: {line[:120].strip()}")
    return flags


def self_difference(first: dict[str, Any], other: dict[str, Any], task: Task, heat_dir: Path) -> dict[str, Any]:
    """How far a repetition strays from the first run of the same branch."""
    losses = compare_losses(first["losses"], other["losses"])
    rows = compare_artifacts(artifact_map(first), artifact_map(other), task, heat_dir)
    pixels = max((r["differing_pixels"] or 0 for r in rows), default=0)
    missing = any(r.get("missing") for r in rows)
    return {"consistent": losses["match"] and images_identical(rows), "loss_diff": losses["max_abs_diff"],
            "pixels": pixels, "missing": missing, "first_divergent_epoch": losses["first_divergent_epoch"]}
