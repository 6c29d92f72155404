"""--jobs: correctness runs at once, each with the timed runs' thread count; the same verdicts and outputs as one
at a time, under the same run keys (a run cannot tell from its thread variables which round it is in)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from harness.commands.compare import run_compare
from harness.executors import Executor, Outcome, RunSpec
from harness.executors.local import LocalExecutor
from harness.executors.pool import PoolExecutor, default_jobs
from harness.plan import CompareOptions
from harness.results import RunResult

CANDIDATES = ["same", "rng", "pixel", "collide", "crash"]


def compare_with(jobs: int, fake_repo: Path, work: Path) -> tuple[dict, dict]:
    """(candidate → verdict and diagnosis, label → what the run produced) of one --quick compare."""
    opts = CompareOptions(baseline="base", preset="small", variants=0, candidates=CANDIDATES, repo=str(fake_repo), work_dir=work, quick=True,
                          threads=1)
    done = run_compare(opts, PoolExecutor(LocalExecutor(), jobs, cores=2))
    verdicts = {c.name: (c.verdict, c.diagnosis, c.equivalent) for c in done.doc.candidates}
    runs = {r.label: r for r in (RunResult.load(p) for p in done.run_root.glob("*/rep-000/result.json"))}
    return verdicts, runs


def produced(run: RunResult) -> tuple:
    return run.status, run.metrics, [(a.key, a.sha256) for a in run.artifacts]


def test_two_jobs_give_the_same_verdicts_and_outputs_as_one(fake_repo: Path, tmp_path: Path) -> None:
    serial_verdicts, serial_runs = compare_with(1, fake_repo, tmp_path / "one")
    parallel_verdicts, parallel_runs = compare_with(2, fake_repo, tmp_path / "two")
    assert parallel_verdicts == serial_verdicts
    assert serial_verdicts["same"][2] and serial_verdicts["crash"][0] == "crashed"
    assert {k: produced(r) for k, r in parallel_runs.items()} == {k: produced(r) for k, r in serial_runs.items()}
    # every run, one at a time or two at once, has the thread count the timed runs would have: the same keys
    meta = json.loads(next((tmp_path / "two").glob("runs/*/same-*/rep-000/meta.json")).read_text())
    assert meta["env"]["OMP_NUM_THREADS"] == "1" and meta["run_key"]["threads"] == 1
    assert parallel_runs["same"].key == serial_runs["same"].key


@pytest.mark.parametrize("threads, cores, expected", [(1, 2, 2), (2, 2, 1), (7, 8, 1), (3, 16, 5), (4, 1, 1)])
def test_by_default_as_many_runs_at_once_as_the_cores_hold_at_the_runs_thread_count(threads: int, cores: int,
                                                                                    expected: int) -> None:
    assert default_jobs(threads, cores) == expected
    assert PoolExecutor(LocalExecutor(), 0, cores=cores, threads=threads).jobs == expected


class Rendezvous(Executor):
    """An inner executor whose runs only finish once `parties` of them are running at the same time."""

    name = "rendezvous"

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=10)

    def run(self, spec: RunSpec) -> Outcome:
        self.barrier.wait()  # raises BrokenBarrierError if the runs were not concurrent
        return Outcome("ok", 0, 0.0, 1.0, node=spec.label)


def test_run_many_really_runs_jobs_at_once_and_reports_each(tmp_path: Path) -> None:
    specs = [RunSpec(f"b{i}", f"b{i}", "0" * 40, 0, tmp_path, ["true"], tmp_path / f"b{i}", {}, 5.0) for i in range(4)]
    heard: list[int] = []
    outcomes = PoolExecutor(Rendezvous(2), 2, cores=2).run_many(specs, lambda i, _: heard.append(i))
    assert [o.node for o in outcomes] == ["b0", "b1", "b2", "b3"] and sorted(heard) == [0, 1, 2, 3]
