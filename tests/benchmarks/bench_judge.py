"""What judging every run costs: the judge with every timed run held against the baseline's, and without.

    python tests/benchmarks/bench_judge.py [--preset demo] [--repeat 5]

Runs one real compare (baseline vs the built-in candidates that pass round 0), then times the judge
(`analyse`) on its stored results twice: as it is, and with each candidate judged on its first run only
(as before every run was judged). Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness import facts  # noqa: E402
from harness.commands import harness_info  # noqa: E402
from harness.executors.registry import make_executor  # noqa: E402
from harness.judge import analyse  # noqa: E402
from harness.plan import CompareOptions, plan_compare  # noqa: E402
from harness.schedule import execute_plan  # noqa: E402


def first_only(case, name, results, tol):  # the judge before every run was judged
    base, first = results[case.facts.baseline][0], results[name][0]
    return first, analyse.judge_run(case, name, base, first, tol)


def timed(fn, repeats: int = 5) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        opts = CompareOptions(baseline="baseline", candidates=["claude", "gemini", "fused"], preset=args.preset,
                              repeat=args.repeat, variants=0, work_dir=Path(tmp))
        plan = plan_compare(opts)
        executor = make_executor("local", {}, opts.threads)
        start = time.perf_counter()
        try:
            execution = execute_plan(plan, executor)
        finally:
            executor.close()
        runs_s = time.perf_counter() - start
        judged = sum(len(execution.results[n]) for n in plan.lineup.candidates)
        case = analyse.Case(facts.facts_of(plan, execution, harness_info(), "built-in"), plan.task, plan.run_root)
        every = timed(lambda: analyse.analyse(case, execution))
        with mock.patch.object(analyse, "standing", first_only):
            first = timed(lambda: analyse.analyse(case, execution))
        plan.release()
    extra = statistics.median(every) - statistics.median(first)
    print(f"preset {args.preset}, --repeat {args.repeat}: {judged} candidate runs judged, the compare's runs took "
          f"{runs_s:.1f} s")
    print(f"  judge, every run held against the baseline: median {statistics.median(every):.3f} s "
          f"({', '.join(f'{t:.3f}' for t in every)})")
    print(f"  judge, first run only (before):             median {statistics.median(first):.3f} s")
    print(f"  cost of judging every run: {extra:.3f} s per compare ({extra / max(1, judged) * 1000:.1f} ms per run, "
          f"{extra / runs_s:.2%} of the runs' time)")


if __name__ == "__main__":
    main()
