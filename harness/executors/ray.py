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
local run gets it (a fresh copy of the commit exported from the private
repository, an empty sandbox with HOME and TMPDIR) and that folder travels
through Ray's object store as an archive (as do input files the command
names); the node unpacks it into a node-local scratch folder, runs the spec
there with the LocalExecutor (same confinement, environment, timeout and
measurements) and sends the run folder's files back; the driver writes them
where a local run would have, so the store, collect and the judge see no
difference.
The node is recorded in every run's Outcome (and so in result.json).

The nodes must be alike: the same interpreter at the same path (`--python`),
the same libraries, the same CPU model — the run key records the driver's.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import tarfile
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
    """What a node sends back: the harness's observations, the run folder's files (logs, stamps) and the
    sandbox's (its outputs, for the driver to store)."""

    outcome: Outcome
    files: dict[str, bytes]
    sandbox: dict[str, bytes]


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


def unpack(archive: bytes, box: Path) -> None:
    """The sandbox as the driver prepared it (the commit's fresh copy, empty output, HOME and TMPDIR)."""
    box.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(box, filter="data")


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


def relocate(spec: RunSpec, run_dir: Path, box: Path, files: dict[str, str]) -> RunSpec:
    """The spec with driver paths replaced by this node's: the run folder, the sandbox (tree, output, HOME,
    TMPDIR) and the inputs (which the run may read where they now lie)."""
    old_box = spec.sandbox_dir or spec.run_dir

    def move(token: str) -> str:
        if token in files:
            return files[token]
        path = Path(token)
        for old, new in ((old_box, box), (spec.run_dir, run_dir)):
            if path.is_absolute() and path.is_relative_to(old):
                return str(new / path.relative_to(old))
        return token

    readable = (*spec.readable, *(Path(p).parent for p in files.values()))
    return replace(spec, cwd=Path(move(str(spec.cwd))), run_dir=run_dir, sandbox_dir=box,
                   argv=[spec.argv[0], *map(move, spec.argv[1:])], env={k: move(v) for k, v in spec.env.items()},
                   writable=(box,), readable=readable)


def read_back(folder: Path, budget: list[int], dropped: list[str]) -> dict[str, bytes]:
    """Every regular file of a folder (symlinks are not followed), while the shared `budget` of bytes lasts."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        size = path.stat().st_size
        if size > budget[0]:
            dropped.append(path.relative_to(folder).as_posix())
            continue
        files[path.relative_to(folder).as_posix()] = path.read_bytes()
        budget[0] -= size
    return files


def send_back(run_dir: Path, box: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The run folder's files and the sandbox's outputs, up to MAX_RETURN_BYTES in all (stderr says what not)."""
    budget, dropped = [MAX_RETURN_BYTES], []
    files = read_back(run_dir, budget, dropped)
    outputs = read_back(box / "output", budget, dropped) if (box / "output").is_dir() else {}
    tree = read_back(box / "src", budget, dropped) if (box / "src").is_dir() else {}
    sandbox = {**{f"output/{k}": v for k, v in outputs.items()}, **{f"src/{k}": v for k, v in tree.items()}}
    if dropped:
        note = f"\nevalharness: not sent back from the node (over {MAX_RETURN_BYTES} bytes): {', '.join(dropped)}\n"
        files[C.STDERR_FILE] = files.get(C.STDERR_FILE, b"") + note.encode()
    return files, sandbox


def run_on_node(spec: RunSpec, archive: bytes, inputs: dict[str, Any]) -> NodeRun:
    """A Ray task: unpack the prepared run folder here, run it with the LocalExecutor, send the folder back."""
    from harness.executors.local import LocalExecutor

    cache = node_cache()
    files = store_inputs(cache, inputs)
    with tempfile.TemporaryDirectory(prefix="run-", dir=cache) as scratch:
        local = relocate(spec, Path(scratch) / "run", Path(scratch) / "box", files)
        unpack(archive, local.sandbox_dir)  # type: ignore[arg-type]
        local.run_dir.mkdir()
        outcome = LocalExecutor().run(replace(local, preload=()))  # cold: a server per task would save nothing
        files, sandbox = send_back(local.run_dir, local.sandbox_dir)  # type: ignore[arg-type]
        return NodeRun(replace(outcome, node=node_name()), files, sandbox)


# --------------------------------------------------------------------------- #
# On the driver
# --------------------------------------------------------------------------- #


def archive_of(box: Path) -> bytes:
    """The prepared sandbox — the commit's fresh copy from the private repo, empty output, HOME, TMPDIR — as bytes."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        tar.add(box, arcname=".")
    return out.getvalue()


def input_files(spec: RunSpec) -> list[str]:
    """Argv paths of existing files outside the checkout and the run folder: they must travel too."""
    box = spec.sandbox_dir or spec.run_dir

    def travels(token: str) -> bool:
        path = Path(token)
        return path.is_absolute() and path.is_file() and not path.is_relative_to(box)

    return [token for token in spec.argv[1:] if travels(token)]


def land(spec: RunSpec, back: NodeRun) -> Outcome:
    """Write what the node sent into the driver's run folder and sandbox, where a local run would have left it."""
    for folder, files in ((spec.run_dir, back.files), (spec.sandbox_dir or spec.run_dir, back.sandbox)):
        root = folder.resolve()
        for rel, data in files.items():
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
        self._inputs: dict[str, Any] = {}
        log.info("Ray: %d node(s), %d CPUs; timed runs on node %s (%d CPUs)", len(self.nodes),
                 sum(self.nodes.values()), self.timing_node[:12], self.nodes[self.timing_node])

    def run(self, spec: RunSpec) -> Outcome:
        """A timed run: on the timing node, holding all of its CPUs."""
        where = NodeAffinitySchedulingStrategy(node_id=self.timing_node, soft=False)
        ref = self._submit(spec, num_cpus=self.nodes[self.timing_node], scheduling_strategy=where)
        return land(spec, self._get(ref, spec))

    def run_many(self, specs: Sequence[RunSpec], done: Done | None = None) -> list[Outcome]:
        """Correctness runs spread over every node; `done` hears of each as it lands."""
        smallest = min(c for c in self.nodes.values() if c)
        refs = [self._submit(s, num_cpus=min(_threads_of(s), smallest), scheduling_strategy="SPREAD") for s in specs]
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
        return task.remote(spec, ray.put(archive_of(spec.sandbox_dir or spec.run_dir)), self._input_refs(spec))

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
