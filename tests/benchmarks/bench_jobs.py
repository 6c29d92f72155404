"""How much do --jobs and a Ray cluster cut the equivalence check of many attempts? Prints figures; asserts nothing.

Twelve attempts (three agents × the four built-in candidate patches, handed in
with --predictions) plus the baseline, one correctness run each (`compare
--quick`, what `check` runs), three ways:

1. --jobs 1 (one run at a time);
2. --jobs 2 (two runs at once; every run has the same --threads, the default cores less one);
3. --executor ray on a local two-node Ray cluster (one CPU per node), started here.

Each configuration starts from an empty work folder (same checkout cost), and
all three must reach the same verdicts. On a shared machine the figures move
with the neighbours' load: the load average is printed with them.

Usage (from the repository root, a few minutes on 2 cores):
    python tests/benchmarks/bench_jobs.py [--preset small] [--set epochs=8]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ("agent-a", "agent-b", "agent-c")
STORE_BYTES = 80 * 1024 * 1024


def predictions(path: Path) -> Path:
    """Every agent hands in every built-in patch once: 12 attempts, 12 distinct commits."""
    patches = sorted((ROOT / "candidates").glob("*.patch"))
    lines = [json.dumps({"agent": agent, "attempt": i, "patch": p.read_text()})
             for agent in AGENTS for i, p in enumerate(patches, start=1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(label: str, work: Path, preds: Path, extra: list[str], sets: list[str]) -> dict:
    """One `evalharness compare --quick` subprocess: wall time, run-phase time and verdicts."""
    out = work / "compare.json"
    argv = [sys.executable, "-m", "harness", "compare", "baseline", "--predictions", str(preds), "--quick",
            "--work-dir", str(work), "--report", str(work / "r.md"), "--json", str(out), *sets, *extra]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{label}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    doc = json.loads(out.read_text())
    elapsed = [float(m) for m in re.findall(r"\(elapsed ([0-9.]+)s", proc.stderr)]
    return {"label": label, "wall": wall, "runs": max(elapsed), "count": len(elapsed),
            "verdicts": {c["name"]: c["verdict"] for c in doc["candidates"]},
            "nodes": sorted({r["node"] for r in _results(work)})}


def _results(work: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in work.glob("runs/*/*/rep-000/result.json")]


def ray_cluster() -> Any:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": STORE_BYTES,
                                                             "include_dashboard": False})
    cluster.add_node(num_cpus=1, object_store_memory=STORE_BYTES)
    cluster.wait_for_nodes()
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    sets = ["--preset", args.preset, *(x for s in args.sets for x in ("--set", s))]
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        preds = predictions(Path(tmp) / "attempts.jsonl")
        load = os.getloadavg()
        rows = [run("--jobs 1", Path(tmp) / "j1", preds, ["--jobs", "1"], sets),
                run("--jobs 2", Path(tmp) / "j2", preds, ["--jobs", "2"], sets)]
        cluster = ray_cluster()
        try:
            rows.append(run("ray, 2 nodes × 1 CPU", Path(tmp) / "ray", preds,
                            ["--executor", "ray", "--address", cluster.address], sets))
        finally:
            nodes = [node.node_id for node in cluster.list_all_nodes()]
            cluster.shutdown()
            for node in nodes:  # each node's checkout cache
                shutil.rmtree(Path(tempfile.gettempdir()) / "evalharness-ray" / node[:12], ignore_errors=True)
        report(rows, load, args.preset, os.getloadavg())


def report(rows: list[dict], load_before: tuple, preset: str, load_after: tuple) -> None:
    base = rows[0]
    print(f"12 attempts + baseline, one correctness run each, preset {preset}, {os.cpu_count()} cores; "
          f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (shared machine)")
    print(f"{'configuration':<24} {'runs':>5} {'wall s':>8} {'run phase s':>12} {'speedup':>8}  nodes")
    for r in rows:
        print(f"{r['label']:<24} {r['count']:>5} {r['wall']:>8.1f} {r['runs']:>12.1f} "
              f"{base['wall'] / r['wall']:>7.2f}×  {len(r['nodes'])}")
    same = all(r["verdicts"] == base["verdicts"] for r in rows)
    print(f"same verdicts in all configurations: {'yes' if same else 'NO'} "
          f"({sum(v.startswith('equivalent') for v in base['verdicts'].values())}/12 equivalent)")


if __name__ == "__main__":
    main()
