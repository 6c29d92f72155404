"""Shipping a prepared run folder to another machine and its results back: plain Python, no cluster library.

An executor that runs specs elsewhere (ray.py) moves bytes; everything about
*what* travels and where it lands is here, so it can be tested on one
machine without the cluster:

- on the driver: `archive_of` the prepared sandbox (the commit's fresh copy
  exported from the private repository, an empty output folder, HOME and
  TMPDIR) and `input_files`, the argv's files outside it that must travel too;
- on the node: `store_inputs` (content-addressed, in the node's own cache),
  then `run_shipped` — `unpack` into a scratch folder, `relocate` the spec to
  the node's paths, run it with an executor (the LocalExecutor: same
  confinement, environment, timeout and measurements) and `send_back` the run
  folder's files and the sandbox's;
- on the driver again: `land` them where a local run would have left them, so
  the store, collect and the judge see no difference.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from harness import constants as C
from harness.executors import Executor, Outcome, RunSpec

#: A run may send back at most this much; beyond it files are dropped and stderr says so.
MAX_RETURN_BYTES = 1 << 30


@dataclass(frozen=True)
class NodeRun:
    """What a node sends back: the harness's observations, the run folder's files (logs, stamps) and the
    sandbox's (its outputs, for the driver to store)."""

    outcome: Outcome
    files: dict[str, bytes]
    sandbox: dict[str, bytes]


# --------------------------------------------------------------------------- #
# On the driver, before the run
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


# --------------------------------------------------------------------------- #
# On the node
# --------------------------------------------------------------------------- #


def store_inputs(cache: Path, inputs: dict[str, bytes]) -> dict[str, str]:
    """Driver path → the same file's path on this node (content-addressed, written once)."""
    local = {}
    for token, data in inputs.items():
        target = cache / "inputs" / _digest(data) / Path(token).name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(f".{target.name}-{uuid.uuid4().hex[:8]}")
            part.write_bytes(data)
            os.replace(part, target)
        local[token] = str(target)
    return local


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def unpack(archive: bytes, box: Path) -> None:
    """The sandbox as the driver prepared it (the commit's fresh copy, empty output, HOME and TMPDIR)."""
    box.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(box, filter="data")


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


def send_back(run_dir: Path, box: Path, limit: int = MAX_RETURN_BYTES) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The run folder's files and the sandbox's outputs, up to `limit` bytes in all (stderr says what not)."""
    budget, dropped = [limit], []
    files = read_back(run_dir, budget, dropped)
    outputs = read_back(box / "output", budget, dropped) if (box / "output").is_dir() else {}
    tree = read_back(box / "src", budget, dropped) if (box / "src").is_dir() else {}
    sandbox = {**{f"output/{k}": v for k, v in outputs.items()}, **{f"src/{k}": v for k, v in tree.items()}}
    if dropped:
        note = f"\nevalharness: not sent back from the node (over {limit} bytes): {', '.join(dropped)}\n"
        files[C.STDERR_FILE] = files.get(C.STDERR_FILE, b"") + note.encode()
    return files, sandbox


def run_shipped(spec: RunSpec, archive: bytes, files: dict[str, str], scratch: Path, executor: Executor,
                node: str) -> NodeRun:
    """Unpack the prepared sandbox in a fresh folder under `scratch`, run the spec there (relocated; cold: a
    warm-start server per run would save nothing) and send the run folder back, marked with `node`.
    `files`: the inputs as `store_inputs` placed them on this node."""
    with tempfile.TemporaryDirectory(prefix="run-", dir=scratch) as folder:
        local = relocate(spec, Path(folder) / "run", Path(folder) / "box", files)
        box = Path(folder) / "box"
        unpack(archive, box)
        local.run_dir.mkdir()
        outcome = executor.run(replace(local, preload=()))
        logs, sandbox = send_back(local.run_dir, box)
        return NodeRun(replace(outcome, node=node), logs, sandbox)


# --------------------------------------------------------------------------- #
# On the driver, after the run
# --------------------------------------------------------------------------- #


def land(spec: RunSpec, back: NodeRun) -> Outcome:
    """Write what the node sent into the driver's run folder and sandbox, where a local run would have left it
    (a path that would land outside them is dropped)."""
    for folder, files in ((spec.run_dir, back.files), (spec.sandbox_dir or spec.run_dir, back.sandbox)):
        root = folder.resolve()
        for rel, data in files.items():
            target = (root / rel).resolve()
            if not target.is_relative_to(root):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return back.outcome
