"""Activation-pattern hashes: which polytope each pixel lies in.

This is the BASELINE (slow) implementation and the one place candidates
change.  The visualisation calls `region_hashes` only.  Per chunk of pixels the
boolean pattern (z > 0 for every LeakyReLU input z) of all layers is
concatenated, copied to the CPU and hashed one pixel at a time in Python,
which is what makes the visualisation slow.

Chunking bounds memory: a 1024x1024 image with 2000 units would need > 2 GB of
patterns as bools (and far more as Python objects) if held at once.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

VIS_CHUNK = 16384  # pixels evaluated per forward pass while visualising


def hash_pattern(bits: np.ndarray) -> int:
    """64-bit signed hash of one pixel's (units,) bool pattern."""
    digest = hashlib.blake2b(bits.tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def hash_patterns(model: nn.Module, patterns: list[torch.Tensor]) -> np.ndarray:
    """Hash per-layer bool patterns [(n, width_l), ...] -> (n,) int64.

    Exposed so tests can check that patterns differing in one unit separate.
    """
    bits = torch.cat([p.to(torch.bool) for p in patterns], dim=1).cpu().numpy()  # (n, units)
    return np.fromiter((hash_pattern(row) for row in bits), dtype=np.int64, count=len(bits))


def _forward_with_patterns(model: nn.Module, x: torch.Tensor):
    """Run the layers one by one, recording z > 0 at every LeakyReLU input."""
    patterns = []
    for module in model.layers:
        if isinstance(module, nn.LeakyReLU):
            patterns.append(x > 0)  # (n, width) bool
        x = module(x)
    return x[:, 0], patterns       # (n,), [(n, width_l), ...]


def region_hashes(model: nn.Module, coords: torch.Tensor, chunk: int = VIS_CHUNK):
    """Predictions and pattern hashes for every row of coords.

    coords: (N, 2) float32 tensor on the model's device.
    Returns (pred float32 np (N,), hashes int64 np (N,)).
    """
    n = coords.shape[0]
    preds = np.empty(n, dtype=np.float32)
    hashes = np.empty(n, dtype=np.int64)
    with torch.no_grad():
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            pred, patterns = _forward_with_patterns(model, coords[start:stop])
            preds[start:stop] = pred.cpu().numpy()
            hashes[start:stop] = hash_patterns(model, patterns)
    return preds, hashes


def boundary_mask(hashes_hw: np.ndarray) -> np.ndarray:
    """(H, W) hashes -> (H, W) bool, True where any 4-neighbour differs."""
    mask = np.zeros(hashes_hw.shape, dtype=bool)
    horiz = hashes_hw[:, 1:] != hashes_hw[:, :-1]  # (H, W-1)
    vert = hashes_hw[1:, :] != hashes_hw[:-1, :]   # (H-1, W)
    mask[:, 1:] |= horiz
    mask[:, :-1] |= horiz
    mask[1:, :] |= vert
    mask[:-1, :] |= vert
    return mask
