"""Runs fanned out over a Ray cluster: correctness runs on every node, timed runs alone on one.

What runs where:
- correctness runs (`run_many`: the equivalence round, `check`) are spread
  over every node (Ray's SPREAD strategy), each reserving as many CPUs as it
  gets threads, so a node never runs more threads than it has cores;
- timed runs (`run`) all go to one *timing node*, chosen once per executor,
  and each reserves every CPU of it: nothing else of any Ray job runs there
  meanwhile, and a candidate's rounds are paired with the baseline's on the
  same machine, so the ratios stay honest.

No shared filesystem is assumed. The branch's commit travels as a git bundle
through Ray's object store (as do input files the command names); the node
checks it out into a node-local cache, runs the spec there with the
LocalExecutor (same environment, timeout and wait4 measurements) and sends
the run folder's files back (stdout, stderr, output/); the driver writes them
where a local run would have, so collect and the judge see no difference.
The node is recorded in every run's Outcome (and so in result.json).

The nodes must be alike: the same interpreter at the same path (`--python`),
the same libraries, the same CPU model — the run key records the driver's.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import harness
from harness import constants as C
from harness.errors import InfraError, UsageProblem
from harness.executors import Outcome, RunSpec
from harness.executors.pool import Done

log = logging.getLogger(__name__)

#: A run may send back at most this much; beyond it files are dropped and stderr says so.
MAX_RETURN_BYTES = 1 << 30
CACHE_DIR = "evalharness-ray"


@dataclass(frozen=True)
class NodeRun:
    """What a node sends back: the harness's observations and the run folder's files."""

    outcome: Outcome
    files: dict[str, bytes]


# --------------------------------------------------------------------------- #
# On the node
# --------------------------------------------------------------------------- #


def node_name() -> str:
    """host/node-id: two Ray nodes on one host (a test cluster) stay apart."""
    return f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:12]}"


def node_cache() -> Path:
    """This node's own cache of checkouts and inputs (never shared with another node)."""
    root = Path(tempfile.gettempdir()) / CACHE_DIR / ray.get_runtime_context().get_node_id()[:12]
    root.mkdir(parents=True, exist_ok=True)
    return root


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=600)


def materialise(cache: Path, sha: str, bundle: bytes, python: str) -> Path:
    """The commit checked out from its bundle, once per node; concurrent tasks race safely by rename."""
    target = cache / "trees" / sha[:16]
    if target.is_dir():
        return target
    work = cache / "trees" / f".{sha[:16]}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    (work.parent / f"{work.name}.bundle").write_bytes(bundle)
    _git(work, "init", "-q")
    _git(work, "fetch", "-q", str(work.parent / f"{work.name}.bundle"), "HEAD")
    _git(work, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", sha)
    (work.parent / f"{work.name}.bundle").unlink()
    subprocess.run([python, "-m", "compileall", "-q", str(work)], capture_output=True, timeout=600)
    try:
        os.rename(work, target)
    except OSError:  # another task of this node got there first: same commit, same files
        shutil.rmtree(work, ignore_errors=True)
    return target


def store_inputs(cache: Path, inputs: dict[str, Any]) -> dict[str, str]:
    """Driver path → the same file's path on this node (content-addressed, written once)."""
    local = {}
    for token, ref in inputs.items():
        data = ray.get(ref)
        target = cache / "inputs" / _digest(data) / Path(token).name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(f".{target.name}-{uuid.uuid4().hex[:8]}")
            part.write_bytes(data)
            os.replace(part, target)
        local[token] = str(target)
    return local


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:24]


def relocate(spec: RunSpec, tree: Path, run_dir: Path, files: dict[str, str]) -> RunSpec:
    """The spec with driver paths in its argv replaced by this node's: the checkout, the run folder, inputs."""
    def rewrite(token: str) -> str:
        if token in files:
            return files[token]
        for old, new in ((spec.run_dir, run_dir), (spec.cwd, tree)):
            if Path(token).is_absolute() and Path(token).is_relative_to(old):
                return str(new / Path(token).relative_to(old))
        return token

    return replace(spec, cwd=tree, run_dir=run_dir, argv=[spec.argv[0], *map(rewrite, spec.argv[1:])])


def read_back(run_dir: Path) -> dict[str, bytes]:
    """Every regular file of the run folder (symlinks are not followed), up to MAX_RETURN_BYTES."""
    files, total, dropped = {}, 0, []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink()):
        size = path.stat().st_size
        if total + size > MAX_RETURN_BYTES:
            dropped.append(path.relative_to(run_dir).as_posix())
            continue
        files[path.relative_to(run_dir).as_posix()] = path.read_bytes()
        total += size
    if dropped:
        note = f"\nevalharness: not sent back from the node (over {MAX_RETURN_BYTES} bytes): {', '.join(dropped)}\n"
        files[C.STDERR_FILE] = files.get(C.STDERR_FILE, b"") + note.encode()
    return files


def run_on_node(spec: RunSpec, bundle: bytes, inputs: dict[str, Any]) -> NodeRun:
    """A Ray task: check the commit out here, run the spec with the LocalExecutor, send the folder back."""
    from harness.executors.local import LocalExecutor

    cache = node_cache()
    tree = materialise(cache, spec.sha, bundle, spec.argv[0])
    files = store_inputs(cache, inputs)
    with tempfile.TemporaryDirectory(prefix="run-", dir=cache) as scratch:
        local = relocate(spec, tree, Path(scratch) / "run", files)
        (local.run_dir / C.OUTPUT_DIR).mkdir(parents=True)
        outcome = LocalExecutor().run(local)
        return NodeRun(replace(outcome, node=node_name()), read_back(local.run_dir))


# --------------------------------------------------------------------------- #
# On the driver
# --------------------------------------------------------------------------- #


def bundle_of(tree: Path) -> bytes:
    """The checked-out commit (HEAD of the worktree) and its history as one git bundle."""
    with tempfile.TemporaryDirectory(prefix="evalharness-bundle-") as tmp:
        target = Path(tmp) / "commit.bundle"
        proc = subprocess.run(["git", "bundle", "create", str(target), "HEAD"], cwd=tree, capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            raise InfraError(f"git bundle of {tree} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return target.read_bytes()


def input_files(spec: RunSpec) -> list[str]:
    """Argv paths of existing files outside the checkout and the run folder: they must travel too."""
    def travels(token: str) -> bool:
        path = Path(token)
        return (path.is_absolute() and path.is_file() and not path.is_relative_to(spec.cwd)
                and not path.is_relative_to(spec.run_dir))

    return [token for token in spec.argv[1:] if travels(token)]


def land(spec: RunSpec, back: NodeRun) -> Outcome:
    """Write what the node sent into the driver's run folder, where a local run would have left it."""
    root = spec.run_dir.resolve()
    for rel, data in back.files.items():
        target = (root / rel).resolve()
        if not target.is_relative_to(root):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return back.outcome


def _threads_of(spec: RunSpec) -> int:
    return max(1, int(spec.env.get("OMP_NUM_THREADS", "1")))


class RayExecutor:
    """Correctness runs spread over a Ray cluster; timed runs one at a time, alone on the timing node."""

    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        self._owns = not ray.is_initialized()
        if self._owns:
            _connect(address)
        self.nodes = {n["NodeID"]: int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")}
        if not self.nodes or not any(self.nodes.values()):
            raise InfraError("the Ray cluster has no node with a CPU")
        self.timing_node = min(self.nodes, key=lambda node: (-self.nodes[node], node))
        self._task = ray.remote(run_on_node)
        self._bundles: dict[str, Any] = {}
        self._inputs: dict[str, Any] = {}
        log.info("Ray: %d node(s), %d CPUs; timed runs on node %s (%d CPUs)", len(self.nodes),
                 sum(self.nodes.values()), self.timing_node[:12], self.nodes[self.timing_node])

    def run_threads(self, threads: int) -> int:
        """Threads of each correctness run: what was asked, capped by the smallest node's CPUs."""
        return max(1, min(threads, min(c for c in self.nodes.values() if c)))

    def run(self, spec: RunSpec) -> Outcome:
        """A timed run: on the timing node, holding all of its CPUs."""
        where = NodeAffinitySchedulingStrategy(node_id=self.timing_node, soft=False)
        ref = self._submit(spec, num_cpus=self.nodes[self.timing_node], scheduling_strategy=where)
        return land(spec, self._get(ref, spec))

    def run_many(self, specs: Sequence[RunSpec], done: Done | None = None) -> list[Outcome]:
        """Correctness runs spread over every node; `done` hears of each as it lands."""
        refs = [self._submit(s, num_cpus=_threads_of(s), scheduling_strategy="SPREAD") for s in specs]
        index, pending = {ref: i for i, ref in enumerate(refs)}, list(refs)
        outcomes: list[Outcome | None] = [None] * len(specs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                i = index[ready[0]]
                outcomes[i] = land(specs[i], self._get(ready[0], specs[i]))
                if done is not None:
                    done(i, outcomes[i])
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return [o for o in outcomes if o is not None]

    def close(self) -> None:
        """Disconnect (and stop the local Ray) if this executor started the connection."""
        if self._owns and ray.is_initialized():
            ray.shutdown()

    def _submit(self, spec: RunSpec, **options: Any) -> Any:
        task = self._task.options(max_retries=0, **options)
        return task.remote(spec, self._bundle(spec), self._input_refs(spec))

    def _bundle(self, spec: RunSpec) -> Any:
        if spec.sha not in self._bundles:
            self._bundles[spec.sha] = ray.put(bundle_of(spec.cwd))
        return self._bundles[spec.sha]

    def _input_refs(self, spec: RunSpec) -> dict[str, Any]:
        for token in input_files(spec):
            if token not in self._inputs:
                self._inputs[token] = ray.put(Path(token).read_bytes())
        return {token: self._inputs[token] for token in input_files(spec)}

    def _get(self, ref: Any, spec: RunSpec) -> NodeRun:
        try:
            return ray.get(ref)
        except ray.exceptions.RayError as exc:
            raise InfraError(f"Ray could not run {spec.label} round {spec.rep + 1}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _connect(address: str | None) -> None:
    """Join the cluster at `address`, or start a local Ray; ship this harness to the workers."""
    package = str(Path(harness.__file__).resolve().parent)
    try:
        ray.init(address=address, runtime_env={"py_modules": [package]}, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as exc:
        raise UsageProblem(f"--address {address}: no Ray cluster there ({exc})") from None
