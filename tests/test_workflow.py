"""The documented GitHub Actions workflow, its gate steps run locally on a temporary repository.

The steps with an `id` in docs/github-workflow.yml are executed as written
(bash -eo pipefail, the job's and the step's environment, GitHub's
expressions replaced by the pull request's SHAs), in a clone of the fake
trainer's repository standing in for the pull request's checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import git
import pytest
import yaml
from junitparser import JUnitXml

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = REPO_ROOT / "docs" / "github-workflow.yml"
GATE_STEPS = ("branches", "gate")
JUNIT = "reports/evalharness-junit.xml"


def job() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["gate"]


def step(step_id: str) -> dict:
    return next(s for s in job()["steps"] if s.get("id") == step_id)


def shim(folder: Path) -> Path:
    """An `evalharness` on PATH that runs this checkout's harness with this interpreter."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "evalharness"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m harness "$@"\n')
    script.chmod(0o755)
    return folder


def github_env(tmp: Path, base_sha: str, head_sha: str) -> tuple[dict[str, str], dict[str, str]]:
    """(the runner's environment, GitHub expression → value) for a pull request from base_sha to head_sha."""
    env = {**os.environ, **{k: str(v) for k, v in job()["env"].items()}, "GITHUB_ACTIONS": "true",
           "GITHUB_STEP_SUMMARY": str(tmp / "step-summary.md"), "PYTHONPATH": str(REPO_ROOT),
           "PATH": f"{shim(tmp / 'bin')}{os.pathsep}{os.environ['PATH']}"}
    expressions = {"${{ github.event.pull_request.base.sha }}": base_sha,
                   "${{ github.event.pull_request.head.sha }}": head_sha}
    return env, expressions


def run_step(step_id: str, cwd: Path, env: dict[str, str], expressions: dict[str, str]) -> subprocess.CompletedProcess[str]:
    s = step(step_id)
    assert "${{" not in s["run"], "gate commands must take GitHub values through env:"
    step_env = {k: expressions[v] if v in expressions else str(v) for k, v in s.get("env", {}).items()}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s["run"]], cwd=cwd,
                          env={**env, **step_env}, capture_output=True, text=True, timeout=300)


def pull_request(fake_repo: Path, tmp: Path, head: str) -> tuple[int, str, Path]:
    """Clone the repository as actions/checkout would, run the gate steps; (exit status, stdout, checkout)."""
    checkout = tmp / "checkout"
    git.Repo.clone_from(str(fake_repo), checkout)
    repo = git.Repo(fake_repo)
    env, expressions = github_env(tmp, repo.commit("base").hexsha, repo.commit(head).hexsha)
    proc = None
    for step_id in GATE_STEPS:
        proc = run_step(step_id, checkout, env, expressions)
        if proc.returncode != 0:
            break
    assert proc is not None and "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout, checkout


@pytest.fixture(scope="module")
def failing_pr(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    return pull_request(fake_repo, tmp_path_factory.mktemp("pr-pixel"), "pixel")


def test_a_pull_request_that_changes_the_outputs_fails_the_job(failing_pr: tuple[int, str, Path]) -> None:
    code, stdout, checkout = failing_pr
    assert code == 1, stdout
    suite = next(iter(JUnitXml.fromfile(str(checkout / JUNIT))))
    assert (suite.tests, suite.failures, suite.errors) == (1, 1, 0)
    case = next(iter(suite))
    assert case.name == "pr-head"
    assert case.result[0].message == "NOT equivalent: rendering changed: 2 pixels differ outside the polytope boundaries"
    assert "::error title=evalharness%3A pr-head fails the gate::NOT equivalent: rendering changed" in stdout


def test_the_summary_and_the_uploaded_report_are_written(failing_pr: tuple[int, str, Path]) -> None:
    _, _, checkout = failing_pr
    summary = (checkout.parent / "step-summary.md").read_text()
    assert summary.startswith("## evalharness check: 1 of 1 failed")
    assert "| ❌ fail | **pr-head** |" in summary and "](" not in summary
    uploaded = next(s for s in job()["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    folder = checkout / uploaded["with"]["path"]
    assert {"evalharness.md", "evalharness.json", "evalharness-junit.xml"} <= {p.name for p in folder.iterdir()}


def test_the_report_records_the_harness_and_the_exact_command(failing_pr: tuple[int, str, Path]) -> None:
    _, _, checkout = failing_pr
    harness = json.loads((checkout / "reports" / "evalharness.json").read_text())["harness"]
    assert harness["commit"] == git.Repo(REPO_ROOT).head.commit.hexsha
    assert harness["command_line"][:9] == ["python", "-m", "harness", "check", "pr-base", "pr-head", "--repo", ".",
                                           "--task"]
    assert str(checkout) not in (checkout / "reports" / "evalharness.json").read_text()


def test_the_cached_folder_is_where_the_harness_stores_results(failing_pr: tuple[int, str, Path]) -> None:
    _, _, checkout = failing_pr
    cache_step = next(s for s in job()["steps"] if s.get("uses", "").startswith("actions/cache"))
    stored = list((checkout / cache_step["with"]["path"]).glob("*/entry.json"))
    assert len(stored) == 2  # the base and the head, ready for the next pull request against this base


def test_an_equivalent_pull_request_passes_with_its_flags_annotated(fake_repo: Path, tmp_path: Path) -> None:
    code, stdout, checkout = pull_request(fake_repo, tmp_path, "threads")
    assert code == 0, stdout
    suite = next(iter(JUnitXml.fromfile(str(checkout / JUNIT))))
    assert (suite.tests, suite.failures) == (1, 0)
    assert ("::warning file=draw-poly-while-training.py,line=3,title=evalharness%3A thread counts (pr-head)::"
            "thread counts: +os.environ['OMP_NUM_THREADS'] = '1'") in stdout.splitlines()
    assert (tmp_path / "step-summary.md").read_text().startswith("## evalharness check: all 1 passed")
