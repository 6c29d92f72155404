"""Stage 1: resolve every branch to a commit in a private repository, never touching the user's checkout.

Two sources (asv style, everything under the harness's own work folder):
- built-in: a bare repository built from the task's `[sources]` folders: the
  baseline folder (as the branch the task names) and one branch per
  `<candidates>/<name>.patch` applied on top. Commits carry fixed author/date,
  so identical content always gets the identical SHA and runs resume.
- `--repo PATH_OR_URL`: a private bare clone, refreshed with fetch; a clone
  that was damaged (say, by a run, where nothing confines it) is made again.
A name that is both a branch and a tag is refused, naming both. The files of
each commit are exported per compare and copied per run (`trees.py`); there
are no shared worktrees.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git

from harness import constants as C
from harness.errors import InfraError, UsageProblem, did_you_mean
from harness.tasks import Task

log = logging.getLogger(__name__)
SKIP_NAMES = {"__pycache__", "outputs", ".git", ".pytest_cache"}


class CheckoutError(InfraError):
    """A git-level failure: infrastructure, or a name/patch the user must fix."""


@dataclass(frozen=True)
class Checkout:
    """One name resolved to a commit, and where this compare exported its files (copied into every run)."""

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
    """The private bare repository at `path`; a damaged one is discarded and started again."""
    if path.exists():
        try:
            repo = git.Repo(path)
            _git(repo, "rev-parse", "--git-dir")
            return repo
        except (git.InvalidGitRepositoryError, git.NoSuchPathError, CheckoutError):
            log.warning("private repository %s is damaged; building it again", path)
            shutil.rmtree(path, ignore_errors=True)
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


def looks_remote(url: str) -> bool:
    """A URL or scp-style address (host:path), as opposed to a local folder."""
    return "://" in url or (":" in url.split("/")[0] and not Path(url).exists())


def check_repo_arg(url: str) -> str:
    """--repo must be a git repository (a folder with one, or a URL): refuse anything else before any run."""
    if looks_remote(url):
        return url
    path = Path(url).expanduser()
    if not path.exists():
        raise UsageProblem(f"--repo {url}: no such folder (and not a URL)")
    try:
        git.Repo(path, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageProblem(f"--repo {url}: not a git repository") from None
    return str(path.resolve())


def _healthy(path: Path) -> bool:
    try:
        _git(git.Repo(path), "rev-parse", "--git-dir")
        return True
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, CheckoutError):
        return False


def clone_repo(url: str, work_dir: Path) -> Path:
    """A private bare mirror of `url` (path or URL), fetched fresh every call; made again when damaged."""
    url = check_repo_arg(url)
    key = hashlib.sha1(url.encode()).hexdigest()[:12]
    path = work_dir / C.CLONES_DIR / key
    if path.exists() and not _healthy(path):
        log.warning("private clone %s is damaged; cloning again", path)
        shutil.rmtree(path, ignore_errors=True)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            git.Repo.clone_from(url, path, bare=True)
        except git.GitCommandError as exc:
            shutil.rmtree(path, ignore_errors=True)
            last = ((exc.stderr or "").strip().splitlines() or ["git clone failed"])[-1]
            raise CheckoutError(f"cannot clone {url}: {last.strip().strip(chr(39))}") from exc
    repo = git.Repo(path)
    # the source's remote-tracking branches too, so `origin/feature` resolves as it does there
    _git(repo, "fetch", "--quiet", "--force", "--prune", url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
         "+refs/remotes/*:refs/remotes/*")
    return path


def _ref_kinds(repo: git.Repo, name: str) -> dict[str, str]:
    """Which kinds of ref `name` names (branch, tag, remote-tracking branch) → the commit each points to."""
    kinds = {}
    for kind, prefix in (("branch", "refs/heads/"), ("tag", "refs/tags/"), ("remote branch", "refs/remotes/")):
        try:
            kinds[kind] = _git(repo, "rev-parse", "--verify", "--quiet", f"{prefix}{name}^{{commit}}")
        except CheckoutError:
            continue
    return kinds


def check_unambiguous(repo: git.Repo, name: str) -> None:
    """A name that is both a branch and a tag (say) silently picks one in git: here it is a usage error."""
    kinds = _ref_kinds(repo, name)
    if len(kinds) > 1:
        both = " and ".join(f"a {kind} ({sha[:12]})" for kind, sha in kinds.items())
        raise UsageProblem(f"{name!r} is ambiguous: it is {both}; name one, e.g. heads/{name} or tags/{name}")


def resolve(repo_path: Path, name: str) -> str:
    """Branch, tag or (abbreviated) SHA → full commit SHA, or a clear error."""
    repo = git.Repo(repo_path)
    check_unambiguous(repo, name)
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    except CheckoutError:
        remote = _only_remote_branch(repo, name)
        if remote:
            return remote
        raise UsageProblem(f"no branch, tag or commit named {name!r} ({_known_refs(repo, name)})") from None


def _only_remote_branch(repo: git.Repo, name: str) -> str | None:
    """`feature` in a fresh clone names `origin/feature`, as `git checkout feature` takes it: only when
    exactly one remote has a branch of that name (two would be a guess)."""
    refs = _git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/remotes").splitlines()
    found = [(ref.removeprefix("refs/remotes/"), sha) for ref, sha in (line.split() for line in refs)
             if re.fullmatch(r"refs/remotes/[^/]+/" + re.escape(name), ref)]
    if len(found) != 1:
        return None
    log.info("%r is no local branch: using %s, the only remote branch of that name", name, found[0][0])
    return found[0][1]


#: Up to this many branches are listed when no name is close to a mistyped one.
LISTED_BRANCHES = 12


def _known_refs(repo: git.Repo, name: str) -> str:
    """The close branch, tag or remote-branch names; else the branches when few, else how many there are."""
    refs = _git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads", "refs/tags", "refs/remotes").split()
    hint = did_you_mean(name, refs)
    if hint:
        return hint
    branches = sorted(h.name for h in repo.heads)
    if len(branches) <= LISTED_BRANCHES:
        return f"branches: {', '.join(branches) or 'none'}"
    return f"none of its {len(branches)} branches is a close match; `git branch --all` lists them"


def resolve_all(repo_path: Path, names: list[str]) -> dict[str, str]:
    """Every name → its commit, all before anything is exported or run."""
    return {name: resolve(repo_path, name) for name in names}


#: Context lines enough for any file: each changed file's diff is then the whole file (judge/flags.py reads
#: Python files from their first line, so a comment or docstring is known for what it is).
WHOLE_FILE_CONTEXT = 1_000_000_000


def diff_text(repo_path: Path, base: str, sha: str) -> str:
    """The candidate's full diff against the baseline, every changed file whole (for the report's flags)."""
    return _git(git.Repo(repo_path), "diff", "--no-color", "--no-ext-diff", f"--unified={WHOLE_FILE_CONTEXT}", base, sha)


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
