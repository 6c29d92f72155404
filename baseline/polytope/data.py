"""Image -> regression samples.

Every pixel (x, y) becomes an input (x/W, y/H) with target intensity in [0, 1].
A seeded split picks disjoint training and validation pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

N_VALIDATION = 1000


class InputError(Exception):
    """A user-facing problem with the inputs (reported as one line, exit 2)."""


def load_image(path: str | Path) -> np.ndarray:
    """Load any image as grayscale float32 (H, W) in [0, 1]."""
    try:
        with Image.open(path) as img:
            gray = img.convert("L")
    except FileNotFoundError:
        raise InputError(f"--input '{path}' does not exist") from None
    except IsADirectoryError:
        raise InputError(f"--input '{path}' is a directory, not an image") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"--input '{path}' is not a readable image ({type(exc).__name__})") from None
    return np.asarray(gray, dtype=np.float32) / np.float32(255.0)


def pixel_coords(height: int, width: int) -> np.ndarray:
    """(H*W, 2) float32 inputs (x/W, y/H) in row-major pixel order."""
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")  # (H, W)
    coords = np.stack([xs.ravel() / width, ys.ravel() / height], axis=1)      # (H*W, 2)
    return coords.astype(np.float32)


@dataclass(frozen=True)
class Split:
    """Flat pixel indices of the training and validation samples."""
    train_idx: np.ndarray  # (points,) int64
    val_idx: np.ndarray    # (N_VALIDATION,) int64


def split_pixels(n_pixels: int, n_train: int, rng: np.random.Generator,
                 n_val: int = N_VALIDATION) -> Split:
    """Sample disjoint train/val pixel sets without replacement."""
    if n_train < 1:
        raise InputError(f"--points must be positive, got {n_train}")
    if n_train + n_val > n_pixels:
        raise InputError(
            f"--points {n_train} plus {n_val} validation pixels is more than the "
            f"image's {n_pixels} pixels"
        )
    chosen = rng.choice(n_pixels, size=n_train + n_val, replace=False).astype(np.int64)
    return Split(train_idx=chosen[:n_train], val_idx=chosen[n_train:])
