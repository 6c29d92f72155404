"""Runs fanned out over a Ray cluster: correctness runs on every node, timed runs alone on one.

What runs where:
- correctness runs (`run_many`: the equivalence round, `check`) are spread
  over every node (Ray's SPREAD strategy), each reserving as many CPUs as it
  gets threads, so a node never runs more threads than it has cores;
- timed runs (`run`) all go to one *timing node*, chosen once per executor,
  and each reserves every CPU of it: nothing else of any Ray job runs there
  meanwhile, and a candidate's rounds are paired with the baseline's on the
  same machine, so the ratios stay honest.

No shared filesystem is assumed. The driver prepares each run's folder as a
local run gets it, and that folder travels through Ray's object store as an
archive (as do input files the command names); the node runs it in a
node-local scratch folder with the LocalExecutor and sends the run folder's
files back, which the driver writes where a local run would have. What
travels and where it lands is remote.py (plain Python, tested without Ray);
this module only talks to Ray. Ray is imported when a RayExecutor is built
(or a task runs on a node), never by importing this module: it is an
optional extra, and the command line lists this executor without it.
The node is recorded in every run's Outcome (and so in result.json).

The nodes must be alike: the same interpreter at the same path (`--python`),
the same libraries, the same CPU model — the run key records the driver's.
"""

from __future__ import annotations

import logging
import socket
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import harness
from harness.errors import InfraError, UsageProblem
from harness.executors import Done, Executor, Option, Outcome, RunSpec, remote
from harness.executors.remote import NodeRun

log = logging.getLogger(__name__)

CACHE_DIR = "evalharness-ray"


# --------------------------------------------------------------------------- #
# On the node
# --------------------------------------------------------------------------- #


def node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())[:12]


def node_name() -> str:
    """host/node-id: two Ray nodes on one host (a test cluster) stay apart."""
    return f"{socket.gethostname()}/{node_id()}"


def node_cache() -> Path:
    """This node's own cache of inputs and scratch folders (never shared with another node)."""
    root = Path(tempfile.gettempdir()) / CACHE_DIR / node_id()
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_on_node(spec: RunSpec, archive: bytes, inputs: dict[str, Any]) -> NodeRun:
    """A Ray task: fetch the inputs, run the shipped run folder here with the LocalExecutor, send it back."""
    import ray

    from harness.executors.local import LocalExecutor

    cache = node_cache()
    files = remote.store_inputs(cache, {token: ray.get(ref) for token, ref in inputs.items()})
    return remote.run_shipped(spec, archive, files, cache, LocalExecutor(), node_name())


# --------------------------------------------------------------------------- #
# On the driver
# --------------------------------------------------------------------------- #


def _threads_of(spec: RunSpec) -> int:
    return max(1, int(spec.env.get("OMP_NUM_THREADS", "1")))


class RayExecutor(Executor):
    """Correctness runs spread over a Ray cluster; timed runs one at a time, alone on the timing node."""

    name = "ray"
    summary = "a Ray cluster; pip install 'evalharness[ray]'"
    options = (Option("--address", "The Ray cluster to use with --executor ray (default: a local Ray).",
                      metavar="HOST:PORT"),)

    @classmethod
    def from_options(cls, settings: Mapping[str, Any], threads: int) -> Executor:
        """`--executor ray [--address HOST:PORT]`: each run gets its threads from its spec."""
        return cls(settings["address"])

    def __init__(self, address: str | None = None) -> None:
        ray = _import_ray()
        self._owns = not ray.is_initialized()
        if self._owns:
            _connect(address)
        self.nodes = {n["NodeID"]: int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")}
        if not self.nodes or not any(self.nodes.values()):
            raise InfraError("the Ray cluster has no node with a CPU")
        self.timing_node = min(self.nodes, key=lambda node: (-self.nodes[node], node))
        self._task = ray.remote(run_on_node)
        self._inputs: dict[str, Any] = {}
        log.info("Ray: %d node(s), %d CPUs; timed runs on node %s (%d CPUs)", len(self.nodes),
                 sum(self.nodes.values()), self.timing_node[:12], self.nodes[self.timing_node])

    def run(self, spec: RunSpec) -> Outcome:
        """A timed run: on the timing node, holding all of its CPUs."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        where = NodeAffinitySchedulingStrategy(node_id=self.timing_node, soft=False)
        ref = self._submit(spec, num_cpus=self.nodes[self.timing_node], scheduling_strategy=where)
        return remote.land(spec, self._get(ref, spec))

    def run_many(self, specs: Sequence[RunSpec], done: Done | None = None) -> list[Outcome]:
        """Correctness runs spread over every node; `done` hears of each as it lands, in the caller's thread."""
        import ray

        smallest = min(c for c in self.nodes.values() if c)
        refs = [self._submit(s, num_cpus=min(_threads_of(s), smallest), scheduling_strategy="SPREAD") for s in specs]
        index, pending = {ref: i for i, ref in enumerate(refs)}, list(refs)
        outcomes: list[Outcome | None] = [None] * len(specs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                i = index[ready[0]]
                outcomes[i] = remote.land(specs[i], self._get(ready[0], specs[i]))
                if done is not None:
                    done(i, outcomes[i])
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return [o for o in outcomes if o is not None]

    def close(self) -> None:
        """Disconnect (and stop the local Ray) if this executor started the connection."""
        import ray

        if self._owns and ray.is_initialized():
            ray.shutdown()

    def _submit(self, spec: RunSpec, **options: Any) -> Any:
        import ray

        task = self._task.options(max_retries=0, **options)
        return task.remote(spec, ray.put(remote.archive_of(spec.sandbox_dir or spec.run_dir)), self._input_refs(spec))

    def _input_refs(self, spec: RunSpec) -> dict[str, Any]:
        import ray

        for token in remote.input_files(spec):
            if token not in self._inputs:
                self._inputs[token] = ray.put(Path(token).read_bytes())
        return {token: self._inputs[token] for token in remote.input_files(spec)}

    def _get(self, ref: Any, spec: RunSpec) -> NodeRun:
        import ray

        try:
            back: NodeRun = ray.get(ref)
        except ray.exceptions.RayError as exc:
            raise InfraError(f"Ray could not run {spec.label} round {spec.rep + 1}: {_first_line(exc)}") from exc
        return back


def _import_ray() -> Any:
    """Ray, an optional extra: a clear line when it is not installed."""
    try:
        import ray
    except ImportError:
        raise UsageProblem("--executor ray needs Ray: pip install 'evalharness[ray]'") from None
    return ray


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _connect(address: str | None) -> None:
    """Join the cluster at `address`, or start a local Ray; ship this harness to the workers."""
    import ray

    package = str(Path(harness.__file__).resolve().parent)
    try:
        ray.init(address=address, runtime_env={"py_modules": [package]}, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as exc:
        raise UsageProblem(f"--address {address}: no Ray cluster there ({exc})") from None
