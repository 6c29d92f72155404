"""Can the harness's speed claims be trusted, and what do they cost? Prints the figures; asserts nothing.

1. repeatability: three back-to-back compares of the same branches agree on the period speedup;
2. false positives: compares of the baseline against `same` (a comment-only patch) under the
   sequential rule: how many declare any judged phase faster/slower, and the rounds used;
3. power: a candidate whose training epochs are ~10 % slower (a busy wait) is declared slower
   ("equivalent, slower training"), and the rounds used;
4. overhead: a compare's wall time against the sum of its child runs.

Usage (from the repository root; each compare runs the equivalence round and 5-20 timing rounds):
    python tests/benchmarks/bench_timing.py --comparisons 20 --part null --part power
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
    "        _spin = 0.10 * (__import__('time').perf_counter() - _t0); _t0 = __import__('time').perf_counter()\n"
    "        while __import__('time').perf_counter() - _t0 < _spin: pass  # 10% slower epochs\n",
)
# A busy wait, not a sleep: on a quiet machine a 10 % sleep made the next epoch slower too (0.844x measured,
# not 0.909x) -- probably caches and clock gone cold while it slept; spinning costs the 10 % and no more.
# Small preset, but a net and data big enough that a training epoch lasts over 50 ticks of the 1 ms log clock.
TIMED_SETS = ["--set", "size=128", "--set", "points=12000", "--set", "shape=[128]*6", "--set", "epochs=12",
              "--set", "save_interval=6"]


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
    (project / "candidates" / "slow10.patch").write_text("Test candidate: spins 10% of each training epoch.\n\n" + diff)
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=scratch, check=True)
    (scratch / "polytope" / "model.py").write_text((scratch / "polytope" / "model.py").read_text() + "# same\n")
    diff = subprocess.run(["git", "diff"], cwd=scratch, check=True, capture_output=True, text=True).stdout
    (project / "candidates" / "same.patch").write_text("Test candidate: a comment, nothing else.\n\n" + diff)
    task = project / "task"
    shutil.copytree(ROOT / "harness" / "tasks" / "polytope", task, ignore=shutil.ignore_patterns("__pycache__"))
    toml = (task / "task.toml").read_text().replace('"../../../baseline"', '"../baseline"')
    (task / "task.toml").write_text(toml.replace('"../../../candidates"', '"../candidates"'))
    return project


def compare(project: Path, work: Path, names: list[str], repeat: int, extra: list[str]) -> tuple[dict, float]:
    """One real `evalharness compare` subprocess; returns its JSON and its wall time."""
    out = work / "last.json"
    argv = [sys.executable, "-m", "harness", "-q", "compare", *names, "--preset", "small", "--repeat", str(repeat),
            "--fresh", "--variants", "0",  # held-out variants check equivalence, not timing: not needed here
            "--task", str(project / "task"), "--work-dir", str(work), "--json", str(out), "--report", str(work / "last.md"), *extra]
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


def _declared(entry: dict, phases: list[str]) -> list[str]:
    return [p for p in phases if entry["speed"][p]["verdict"] in ("faster", "slower")]


def false_positives(project: Path, work: Path, repeat: int, n: int) -> list[float]:
    print(f"\n## 2. {n} compares of baseline vs same (comment-only), sequential rule, --repeat {repeat}")
    declared, rounds, overheads = 0, [], []
    for i in range(n):
        data, wall = compare(project, work, ["baseline", "same"], repeat, TIMED_SETS)
        same = data["candidates"][0]
        found = _declared(same, data["task"]["phases"] + ["wall"])
        declared += bool(found)
        rounds.append(same["timing_rounds"])
        overheads.append((wall - child_wall(work)) / child_wall(work))
        print(f"  {i + 1:2d}: '{same['verdict']}' after {same['timing_rounds']} rounds; declared: {found or 'none'}")
    print(f"  base-vs-base compares with any phase declared faster/slower: {declared}/{n}; "
          f"mean timing rounds {sum(rounds) / n:.1f}")
    return overheads


def power(project: Path, work: Path, repeat: int, n: int) -> list[float]:
    print(f"\n## 3. {n} compares of baseline vs slow10 (training epoch ~10 % slower), --repeat {repeat}")
    slower, rounds, overheads, ratios = 0, [], [], []
    for i in range(n):
        data, wall = compare(project, work, ["baseline", "slow10"], repeat, TIMED_SETS)
        slow = data["candidates"][0]
        epoch = slow["speed"]["train_epoch"]
        slower += epoch["verdict"] == "slower"
        rounds.append(slow["timing_rounds"])
        ratios.append(epoch["speedup"])
        overheads.append((wall - child_wall(work)) / child_wall(work))
        print(f"  {i + 1:2d}: train_epoch {epoch['speedup']:.3f}× {epoch['verdict']:<12} verdict '{slow['verdict']}' "
              f"after {slow['timing_rounds']} rounds")
    print(f"  slow10 declared slower (train epoch): {slower}/{n}; mean timing rounds {sum(rounds) / n:.1f}; "
          f"median epoch ratio {sorted(ratios)[n // 2]:.3f}")
    return overheads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20, help="the most timing rounds (sequential rule)")
    parser.add_argument("--comparisons", type=int, default=20)
    parser.add_argument("--part", action="append", choices=["repeatability", "null", "power"],
                        help="which parts to run (default: all)")
    args = parser.parse_args()
    parts = args.part or ["repeatability", "null", "power"]
    with tempfile.TemporaryDirectory(prefix="bench-timing-") as tmp:
        project = make_project(Path(tmp))
        work = Path(tmp) / "work"
        overheads = repeatability(project, work, args.repeat) if "repeatability" in parts else []
        if "null" in parts:
            overheads += false_positives(project, work, args.repeat, args.comparisons)
        if "power" in parts:
            overheads += power(project, work, args.repeat, args.comparisons)
    print("\n## 4. harness overhead: (compare wall − Σ child wall) / Σ child wall"
          " (negative when the equivalence round's runs went at once, --jobs)")
    print(f"  median {sorted(overheads)[len(overheads) // 2]:.1%}, min {min(overheads):.1%}, max {max(overheads):.1%} over {len(overheads)} compares")


if __name__ == "__main__":
    main()
