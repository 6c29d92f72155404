"""Pristine source trees: one per commit per compare, copied fresh into every run.

A run never executes in a tree another run (or another compare) could have
written to: each compare exports every commit from the private repository
into its own run folder (`git archive`, no worktree, no shared state),
byte-compiles it once (so no timed run pays for compiling), and records a
manifest — the sha256 of every file. Each run then gets a copy in its own
sandbox, and the copy is checked against the manifest before the run starts.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import git

from harness.errors import InfraError

log = logging.getLogger(__name__)
Manifest = dict[str, str]


def export(repo_path: Path, sha: str, dest: Path) -> None:
    """The commit's files (no .git) at `dest`, replacing whatever was there."""
    try:
        data = git.Repo(repo_path).git.execute(["git", "archive", "--format=tar", sha], stdout_as_string=False)
    except git.GitCommandError as exc:
        raise InfraError(f"git archive {sha[:12]} failed: {(exc.stderr or '').strip()[-200:]}") from exc
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tree-", dir=dest.parent))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(staging, filter="tar")
    if dest.exists() or dest.is_symlink():
        remove(dest)
    staging.rename(dest)


def remove(path: Path) -> None:
    """Delete a tree or a stray file/link at its place, never following a link."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def compile_tree(python: str, tree: Path, env: dict[str, str]) -> None:
    """Byte-compile with the runs' interpreter, so the copies start with valid .pyc files."""
    subprocess.run([python, "-m", "compileall", "-q", str(tree)], env=env, capture_output=True, timeout=600)


def _entry_digest(path: Path) -> str:
    if path.is_symlink():
        return "link:" + str(path.readlink())
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(tree: Path) -> Manifest:
    """relative path → sha256 (or link target) of every file below `tree`."""
    return {p.relative_to(tree).as_posix(): _entry_digest(p) for p in sorted(tree.rglob("*"))
            if p.is_symlink() or p.is_file()}


def materialise(repo_path: Path, sha: str, dest: Path, python: str, env: dict[str, str]) -> Manifest:
    """Export, compile, and return the manifest every run's copy must match."""
    export(repo_path, sha, dest)
    compile_tree(python, dest, env)
    return manifest(dest)


def copy_verified(tree: Path, dest: Path, expected: Manifest) -> bool:
    """A fresh copy of `tree` at `dest` (mtimes kept, so the .pyc stay valid); True when it matches `expected`."""
    if dest.exists():
        remove(dest)
    shutil.copytree(tree, dest, symlinks=True)
    return manifest(dest) == expected
