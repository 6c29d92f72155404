"""Generic image comparison: decoded pixels, never PNG bytes.

What explains a difference — how many pixels, where (bounding box), how
similar overall (SSIM), and a heatmap to look at — is computed here for any
image artifact; a task's hooks add their own reading of the difference
(for example, boundary pixels lost or gained).
"""

from __future__ import annotations

import filecmp
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image



@dataclass(frozen=True)
class ArtifactComparison:
    """What a comparer found for one pair of artifacts (paths are filled in by the judge)."""

    identical: bool
    differing_pixels: int | None = None
    bbox: list[int] | None = None
    ssim: float | None = None
    heatmap_written: bool = False
    details: dict[str, Any] | None = None
    first_difference: int | None = None  # byte offset of the first difference (files compared as bytes)


class UnreadableArtifact(ValueError):
    """An artifact that cannot be decoded (truncated, not an image); the message names it, `path` is the file."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


def load_rgb(path: str | Path) -> np.ndarray:
    """Decoded pixels as (H, W, 3) uint8, whatever the PNG's mode (a truncated or hostile file is unreadable)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError, MemoryError, Image.DecompressionBombError) as exc:
        reason = "image truncated" if "truncated" in str(exc) else f"unreadable: {exc}"
        raise UnreadableArtifact(f"{Path(path).name} {reason}", Path(path)) from None


def bounding_box(mask: np.ndarray) -> list[int] | None:
    """[x0, y0, x1, y1] (inclusive) of the True pixels, or None."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity on luminance.

    scikit-image is imported here, not at module level: it costs ~0.3 s and is
    only needed when images differ, and import time is harness overhead.
    """
    from skimage.metrics import structural_similarity

    weights = np.float32([0.299, 0.587, 0.114])
    gray_a, gray_b = a.astype(np.float32) @ weights, b.astype(np.float32) @ weights
    return float(structural_similarity(gray_a, gray_b, data_range=255.0))


def write_heatmap(base: np.ndarray, diff: np.ndarray, path: Path) -> None:
    """A faded baseline with every differing pixel in magenta, brighter where the difference is larger."""
    faded = 255 - (255 - base.mean(axis=-1)) * 0.25
    out = np.repeat(faded[..., None], 3, axis=-1)
    strength = 0.5 + 0.5 * diff / max(float(diff.max()), 1.0)
    out[diff > 0] = np.stack([255 * strength, 0 * strength, 255 * strength], axis=-1)[diff > 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(out.astype(np.uint8)).save(path)


def pixel_difference(base: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """(H, W) int16: the largest channel difference per pixel."""
    return np.abs(base.astype(np.int16) - cand.astype(np.int16)).max(axis=-1)


#: The most pixels an image may have to be decoded: a 47 KB PNG can decode to gigabytes.
MAX_PIXELS = 64_000_000


def dimensions(path: Path) -> tuple[int, int]:
    """(width, height) from the image's header, without decoding it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is what this reads
            with Image.open(path) as img:
                return img.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UnreadableArtifact(f"{Path(path).name} unreadable: {exc}", Path(path)) from None


def compare_pngs(base_path: Path, cand_path: Path, heatmap: Path, tolerance: int = 0) -> ArtifactComparison:
    """Pixel comparison of two images. Byte-identical files skip decoding (most self-checks are); images of
    other sizes are told apart by their headers, and one too large to decode is refused, never decoded."""
    if filecmp.cmp(base_path, cand_path, shallow=False):
        return ArtifactComparison(identical=True, differing_pixels=0, ssim=1.0)
    sizes = {side: dimensions(path) for side, path in (("baseline", base_path), ("candidate", cand_path))}
    for side, (w, h) in sizes.items():
        if w * h > MAX_PIXELS:
            path = base_path if side == "baseline" else cand_path
            raise UnreadableArtifact(f"{path.name} is {w}×{h} pixels, too large to decode", path)
    if sizes["baseline"] != sizes["candidate"]:
        (bw, bh), (cw, ch) = sizes["baseline"], sizes["candidate"]
        return ArtifactComparison(identical=False, differing_pixels=bw * bh,
                                  details={"shape_mismatch": [[bh, bw], [ch, cw]]})
    return compare_arrays(load_rgb(base_path), load_rgb(cand_path), heatmap, tolerance)


def compare_arrays(base: np.ndarray, cand: np.ndarray, heatmap: Path, tolerance: int = 0) -> ArtifactComparison:
    """The numbers that explain a difference between two decoded images."""
    if base.shape != cand.shape:
        return ArtifactComparison(identical=False, differing_pixels=int(base.shape[0] * base.shape[1]),
                                  details={"shape_mismatch": [list(base.shape), list(cand.shape)]})
    diff = pixel_difference(base, cand)
    differing = int(np.count_nonzero(diff))
    if differing:
        write_heatmap(base, diff, heatmap)
    return ArtifactComparison(identical=differing <= tolerance, differing_pixels=differing,
                              bbox=bounding_box(diff > 0), ssim=1.0 if differing == 0 else ssim(base, cand),
                              heatmap_written=bool(differing))
