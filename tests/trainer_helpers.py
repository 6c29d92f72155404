"""Shared helpers for the trainer / candidate tests (not a test module).

- make_ring_png: write a small ring image with baseline/make_ring.py
- make_variant_tree: copy baseline/ into a temp git repo and optionally apply
  a candidate patch with `git apply`
- run_trainer: run draw-poly-while-training.py of a tree as a real subprocess
- loss_lines / png_bytes / png_arrays: read a run's results back
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE_DIR = REPO_ROOT / "baseline"
CANDIDATES_DIR = REPO_ROOT / "candidates"
SCRIPT_NAME = "draw-poly-while-training.py"
CANDIDATE_NAMES = ("claude", "gemini", "gemini-first", "fused")
EQUIVALENT_CANDIDATES = ("claude", "gemini", "fused")

RING_SIZE = 64
# --batch-size 128: with the default 1024 the 500 points form ONE batch per epoch,
# so the shuffle order (and thus an extra draw from the torch RNG) cannot change
# the losses and the RNG-leak checks would be blind.
PRESET_ARGS = ["--shape", "[16]*4", "--epochs", "3", "--points", "500",
               "--save-interval", "1", "--seed", "1234", "--batch-size", "128"]

LOSS_RE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - polytope_nn - INFO - "
    r"Epoch (\d+)/(\d+) - Train Loss: (\d+\.\d{6}), Val Loss: (\d+\.\d{6})$")
VIS_RE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - polytope_nn - INFO - "
    r"Visualization @ epoch (\d+): (\d+\.\d\d)s$")

_GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t"}


def load_make_ring():
    """Import make_ring() from baseline/make_ring.py without touching sys.path."""
    spec = importlib.util.spec_from_file_location("baseline_make_ring", BASELINE_DIR / "make_ring.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_ring


def make_ring_png(path: Path, size: int = RING_SIZE) -> Path:
    load_make_ring()(size).save(path)
    return path


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, **_GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=check)


def copy_baseline(dest: Path) -> Path:
    """Copy baseline/ (without outputs and caches) into dest as a committed git repo."""
    shutil.copytree(BASELINE_DIR, dest,
                    ignore=shutil.ignore_patterns("outputs", "__pycache__", "*.pyc"))
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-qm", "baseline")
    return dest


def patch_path(name: str) -> Path:
    return CANDIDATES_DIR / f"{name}.patch"


def apply_check(tree: Path, name: str) -> subprocess.CompletedProcess:
    return _git(tree, "apply", "--check", str(patch_path(name)), check=False)


def make_variant_tree(dest: Path, name: str | None = None) -> Path:
    """baseline copy in dest, with candidates/<name>.patch applied when name is given."""
    copy_baseline(dest)
    if name is not None and name != "baseline":
        result = _git(dest, "apply", str(patch_path(name)), check=False)
        if result.returncode != 0:
            raise RuntimeError(f"git apply {name}.patch failed: {result.stderr}")
    return dest


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    output_dir: Path


def run_trainer(tree: Path, input_png: Path, output_dir: Path, args=None,
                timeout: float = 120) -> Run:
    """Run the tree's entry script as a subprocess (cwd = tree)."""
    args = PRESET_ARGS if args is None else args
    cmd = [sys.executable, SCRIPT_NAME, "--input", str(input_png), *args,
           "--output-dir", str(output_dir)]
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr, Path(output_dir))


def loss_lines(stderr: str) -> list[tuple[int, int, str, str]]:
    """(epoch, epochs, train, val) for each epoch log line, losses as logged strings."""
    out = []
    for line in stderr.splitlines():
        m = LOSS_RE.match(line)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)))
    return out


def vis_epochs(stderr: str) -> list[int]:
    return [int(m.group(1)) for m in map(VIS_RE.match, stderr.splitlines()) if m]


def png_bytes(output_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(output_dir).glob("*.png"))}


def png_arrays(output_dir: Path) -> dict[str, np.ndarray]:
    out = {}
    for p in sorted(Path(output_dir).glob("*.png")):
        with Image.open(p) as img:
            out[p.name] = np.asarray(img.convert("RGB"))
    return out


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two hash arrays induce the same partition of the pixels."""
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    if a.shape != b.shape:
        return False
    pairs = np.unique(np.stack([a, b], axis=1), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


# Script run inside a variant tree: single-unit separation + hashes of a grid.
HASH_PROBE = r'''
import json, sys
import numpy as np
import torch
from torch import nn
from polytope import hashing, model, data

torch.manual_seed(7)
net = model.PolytopeNet([16] * 4)
gen = torch.Generator().manual_seed(3)
rows = 6
base = []
for w in net.widths:
    p = torch.rand(rows, w, generator=gen) > 0.5
    p[0] = False   # all-off row
    p[1] = True    # all-on row
    base.append(p)
h0 = np.asarray(hashing.hash_patterns(net, base))
collisions = []
for layer, width in enumerate(net.widths):
    for unit in range(width):
        flipped = [p.clone() for p in base]
        flipped[layer][:, unit] = ~flipped[layer][:, unit]
        h1 = np.asarray(hashing.hash_patterns(net, flipped))
        if (h1 == h0).any():
            collisions.append([layer, unit])

size = int(sys.argv[1])
coords = torch.from_numpy(data.pixel_coords(size, size))
net.eval()
pred, hashes = hashing.region_hashes(net, coords, coords.shape[0])  # one chunk, like below
# the same pixels' patterns, recorded the slow way, through hash_patterns
with torch.no_grad():
    x, pats = coords, []
    for m in net.layers:
        if isinstance(m, nn.LeakyReLU):
            pats.append(x > 0)
        x = m(x)
direct = np.asarray(hashing.hash_patterns(net, pats))
print(json.dumps({
    "collisions": collisions,
    "n_distinct_base": int(len(set(h0.tolist()))),
    "hashes": hashes.tolist(),
    "direct_equal": bool((direct == hashes).all()),
    "pred": pred.tolist(),
    "pred_dtype": str(pred.dtype), "hash_dtype": str(hashes.dtype),
}))
'''


def hash_probe(tree: Path, size: int = 32) -> dict:
    proc = subprocess.run([sys.executable, "-c", HASH_PROBE, str(size)], cwd=tree,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"hash probe failed in {tree}:\n{proc.stderr}")
    return json.loads(proc.stdout)
