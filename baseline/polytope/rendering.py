"""Draw the three-panel PNG (pillow only) and time the whole visualise step.

Panels, left to right: prediction with polytope boundaries in pure red |
prediction | target with training points red and validation points blue.
A text block with the run's settings goes underneath.  Everything here is
deterministic (default bitmap font, no timestamps) so two identical runs give
byte-identical PNGs.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from . import hashing

RED = (255, 0, 0)
BLUE = (0, 0, 255)
TEXT_MARGIN = 4
PNG_COMPRESS_LEVEL = 1  # fast; decoded pixels are identical at any level


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Intensities -> uint8 via clip to [0, 1] then round(x * 255)."""
    return np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


def _gray_rgb(gray_hw: np.ndarray) -> np.ndarray:
    """(H, W) uint8 -> (H, W, 3) uint8 gray."""
    return np.repeat(gray_hw[:, :, None], 3, axis=2)


def compose(pred_hw: np.ndarray, boundary_hw: np.ndarray, target_hw: np.ndarray,
            train_idx: np.ndarray, val_idx: np.ndarray, lines: list[str]) -> Image.Image:
    """Build the RGB figure from float predictions/targets and the boundary mask."""
    height, width = pred_hw.shape
    pred_rgb = _gray_rgb(to_uint8(pred_hw))           # (H, W, 3)
    bound_rgb = pred_rgb.copy()
    bound_rgb[boundary_hw] = RED
    target_rgb = _gray_rgb(to_uint8(target_hw)).reshape(-1, 3)  # (H*W, 3)
    target_rgb[train_idx] = RED
    target_rgb[val_idx] = BLUE
    panels = np.concatenate([bound_rgb, pred_rgb, target_rgb.reshape(height, width, 3)], axis=1)

    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = max(probe.textbbox((0, 0), "Ag|[]", font=font)[3], 1) + 2
    text_h = 2 * TEXT_MARGIN + line_h * len(lines)
    figure = Image.new("RGB", (3 * width, height + text_h), (255, 255, 255))
    figure.paste(Image.fromarray(panels, mode="RGB"), (0, 0))
    draw = ImageDraw.Draw(figure)
    for i, line in enumerate(lines):
        draw.text((TEXT_MARGIN, height + TEXT_MARGIN + i * line_h), line, fill=(0, 0, 0), font=font)
    return figure


def output_path(output_dir: str | Path, input_path: str | Path, epoch: int) -> Path:
    """<output-dir>/<input-stem>_epoch_0010.png"""
    return Path(output_dir) / f"{Path(input_path).stem}_epoch_{epoch:04d}.png"


def visualise(model: torch.nn.Module, coords: torch.Tensor, target_hw: np.ndarray,
              train_idx: np.ndarray, val_idx: np.ndarray, lines: list[str],
              out_path: str | Path, chunk: int = hashing.VIS_CHUNK) -> float:
    """Hash every pixel, find boundaries, render and save.  Returns seconds taken."""
    start = time.perf_counter()
    height, width = target_hw.shape
    was_training = model.training
    model.eval()
    try:
        preds, hashes = hashing.region_hashes(model, coords, chunk)
    finally:
        model.train(was_training)
    boundary = hashing.boundary_mask(hashes.reshape(height, width))
    figure = compose(preds.reshape(height, width), boundary, target_hw, train_idx, val_idx, lines)
    figure.save(out_path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return time.perf_counter() - start
