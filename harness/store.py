"""The harness's own copy of what a run produced, and the proof it is still that copy.

Right after a run, the files the task's artifact pattern names are copied out
of the run's sandbox into the run folder's store, hashing as they are copied;
only regular files are taken (a symlink or anything outside the pattern is
never followed or copied), and the count and size are capped. The sandbox is
then deleted. The logs and their stamps are already the harness's (it wrote
them from the pipes); their sha256 are recorded too. From then on only the
store is read, and resuming verifies every checksum: a result whose files do
not match is not done.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from harness import constants as C
from harness.executors import RunSpec
from harness.results import Artifact, ResultError, RunResult
from harness.tasks import Task

log = logging.getLogger(__name__)
MAX_ARTIFACTS = 1000
MAX_ARTIFACT_BYTES = 8 << 30  # what one run's artifacts may add up to
#: A single file above this is compared by checksum only (never stored, never decoded).
MAX_STORED_FILE = 1 << 30
#: What one compare's store may hold in all; beyond it, artifacts are compared by checksum only.
MAX_COMPARE_STORE = 16 << 30
LOG_FILES = (C.STDOUT_FILE, C.STDERR_FILE, C.STAMPS_FILE)
CHUNK = 1 << 20


@dataclass
class Captured:
    """What was copied into the store, with checksums, and what was refused and why."""

    artifacts: list[Artifact] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class StoreBudget:
    """The bytes one compare's store may still take: a run that writes gigabytes cannot fill the disk of the
    harness (its files beyond the budget are compared by checksum only). Shared by the runs of a compare,
    several of which may finish at once (--jobs)."""

    def __init__(self, limit: int = MAX_COMPARE_STORE) -> None:
        self.left = limit
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if size > self.left:
                return False
            self.left -= size
            return True


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_hashed(source: Path, target: Path) -> str:
    """Copy a regular file without following a symlink at its name; return the copy's sha256."""
    digest = hashlib.sha256()
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    target.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(fd, "rb") as src, open(target, "wb") as dst:
        for block in iter(lambda: src.read(CHUNK), b""):
            digest.update(block)
            dst.write(block)
    return digest.hexdigest()


def matching_files(root: Path, task: Task, problems: list[str]) -> list[tuple[PurePosixPath, int]]:
    """(path relative to `root`, size) of every regular file below it that the artifact pattern names. A
    folder replaced by a link (to the baseline's store, say) is never followed, and says so."""
    found: list[tuple[PurePosixPath, int]] = []
    if not task.artifact_globs:  # a task whose runs write nothing to compare
        return found
    for folder, dirs, names in os.walk(root, followlinks=False):
        for name in dirs:
            if (Path(folder) / name).is_symlink():
                problems.append(f"{(Path(folder) / name).relative_to(root).as_posix()} is a link: not followed")
        for name in names:
            path = Path(folder) / name
            try:
                info = path.lstat()
            except OSError:
                continue
            rel = PurePosixPath(path.relative_to(root).as_posix())
            if stat.S_ISREG(info.st_mode) and any(rel.match(glob) for glob in task.artifact_globs):
                found.append((rel, info.st_size))
    return sorted(found)


def _within_caps(files: list[tuple[PurePosixPath, int]], problems: list[str]) -> list[tuple[PurePosixPath, int]]:
    if len(files) > MAX_ARTIFACTS:
        problems.append(f"output cap: {len(files)} artifact files, only the first {MAX_ARTIFACTS} kept")
        files = files[:MAX_ARTIFACTS]
    kept, total = [], 0
    for rel, size in files:
        if total + size > MAX_ARTIFACT_BYTES:
            problems.append(f"output cap: artifacts over {MAX_ARTIFACT_BYTES >> 30} GiB, {rel} and later not kept")
            break
        kept.append((rel, size))
        total += size
    return kept


def real_folder(path: Path, problems: list[str]) -> bool:
    """A run may replace its output folder with a link (to the baseline's store, say): never followed."""
    if path.is_symlink() or not path.is_dir():
        problems.append("output folder replaced by a link or a file: not followed, no artifacts taken")
        return False
    return True


def artifact_root(spec: RunSpec, task: Task) -> Path:
    """Where the run's artifacts are: its output folder ({output_dir}), or its own tree (a script that writes
    into ./outputs by default, as the seed's does)."""
    return spec.output_dir if task.artifact_root == "output" else spec.tree_dir


def step_of(task: Task, name: str) -> int | None:
    """The step a file belongs to, when the task's key pattern finds one in its name."""
    found = task.artifact_key.search(name) if task.artifact_key is not None else None
    return int(found["key"]) if found is not None else None


#: A candidate's artifact this many times the size of the baseline's (plus SIZE_SLACK) is not stored.
SIZE_FACTOR, SIZE_SLACK = 4, 1 << 20


def unused_by_judge(name: str, size: int, reference: dict[str, int] | None) -> str | None:
    """Why the judge will never read this artifact's bytes (None: it may): the baseline has no file of that
    name (the judge only needs to know it exists), or the baseline's is a fraction of its size (it differs)."""
    if reference is None:
        return None
    if name not in reference:
        return "not among the baseline's artifacts"
    if size > SIZE_FACTOR * reference[name] + SIZE_SLACK:
        return f"{size} bytes against the baseline's {reference[name]}"
    return None


def store_one(spec: RunSpec, source: Path, rel: PurePosixPath, key: int | None, budget: StoreBudget,
              problems: list[str], reference: dict[str, int] | None = None) -> Artifact:
    """Copy one artifact into the store (its checksum taken while copying) — or only hash it when the judge
    will not read it or it is over the caps: a run cannot fill the harness's disk with files named like images."""
    size = source.lstat().st_size
    unused = unused_by_judge(rel.as_posix(), size, reference)
    if unused or size > MAX_STORED_FILE or not budget.take(size):
        why = unused or "over the store's cap"
        if not unused or "against" in unused:
            problems.append(f"{rel} compared by checksum only ({why})")
        return Artifact(name=rel.as_posix(), key=key, path="", sha256=sha256_of(source), size=size)
    stored = PurePosixPath(C.STORE_DIR) / rel
    return Artifact(name=rel.as_posix(), key=key, path=stored.as_posix(), size=size,
                    sha256=copy_hashed(source, spec.run_dir / stored))


def copy_artifacts(spec: RunSpec, task: Task, pristine: dict[str, str], budget: StoreBudget,
                   problems: list[str], reference: dict[str, int] | None = None) -> list[Artifact]:
    """The pattern's files under the artifact root, each stored under its own name. In the run's tree, a file
    the commit already had, unchanged (`pristine`: its manifest), is no output."""
    root = artifact_root(spec, task)
    if not all(real_folder(folder, problems) for folder in (spec.sandbox_dir or spec.run_dir, root)):
        return []
    found = []
    for rel, _ in _within_caps(matching_files(root, task, problems), problems):
        source = root / rel
        try:
            if pristine.get(rel.as_posix()) == sha256_of(source):
                continue
            found.append(store_one(spec, source, rel, step_of(task, rel.name), budget, problems, reference))
        except OSError as exc:
            problems.append(f"{rel} could not be copied: {exc.strerror or exc}")
    return found


def remove_sandbox(spec: RunSpec) -> None:
    """The run's writable area goes once its outputs are copied: nothing in it is ever read again."""
    if spec.sandbox_dir is not None:
        shutil.rmtree(spec.sandbox_dir, ignore_errors=True)


def capture(spec: RunSpec, task: Task, pristine: dict[str, str] | None = None,
            budget: StoreBudget | None = None, reference: dict[str, int] | None = None) -> Captured:
    """Copy the artifacts into the store, record every stored file's checksum, delete the sandbox.

    `reference`: the baseline's artifact sizes by name, once its first run is
    stored (None for the baseline's own runs): see `unused_by_judge`."""
    problems: list[str] = []
    artifacts = copy_artifacts(spec, task, pristine if task.artifact_root == "tree" and pristine else {},
                               budget or StoreBudget(), problems, reference)
    files = {name: sha256_of(spec.run_dir / name) for name in LOG_FILES if (spec.run_dir / name).is_file()}
    remove_sandbox(spec)
    return Captured(artifacts, files, problems)


def mismatch(run_dir: Path, result: RunResult) -> str | None:
    """The first stored file that is missing, not a regular file, or not what was recorded; None when all match."""
    recorded = {a.path: a.sha256 for a in result.artifacts if a.path} | dict(result.files)
    for rel, digest in recorded.items():
        path = run_dir / rel
        if path.is_symlink() or not path.is_file():
            return f"{rel} is missing"
        if digest is None or sha256_of(path) != digest:
            return f"{rel} does not match its checksum"
    return None


def load_verified(run_dir: Path, label: str, sha: str, rep: int, key: str) -> RunResult | None:
    """A stored result that is this very run (label, commit, round, run key) with every file intact, or None."""
    path = run_dir / C.RESULT_FILE
    if path.is_symlink() or not path.is_file():
        return None
    try:
        result = RunResult.load(path)
    except ResultError as exc:
        log.info("%s: earlier result unreadable (%s); running again", run_dir, exc)
        return None
    if (result.label, result.sha, result.rep, result.key) != (label, sha, rep, key):
        log.info("%s: earlier result was made for another branch, commit or run key; running again", run_dir)
        return None
    if (problem := mismatch(run_dir, result)) is not None:
        log.warning("%s: stored results fail their checksums (%s); running again", run_dir, problem)
        return None
    return result
