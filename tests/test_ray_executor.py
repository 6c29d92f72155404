"""The Ray executor on a real two-node local Ray cluster (ray.cluster_utils.Cluster, one CPU per node).

Started once for the module: correctness runs must land on both nodes and
come back judged exactly as local runs are; every timed run must stay on the
one timing node.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster

from harness.commands.compare import run_compare
from harness.executors.ray import CACHE_DIR, RayExecutor
from harness.plan import CompareOptions
from harness.results import RunResult

pytestmark = pytest.mark.slow  # real subprocesses by the dozen: `pytest -m 'not slow'` skips them locally

STORE_BYTES = 80 * 1024 * 1024  # Ray's object store minimum is 75 MiB; the runs ship kilobytes


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[RayExecutor]:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": STORE_BYTES,
                                                             "include_dashboard": False})
    cluster.add_node(num_cpus=1, object_store_memory=STORE_BYTES)
    cluster.wait_for_nodes()
    executor = RayExecutor(cluster.address)
    yield executor
    executor.close()
    cluster.shutdown()
    for node in executor.nodes:  # each node's checkout cache (real nodes keep theirs)
        shutil.rmtree(Path(tempfile.gettempdir()) / CACHE_DIR / node[:12], ignore_errors=True)


def _results(run_root: Path) -> list[RunResult]:
    return [RunResult.load(p) for p in sorted(run_root.glob("*/rep-*/result.json"))]


def test_correctness_runs_spread_over_both_nodes_and_come_back_whole(
        ray_executor: RayExecutor, fake_repo: Path, tmp_path: Path) -> None:
    opts = CompareOptions(baseline="base", preset="small", variants=0, candidates=["same", "rng", "pixel", "crash"], repo=str(fake_repo),
                          work_dir=tmp_path, quick=True, threads=1)
    done = run_compare(opts, ray_executor)
    verdicts = {c.name: (c.verdict, c.diagnosis) for c in done.doc.candidates}
    assert verdicts["same"] == ("equivalent, speed not judged (one run each)", "outputs identical to the baseline")
    assert verdicts["rng"][0] == "NOT equivalent" and "RNG stream" in verdicts["rng"][1]
    assert verdicts["pixel"][1].startswith("rendering changed: 2 pixels differ")
    assert verdicts["crash"][0] == "crashed" and "CUDA error" in verdicts["crash"][1]
    nodes = {r.node for r in _results(done.run_root)}
    assert len(nodes) == 2 and {n.split("/")[1] for n in nodes} == {n[:12] for n in ray_executor.nodes}


def test_timed_runs_stay_on_the_timing_node(ray_executor: RayExecutor, fake_repo: Path, tmp_path: Path) -> None:
    opts = CompareOptions(baseline="base", preset="small", variants=0, candidates=["same"], repo=str(fake_repo), work_dir=tmp_path, repeat=2,
                          threads=1)
    done = run_compare(opts, ray_executor)
    timed = [r for r in _results(done.run_root) if r.rep >= 1]
    assert len(timed) == 2 * 3 and all(r.ok for r in timed)  # two timing rounds of baseline, twin, candidate
    assert {r.node.split("/")[1] for r in timed} == {ray_executor.timing_node[:12]}
    assert done.doc.candidates[0].equivalent
