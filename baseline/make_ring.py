"""Generate the test image: a black ring centred on a white square.

The ring is the classic target for these experiments because it needs many
small polytopes along a curved boundary.  `make_ring(size)` is importable so
tests can make small rings (e.g. 64x64) instead of committing extra PNGs.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

OUTER_RADIUS = 0.35  # fraction of the image side
INNER_RADIUS = 0.25


def make_ring(size: int) -> Image.Image:
    """Return a size x size grayscale ('L') image: black ring (0) on white (255)."""
    if size < 4:
        raise ValueError(f"ring size must be at least 4, got {size}")
    centre = (size - 1) / 2.0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)  # (size, size) each
    dist = np.hypot(xs - centre, ys - centre) / size       # (size, size)
    ring = (dist >= INNER_RADIUS) & (dist <= OUTER_RADIUS)
    pixels = np.where(ring, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    size = int(argv[0]) if argv else 1024
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("centered_ring.png")
    make_ring(size).save(out)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
