#!/usr/bin/env python
"""One contender of the solver race: train the seed's MLP until the full-batch loss target.

    python race.py --impl ours|package --solver adaptive|euler --n-train 64 --n-classes 2 \\
        --seed 0 --data digits|PATH --threshold 0.01 --max-step 0.01 --cap-seconds 120 \\
        --device auto|cpu|cuda --output-dir DIR [--max-steps N]

Exit codes: 0 target reached, 2 bad input (one `error: ...` line on stderr),
3 loss invariant violated, 4 unfinished (cap or --max-steps), 5 solver failed.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Callable, NoReturn

import torch

from solverrace import data, model, runner
from solverrace.ours import ADAPTIVE_EIG, EULER_EIG, OurAdaptiveGD, OurExponentialEuler
from solverrace.package import PackageSolver

# The seed's warm-up: only its adaptive solver gets one (10 steps at 0.01 x lr).
SEED_WARMUP = {"adaptive": (10, 0.01), "euler": (0, 1.0)}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but bad input is exactly one `error: ...` line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(runner.EXIT_BAD_INPUT)


def positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type accepting only values > 0 of `kind` (int or float)."""
    def parse(text: str) -> float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def build_parser() -> OneLineParser:
    """The race CLI; defaults are the seed's (threshold 0.01, max step 0.01, digits data)."""
    p = OneLineParser(prog="race.py", description="One contender of the solver race.")
    p.add_argument("--impl", choices=["ours", "package"], required=True)
    p.add_argument("--solver", choices=["adaptive", "euler"], required=True)
    p.add_argument("--n-train", type=positive(int), default=64)
    p.add_argument("--n-classes", type=int, choices=range(2, 11), default=2, metavar="{2..10}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="digits", help="'digits' (packaged) or a local CIFAR-10 python folder")
    p.add_argument("--threshold", type=positive(float), default=0.01)
    p.add_argument("--max-step", type=positive(float), default=0.01, help="lr / max step size")
    p.add_argument("--warmup-iters", type=int, default=None, help="default: the seed's (10 adaptive, 0 euler)")
    p.add_argument("--warmup-factor", type=positive(float), default=None)
    p.add_argument("--cap-seconds", type=positive(float), default=120.0)
    p.add_argument("--max-steps", type=positive(int), default=None)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--output-dir", type=Path, default=None)
    return p


def pick_device(name: str) -> torch.device:
    """auto -> cuda when available; asking for cuda without one is bad input."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise data.DataError("--device cuda requested but CUDA is not available")
    return torch.device(name)


def keep_freed_memory() -> None:
    """Ask glibc to serve big blocks from the heap and keep freed memory (Linux only).

    Why: a parameter vector is 10 MB and an eigensolver block up to ~100 MB; by default
    glibc maps each such allocation fresh from the OS and unmaps it on free, so every
    iteration pays page faults on zeroed pages (measured here: a cold Euler step took
    11 s instead of 5 s, HVPs 5x slower). Applied to every contender alike.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_max = -1, -4  # from glibc's malloc.h
    libc.mallopt(m_mmap_max, 0)
    libc.mallopt(m_trim_threshold, 2 ** 31 - 1)


def make_logger() -> logging.Logger:
    """Log lines on stdout in the seed family's format (asctime: 2026-11-23 02:45:01,123)."""
    log = logging.getLogger("solverrace")
    log.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(runner.LOG_FORMAT))
    log.handlers[:] = [handler]
    log.propagate = False
    return log


def build_contender(args: argparse.Namespace, device: torch.device,
                    dataset: torch.utils.data.TensorDataset) -> runner.Steppable:
    """Same seed -> same data subset and same initial parameters, whichever contender."""
    net = model.build_network(args.n_classes)
    params = model.init_params(net, args.seed, device)  # (P,); torch.manual_seed(seed) inside
    warmup_iters, warmup_factor = SEED_WARMUP[args.solver]
    warmup_iters = warmup_iters if args.warmup_iters is None else args.warmup_iters
    warmup_factor = warmup_factor if args.warmup_factor is None else args.warmup_factor
    if args.impl == "package":
        return PackageSolver(args.solver, params, dataset, net, args.n_classes, args.max_step,
                             warmup_iters, warmup_factor)
    images, labels = dataset.tensors
    loss_fn = model.make_loss(net, images, labels)
    if args.solver == "adaptive":
        return OurAdaptiveGD(params, loss_fn, args.max_step, warmup_iters, warmup_factor,
                             dataclasses.replace(ADAPTIVE_EIG, seed=args.seed))
    return OurExponentialEuler(params, loss_fn, args.max_step, args.n_classes - 1, warmup_iters, warmup_factor,
                               dataclasses.replace(EULER_EIG, seed=args.seed))


def main(argv: list[str] | None = None) -> int:
    """Parse, build data and contender, race, write summary.json; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.warmup_iters is not None and args.warmup_iters < 0:
        parser.error(f"--warmup-iters must be >= 0, got {args.warmup_iters}")
    try:
        device = pick_device(args.device)
        source = data.load_source(args.data)
        dataset = data.build_dataset(source, args.n_train, args.n_classes, args.seed)
    except data.DataError as exc:
        parser.error(str(exc))
    dataset = torch.utils.data.TensorDataset(*(t.to(device) for t in dataset.tensors))
    keep_freed_memory()
    log = make_logger()
    contender = build_contender(args, device, dataset)
    log.info(f"Contender {args.impl}/{args.solver}: n_train={args.n_train} n_classes={args.n_classes} "
             f"seed={args.seed} data={source.name} device={device} threshold={args.threshold} "
             f"max_step={args.max_step} params={contender.params.numel()}")
    outcome = runner.run_race(contender, args.threshold, args.cap_seconds, args.max_steps, log)
    if args.output_dir is not None:
        runner.write_summary(outcome, args.output_dir, {
            "impl": args.impl, "solver": args.solver, "n_train": args.n_train, "n_classes": args.n_classes,
            "seed": args.seed, "data": source.name, "device": str(device), "threshold": args.threshold,
            "max_step": args.max_step, "cap_seconds": args.cap_seconds})
    return runner.exit_code(outcome)


if __name__ == "__main__":
    sys.exit(main())
