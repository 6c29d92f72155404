"""Cost of one race step per contender on the seed network: prints the figures; asserts nothing.

Why: the race's wall times mix step count with per-step cost; this separates them
(seconds per step, gradients and Hessian-vector products per step, and the seconds
one double-backward HVP costs here), after a few warm steps from the same start.

Usage (from the repository root; ~1-3 min on 2 cores):
    python tests/benchmarks/bench_race_step.py --n-train 64 --n-classes 2 --steps 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

SOURCE_DIR = Path(__file__).resolve().parents[2] / "harness" / "tasks" / "race" / "source"
sys.path.insert(0, str(SOURCE_DIR))

import race  # noqa: E402
from solverrace import data, hessian, model  # noqa: E402


def hvp_seconds(dataset: torch.utils.data.TensorDataset, n_classes: int, repeats: int = 5) -> float:
    """Seconds per Hessian-vector product by double backward through one retained gradient graph."""
    net = model.build_network(n_classes)
    params = model.init_params(net, 0)
    point = hessian.HessianAtPoint(model.make_loss(net, *dataset.tensors), params)
    rows = torch.randn(1, params.numel())
    point.matmul(rows)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        point.matmul(rows)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=64)
    p.add_argument("--n-classes", type=int, default=2)
    p.add_argument("--steps", type=int, default=3, help="timed steps after 2 untimed ones")
    args = p.parse_args()
    race.keep_freed_memory()
    dataset = data.build_dataset(data.load_source("digits"), args.n_train, args.n_classes, 0)
    print(f"one HVP: {hvp_seconds(dataset, args.n_classes):.4f} s")
    for impl in ("ours", "package"):
        for solver in ("adaptive", "euler"):
            ns = race.build_parser().parse_args(["--impl", impl, "--solver", solver, "--n-train", str(args.n_train),
                                                 "--n-classes", str(args.n_classes)])
            contender = race.build_contender(ns, torch.device("cpu"), dataset)
            for _ in range(2):
                contender.step()
            start, grads, hvps = time.perf_counter(), 0, 0
            for _ in range(args.steps):
                result = contender.step()
                grads, hvps = grads + result.grads, hvps + result.hvps
            per_step = (time.perf_counter() - start) / args.steps
            print(f"{impl:8s} {solver:9s} {per_step:7.3f} s/step  {grads / args.steps:.1f} grads/step  "
                  f"{hvps / args.steps:.1f} HVPs/step")


if __name__ == "__main__":
    main()
