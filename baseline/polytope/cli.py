"""Command-line interface.

Every problem with the user's inputs is reported as exactly one line
`error: ...` on stderr with exit status 2 (argparse's own usage errors also
exit 2); no tracebacks for bad input.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import data, model, training


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train a leaky-ReLU MLP on an image and draw its polytope boundaries.")
    p.add_argument("--input", required=True, help="image to reproduce (any format pillow reads)")
    p.add_argument("--shape", required=True, help="hidden layer widths, e.g. [100]*20 or [64,32]")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--points", type=int, required=True, help="number of training pixels")
    p.add_argument("--save-interval", type=int, default=10, help="visualise every N epochs")
    p.add_argument("--output-dir", default="./outputs")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--optimizer", choices=training.OPTIMIZERS, default="adam")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    return p


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _prepare_output_dir(path: Path) -> None:
    """Create the directory and prove we can write into it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise data.InputError(f"--output-dir '{path}' cannot be created or written ({reason})") from None


def _resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise data.InputError("--device cuda requested but CUDA is not available")
    return name


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        try:
            widths = model.parse_shape(args.shape)
        except ValueError as exc:
            raise data.InputError(f"--shape {exc}") from None
        for flag, value in (("--epochs", args.epochs), ("--points", args.points),
                            ("--save-interval", args.save_interval),
                            ("--batch-size", args.batch_size)):
            if value <= 0:
                raise data.InputError(f"{flag} must be positive, got {value}")
        if not args.learning_rate > 0:
            raise data.InputError(f"--learning-rate must be positive, got {args.learning_rate}")
        image = data.load_image(args.input)
        device = _resolve_device(args.device)
        output_dir = Path(args.output_dir)
        _prepare_output_dir(output_dir)
        training.seed_everything(args.seed)
        split = data.split_pixels(image.size, args.points, np.random.default_rng(args.seed))
    except data.InputError as exc:
        return _fail(str(exc))

    cfg = training.Config(
        input=Path(args.input), widths=widths, shape_text=args.shape, epochs=args.epochs,
        seed=args.seed, points=args.points, save_interval=args.save_interval,
        output_dir=output_dir, learning_rate=args.learning_rate, optimizer=args.optimizer,
        batch_size=args.batch_size, device=device,
    )
    try:
        training.run(cfg, image, split)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # e.g. disk full or directory removed while running
        return _fail(f"could not write output: {exc}")
    return 0
