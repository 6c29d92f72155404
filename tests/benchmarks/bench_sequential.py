"""What the equivalence-first, sequential schedule costs and decides. Prints the figures; asserts nothing.

  --part seed   the seed preset, baseline vs gemini, claude, gemini-first, fused: runs, wall time and
                verdicts, capped at 10 rounds, against the fixed 10-round schedule of before (6 labels x 10 = 60 runs)
  --part demo   the README's two demo commands on the default preset, each from an empty work folder
  --part start  warm vs cold start of a compare without timing rounds: the 3-branch demo with --quick
                (round 0 and the held-out variants), alternating --start warm/cold

Usage (from the repository root): python tests/benchmarks/bench_sequential.py --part demo
The seed part takes ~10-15 minutes on 2 cores; `--report` keeps its markdown/JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXED_SCHEDULE_RUNS = 6 * 10  # baseline, its twin and four candidates, ten rounds each
DEMOS = (["baseline", "gemini", "claude"], ["baseline", "gemini", "claude", "gemini-first", "fused"])


def compare(names: list[str], work: Path, extra: list[str], report: Path | None = None) -> tuple[dict, float, int]:
    """One `evalharness compare` subprocess: its document, wall time and number of runs."""
    report = report or work / "report.md"
    out = report.with_suffix(".json")
    argv = [sys.executable, "-m", "harness", "-q", "compare", *names, "--work-dir", str(work), "--json", str(out),
            "--report", str(report), *extra]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"compare failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    runs = len(list((work / "runs").glob("*/*/rep-*/result.json")))
    return json.loads(out.read_text()), wall, runs


def show(doc: dict, wall: float, runs: int) -> None:
    print(f"  {runs} runs, {wall:.0f} s wall, timing rounds {doc['settings']['rounds_run']} "
          f"(≤{doc['settings']['rounds']}), per-look α={doc['settings']['alpha_look']:.3g}")
    primary = doc["task"]["primary_phase"]
    for c in doc["candidates"]:
        v = c["speed"][primary]
        ci = f" [{v['ci'][0]:.2f}, {v['ci'][1]:.2f}]" if v.get("ci") and None not in v["ci"] else ""
        speed = f"{v['speedup']:.2f}×{ci}" if v.get("speedup") else "–"
        print(f"  {c['name']:<13} {c['verdict']:<45} {primary} {speed:<20} {c['timing_note']}")
    for w in doc["warnings"]:
        print(f"  warning: {w}")


def seed(report: Path | None) -> None:
    print("\n## seed preset: baseline vs gemini, claude, gemini-first, fused")
    with tempfile.TemporaryDirectory(prefix="bench-seq-") as tmp:
        doc, wall, runs = compare(["baseline", *DEMOS[1][1:]], Path(tmp), ["--preset", "seed", "--repeat", "10"], report)
        show(doc, wall, runs)
        print(f"  runs against the fixed 10-round schedule: {runs}/{FIXED_SCHEDULE_RUNS} = {runs / FIXED_SCHEDULE_RUNS:.0%}")


def demo() -> None:
    for names in DEMOS:
        print(f"\n## evalharness compare {' '.join(names)} (default preset, empty work folder)")
        with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
            show(*compare(names, Path(tmp), []))


def start_modes(pairs: int = 2) -> None:
    """A compare of correctness runs only, warm-started or not (a timed compare starts every run cold)."""
    print("\n## --start warm vs cold: compare baseline gemini claude --quick (empty work folder each)")
    walls: dict[str, list[float]] = {"warm": [], "cold": []}
    for _ in range(pairs):
        for mode in walls:
            with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
                doc, wall, runs = compare(DEMOS[0], Path(tmp), ["--quick", "--start", mode])
                starts = [json.loads(p.read_text())["start"] for p in Path(tmp).glob("runs/*/*/rep-000/result.json")]
            walls[mode].append(wall)
            print(f"  --start {mode}: {wall:.1f} s, {runs} runs, round 0 started {sorted(set(starts))}, "
                  f"verdicts {[c['verdict'] for c in doc['candidates']]}")
    for mode, values in walls.items():
        print(f"  {mode}: mean {sum(values) / len(values):.1f} s over {len(values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", action="append", choices=["seed", "demo", "start"], help="default: both")
    parser.add_argument("--report", type=Path, help="keep the seed compare's report here (markdown; JSON beside it)")
    args = parser.parse_args()
    parts = args.part or ["demo", "seed"]
    if "start" in parts:
        start_modes()
    if "demo" in parts:
        demo()
    if "seed" in parts:
        seed(args.report)


if __name__ == "__main__":
    main()
