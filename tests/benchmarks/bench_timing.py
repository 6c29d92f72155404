"""Can the harness's speed claims be trusted? Prints the figures; asserts nothing.

1. repeatability: three back-to-back compares of the same branches agree on the period speedup;
2. false positives: base-vs-base (noise-floor) rows must never be declared faster/slower;
3. power: a candidate whose training epochs are ~10 % slower (a sleep) is declared slower;
4. overhead: a compare's wall time against the sum of its child runs.

Usage (from the repository root, ~25 min on 2 cores with the defaults):
    python tests/benchmarks/bench_timing.py --comparisons 20 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLOW_CODE = (
    "        train_loss = train_epoch(net, opt, x_train, y_train, cfg.batch_size)\n",
    "        _t0 = __import__('time').perf_counter()\n"
    "        train_loss = train_epoch(net, opt, x_train, y_train, cfg.batch_size)\n"
    "        __import__('time').sleep(0.10 * (__import__('time').perf_counter() - _t0))  # ~10% slower epochs\n",
)
# Small preset, but a net big enough that a training epoch lasts well over the 1 ms log resolution.
TIMED_SETS = ["--set", "shape=[64]*6", "--set", "epochs=20", "--set", "save_interval=10"]


def make_project(tmp: Path) -> Path:
    """A copy of baseline/ and candidates/ plus a `slow10` candidate patch (made with git diff)."""
    project = tmp / "project"
    shutil.copytree(ROOT / "baseline", project / "baseline", ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    shutil.copytree(ROOT / "candidates", project / "candidates")
    scratch = tmp / "scratch"
    shutil.copytree(project / "baseline", scratch)
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "init", "-q"], cwd=scratch, check=True)
    subprocess.run([*git, "add", "-A"], cwd=scratch, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=scratch, check=True)
    training = scratch / "polytope" / "training.py"
    text = training.read_text()
    assert SLOW_CODE[0] in text, "training loop changed: update SLOW_CODE"
    training.write_text(text.replace(SLOW_CODE[0], SLOW_CODE[1]))
    diff = subprocess.run(["git", "diff"], cwd=scratch, check=True, capture_output=True, text=True).stdout
    (project / "candidates" / "slow10.patch").write_text("Test candidate: sleeps 10% of each training epoch.\n\n" + diff)
    task = project / "task"
    shutil.copytree(ROOT / "harness" / "tasks" / "polytope", task, ignore=shutil.ignore_patterns("__pycache__"))
    toml = (task / "task.toml").read_text().replace('"../../../baseline"', '"../baseline"')
    (task / "task.toml").write_text(toml.replace('"../../../candidates"', '"../candidates"'))
    return project


def compare(project: Path, work: Path, names: list[str], repeat: int, extra: list[str]) -> tuple[dict, float]:
    """One real `evalharness compare` subprocess; returns its JSON and its wall time."""
    out = work / "last.json"
    argv = [sys.executable, "-m", "harness", "-q", "compare", *names, "--preset", "small", "--repeat", str(repeat),
            "--fresh", "--task", str(project / "task"), "--work-dir", str(work), "--json", str(out), "--report", str(work / "last.md"), *extra]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"compare failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(out.read_text()), wall


def child_wall(work: Path) -> float:
    """Sum of the wall times of every run of the latest compare, from its result files."""
    run_dir = max((work / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    return sum(json.loads(p.read_text())["wall_s"] for p in run_dir.glob("*/rep-*/result.json"))


def repeatability(project: Path, work: Path, repeat: int) -> list[float]:
    print("\n## 1. three back-to-back compares (small preset): period speedup per candidate")
    speedups: dict[str, list[float]] = {}
    overheads = []
    for i in range(3):
        data, wall = compare(project, work, ["baseline", "claude", "fused"], repeat, TIMED_SETS)
        children = child_wall(work)
        overheads.append((wall - children) / children)
        for c in data["candidates"]:
            speedups.setdefault(c["name"], []).append(c["speedup"]["period"])
        print(f"  run {i + 1}: " + ", ".join(f"{c['name']} {c['speedup']['period']:.3f}× ({c['verdict']})" for c in data["candidates"])
              + f"; wall {wall:.1f}s, children {children:.1f}s")
    for name, values in speedups.items():
        mean = sum(values) / len(values)
        worst = max(abs(v / mean - 1) for v in values)
        print(f"  {name}: {', '.join(f'{v:.3f}' for v in values)} → largest deviation from their mean {worst:.1%} "
              f"({'within' if worst <= 0.05 else 'OUTSIDE'} ±5%)")
    return overheads


def power_and_false_positives(project: Path, work: Path, repeat: int, n: int) -> list[float]:
    print(f"\n## 2+3. {n} compares of baseline vs slow10 (each also has a base-vs-base row)")
    slow_declared, base_declared, overheads, epoch_ratios = 0, 0, [], []
    for i in range(n):
        data, wall = compare(project, work, ["baseline", "slow10"], repeat, TIMED_SETS)
        slow, floor = data["candidates"][0], data["noise_floor"]
        declared = [p for p, s in floor["speed"].items() if s["verdict"] in ("faster", "slower")]
        base_declared += bool(declared)
        slow_declared += slow["speed"]["train_epoch"]["verdict"] == "slower"
        epoch_ratios.append(slow["speed"]["train_epoch"]["speedup"])
        children = child_wall(work)
        overheads.append((wall - children) / children)
        print(f"  {i + 1:2d}: slow10 train_epoch {slow['speed']['train_epoch']['speedup']:.3f}× "
              f"{slow['speed']['train_epoch']['verdict']:<26} ({slow['speed']['train_epoch']['reason']}) verdict '{slow['verdict']}'; "
              f"base-vs-base declared: {declared or 'none'}")
    print(f"  slow10 declared slower (train epoch): {slow_declared}/{n}")
    print(f"  base-vs-base comparisons with any phase declared faster/slower: {base_declared}/{n}")
    return overheads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--comparisons", type=int, default=20)
    parser.add_argument("--skip-repeatability", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-timing-") as tmp:
        project = make_project(Path(tmp))
        work = Path(tmp) / "work"
        overheads = [] if args.skip_repeatability else repeatability(project, work, args.repeat)
        overheads += power_and_false_positives(project, work, args.repeat, args.comparisons)
    print("\n## 4. harness overhead: (compare wall − Σ child wall) / Σ child wall")
    print(f"  median {sorted(overheads)[len(overheads) // 2]:.1%}, min {min(overheads):.1%}, max {max(overheads):.1%} over {len(overheads)} compares")


if __name__ == "__main__":
    main()
