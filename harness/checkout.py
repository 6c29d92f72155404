"""Stage 1: get every branch into a private worktree, never touching the user's checkout.

Two sources (asv style, everything under the harness's own work folder):
- built-in: a bare repository built from the task's `[sources]` folders: the
  baseline folder (as the branch the task names) and one branch per
  `<candidates>/<name>.patch` applied on top. Commits carry fixed author/date,
  so identical content always gets the identical SHA and runs resume.
- `--repo PATH_OR_URL`: a private bare clone, refreshed with fetch.
Each resolved SHA gets its own detached worktree.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git

from harness import constants as C
from harness.errors import InfraError
from harness.tasks import Task

log = logging.getLogger(__name__)
SKIP_NAMES = {"__pycache__", "outputs", ".git", ".pytest_cache"}


class CheckoutError(InfraError):
    """A git-level failure: infrastructure, or a name/patch the user must fix."""


@dataclass(frozen=True)
class Checkout:
    """One name resolved to a commit and materialised as a worktree."""

    name: str
    sha: str
    path: Path


def _git(repo: git.Repo, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in `repo`; turn GitPython's error into one readable line."""
    try:
        return repo.git.execute(["git", *args], env=env)
    except git.GitCommandError as exc:
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()
        reason = detail[-1] if detail else str(exc)
        raise CheckoutError(f"git {args[0]} failed: {reason.strip(chr(39)).strip()}") from exc


def _open_or_init_bare(path: Path) -> git.Repo:
    if path.exists():
        return git.Repo(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return git.Repo.init(path, bare=True)


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy the branch content, leaving caches and run outputs behind."""
    ignore = shutil.ignore_patterns(*SKIP_NAMES, "*.pyc")
    shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)


def _commit_dir(repo: git.Repo, content: Path, message: str, index: Path) -> str:
    """Commit a directory's files as a root commit, via a private index file."""
    env = {**C.COMMIT_ENV, "GIT_INDEX_FILE": str(index)}
    _git(repo, "--work-tree", str(content), "add", "-A", ".", env=env)
    tree = _git(repo, "write-tree", env=env)
    return _git(repo, "commit-tree", tree, "-m", message, env=env)


def _patch_header(patch: Path) -> str:
    """First line of the patch's header paragraph, for the commit message."""
    for line in patch.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("diff --git"):
            break
        if line.strip():
            return line.strip()[:200]
    return ""


def _commit_patch(repo: git.Repo, base: str, patch: Path, index: Path) -> str:
    """Apply a patch to the base tree in a private index and commit the result."""
    env = {**C.COMMIT_ENV, "GIT_INDEX_FILE": str(index)}
    _git(repo, "read-tree", base, env=env)
    try:
        _git(repo, "apply", "--cached", str(patch.resolve()), env=env)
    except CheckoutError as exc:
        raise CheckoutError(f"{patch} does not apply to the baseline: {exc}") from exc
    tree = _git(repo, "write-tree", env=env)
    message = f"candidate {patch.stem}: {_patch_header(patch)}"
    return _git(repo, "commit-tree", tree, "-p", base, "-m", message, env=env)


def _source_folder(task: Task, key: str) -> Path | None:
    """A `[sources]` folder of the task, relative to its TOML."""
    value = task.sources.get(key)
    return (task.folder / value).resolve() if value else None


def build_builtin_repo(task: Task, work_dir: Path) -> Path:
    """(Re)build the private repo from the task's baseline folder and candidate patches; return its path.

    Rebuilding is cheap and deterministic, so it runs every time: edits to the
    baseline or a patch show up as new SHAs, unchanged ones keep theirs.
    """
    source = _source_folder(task, "baseline")
    if source is None or not source.is_dir():
        raise CheckoutError(f"task {task.name} has no built-in baseline folder ({source}); pass --repo")
    branch = str(task.sources.get("branch", "baseline"))
    repo = _open_or_init_bare(work_dir / f"builtin-{task.name}.git")
    with tempfile.TemporaryDirectory(prefix="evalharness-build-") as tmp:
        content, index = Path(tmp) / "content", Path(tmp) / "index"
        _copy_tree(source, content)
        base = _commit_dir(repo, content, f"{branch}: {task.description or task.name}", index)
        _git(repo, "update-ref", f"refs/heads/{branch}", base)
        candidates = _source_folder(task, "candidates")
        for patch in sorted(candidates.glob(f"*{C.PATCH_SUFFIX}")) if candidates else []:
            sha = _commit_patch(repo, base, patch, index)
            _git(repo, "update-ref", f"refs/heads/{patch.stem}", sha)
    return Path(repo.git_dir)


def clone_repo(url: str, work_dir: Path) -> Path:
    """A private bare mirror of `url` (path or URL), fetched fresh every call."""
    if Path(url).exists():
        url = str(Path(url).resolve())
    key = hashlib.sha1(url.encode()).hexdigest()[:12]
    path = work_dir / C.CLONES_DIR / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            git.Repo.clone_from(url, path, bare=True)
        except git.GitCommandError as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise CheckoutError(f"cannot clone {url}: {(exc.stderr or '').strip().splitlines()[-1:]}") from exc
    repo = git.Repo(path)
    # the source's remote-tracking branches too, so `origin/feature` resolves as it does there
    _git(repo, "fetch", "--quiet", "--force", url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
         "+refs/remotes/*:refs/remotes/*")
    return path


def resolve(repo_path: Path, name: str) -> str:
    """Branch, tag or (abbreviated) SHA → full commit SHA, or a clear error."""
    repo = git.Repo(repo_path)
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    except CheckoutError:
        branches = ", ".join(sorted(h.name for h in repo.heads)[:12])
        raise CheckoutError(f"no branch, tag or commit named {name!r} (branches: {branches or 'none'})") from None


def worktree(repo_path: Path, sha: str, work_dir: Path) -> Path:
    """A detached worktree at `sha`, shared by every run of that commit."""
    path = work_dir / C.WORKTREES_DIR / sha[:16]
    repo = git.Repo(repo_path)
    if path.is_dir() and (path / ".git").exists():
        if git.Repo(path).head.commit.hexsha == sha:
            return path
        shutil.rmtree(path)
    _git(repo, "worktree", "prune")
    path.parent.mkdir(parents=True, exist_ok=True)
    _git(repo, "worktree", "add", "--detach", "--force", str(path), sha)
    return path


def checkout_all(repo_path: Path, names: list[str], work_dir: Path) -> dict[str, Checkout]:
    """Resolve every name first (fail before running anything), then materialise."""
    shas = {name: resolve(repo_path, name) for name in names}
    return {name: Checkout(name, sha, worktree(repo_path, sha, work_dir)) for name, sha in shas.items()}


def diff_text(repo_path: Path, base: str, sha: str) -> str:
    """The candidate's full diff against the baseline (for the report's flags)."""
    return _git(git.Repo(repo_path), "diff", "--no-color", base, sha)


def diffstat(repo_path: Path, base: str, sha: str) -> str:
    return _git(git.Repo(repo_path), "diff", "--stat", "--no-color", base, sha)


def prepare_source(task: Task, work_dir: Path, repo: str | None) -> Path:
    """The repository to check out from: a clone of --repo, or the task's built-in one."""
    work_dir.mkdir(parents=True, exist_ok=True)
    if repo:
        return clone_repo(repo, work_dir)
    return build_builtin_repo(task, work_dir)



# --------------------------------------------------------------------------- #
# Attempts handed in as patch text (--patch, --predictions)
# --------------------------------------------------------------------------- #

#: Commits made from handed-in patches live here, out of the way of the source's own branches.
ATTEMPT_REF_PREFIX = "refs/evalharness/attempts/"


class PatchDoesNotApply(CheckoutError):
    """A handed-in patch that git cannot apply to the baseline: that attempt's verdict, not a failure."""


def apply_attempt(repo_path: Path, base_sha: str, name: str, patch_text: str) -> str:
    """Commit `patch_text` applied to `base_sha` in the private repo; return the new commit.

    The commit is kept under ATTEMPT_REF_PREFIX (never refs/heads, so a branch
    of the user's repository with the same name is never shadowed), with the
    fixed identity of every built-in commit, so the same patch resumes.
    """
    repo = git.Repo(repo_path)
    with tempfile.TemporaryDirectory(prefix="evalharness-attempt-") as tmp:
        patch = Path(tmp) / f"{name.replace('/', '_')}{C.PATCH_SUFFIX}"
        patch.write_text(patch_text if patch_text.endswith("\n") else patch_text + "\n", encoding="utf-8")
        try:
            sha = _commit_patch(repo, base_sha, patch, Path(tmp) / "index")
        except CheckoutError as exc:
            raise PatchDoesNotApply(_apply_reason(exc)) from exc
    _git(repo, "update-ref", ATTEMPT_REF_PREFIX + name, sha)
    return sha


def _apply_reason(exc: CheckoutError) -> str:
    """git's own last words, without the temporary file's path."""
    reason = str(exc).rsplit("git apply failed: ", 1)[-1].strip()
    return reason.removeprefix("stderr:").strip().strip("'").strip().removeprefix("error: ")
