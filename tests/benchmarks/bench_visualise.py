"""Benchmark the visualise step of the baseline and every candidate patch.

    python tests/benchmarks/bench_visualise.py --size 512 --shape '[100]*20'

For each variant (baseline/ copied into a temp git repo, candidate patch
applied) a fresh subprocess builds the seeded model, times a plain no_grad
forward pass over all size*size pixels in the same chunking (VIS_CHUNK), then
times the full visualise step (hashes + boundary + render + save) over the same
pixels.  Each timing is the minimum over --repeats runs.  Peak RSS is the
subprocess's ru_maxrss.  Not a test: pytest does not collect tests/benchmarks.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import trainer_helpers as th  # noqa: E402

WORKER = r'''
import json, resource, sys, time, tempfile
from pathlib import Path
import numpy as np
import torch
from make_ring import make_ring
from polytope import data, hashing, model, rendering, training

size, shape, repeats, seed = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
training.seed_everything(seed)
image = np.asarray(make_ring(size), dtype=np.float32) / np.float32(255.0)
split = data.split_pixels(image.size, min(5050, image.size - 1000), np.random.default_rng(seed))
net = model.PolytopeNet(model.parse_shape(shape)).eval()
coords = torch.from_numpy(data.pixel_coords(size, size))
chunk = hashing.VIS_CHUNK
n = coords.shape[0]

def plain_forward():
    preds = np.empty(n, dtype=np.float32)
    with torch.no_grad():
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            preds[start:stop] = net(coords[start:stop])[:, 0].cpu().numpy()
    return preds

with torch.no_grad():
    net(coords[:chunk])  # warm-up
forward, visual = [], []
with tempfile.TemporaryDirectory() as tmp:
    for i in range(repeats):
        t0 = time.perf_counter(); plain_forward(); forward.append(time.perf_counter() - t0)
        out = Path(tmp) / f"bench_{i}.png"
        visual.append(rendering.visualise(net, coords, image, split.train_idx, split.val_idx,
                                          ["benchmark"], out))
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"forward": forward, "visualise": visual, "rss_mb": rss_mb,
                  "torch_threads": torch.get_num_threads()}))
'''


def bench_variant(name: str, size: int, shape: str, repeats: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tree = th.make_variant_tree(Path(tmp) / name, name)
        proc = subprocess.run([sys.executable, "-c", WORKER, str(size), shape, str(repeats),
                               str(seed)], cwd=tree, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--shape", default="[100]*20")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=12345678)
    parser.add_argument("--variants", nargs="*", default=["baseline", *th.CANDIDATE_NAMES])
    args = parser.parse_args(argv)

    print(f"size {args.size}x{args.size}, shape {args.shape}, chunk per variant's VIS_CHUNK, "
          f"min of {args.repeats} repeats")
    header = f"{'variant':<14}{'forward s':>11}{'visualise s':>13}{'ratio':>8}{'peak RSS MB':>13}"
    print(header)
    print("-" * len(header))
    for name in args.variants:
        r = bench_variant(name, args.size, args.shape, args.repeats, args.seed)
        fwd, vis = min(r["forward"]), min(r["visualise"])
        print(f"{name:<14}{fwd:>11.3f}{vis:>13.3f}{vis / fwd:>8.2f}{r['rss_mb']:>13.0f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
