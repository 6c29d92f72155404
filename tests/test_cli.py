"""The compare command end to end on a real temporary git repository of a tiny trainer.

Every case goes through click's CliRunner: (arguments → output, exit code).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import git
import pytest
from click.testing import CliRunner, Result

from harness.cli import main


def compare(fake_repo: Path, work: Path, *args: str) -> Result:
    argv = ["compare", "--repo", str(fake_repo), "--work-dir", str(work), "--report", str(work / "r.md"),
            "--json", str(work / "r.json"), "--preset", "small", *args]
    return CliRunner().invoke(main, argv, catch_exceptions=False)


@pytest.mark.parametrize(
    "args, code, expected",
    [
        (["base", "same", "--quick"], 0, "outputs identical to the baseline"),
        (["base", "rng", "--quick"], 1, "training trajectory changed: RNG stream or initialisation perturbed"),
        (["base", "pixel", "--quick"], 1, "rendering changed: 2 pixels differ"),
        (["base", "collide", "--quick"], 1, "polytope hash merges neighbouring regions (collisions): 32 boundary pixels lost"),
        (["base", "crash", "--quick"], 1, "crashed: RuntimeError: CUDA error"),
        (["base", "hang", "--quick", "--timeout", "2"], 1, "timed out after 2s"),
        (["v1", "same", "--quick"], 0, "equivalent"),
    ],
)
def test_compare_verdicts(fake_repo: Path, tmp_path: Path, args: list[str], code: int, expected: str) -> None:
    result = compare(fake_repo, tmp_path, *args)
    assert result.exit_code == code, result.output
    assert expected in result.output


@pytest.mark.parametrize(
    "args, expected",
    [
        (["base", "nope", "--quick"], "no branch, tag or commit named 'nope'"),
        (["base", "same", "--quick", "--set", "bogus=1"], "--set bogus: unknown parameter"),
        (["base", "same", "--quick", "--set", "noequals"], "is not key=value"),
        (["base", "same", "--quick", "--preset", "huge"], "no preset 'huge'"),
        (["base", "base", "--quick"], "compared with itself automatically"),
        (["base", "same", "same", "--quick"], "named twice"),
        (["base", "same", "--quick", "--set", "size=3"], "size=3: expected a whole number of pixels"),
        (["base", "same", "--quick", "--set", "epochs=ten"], "parameter epochs='ten': expected an int"),
        (["base", "same", "--quick", "--set", "points=5000"], "points=5000 plus 1000 validation pixels"),
        (["base", "same", "--quick", "--set", "input=missing.png"], "input 'missing.png' not found"),
        (["base", "same", "--quick", "--python", "/no/such/python"], "cannot be run"),
        (["crash", "same", "--quick"], "the baseline run crashed"),
        (["base", "same", "--quick", "--task", "/no/such.toml"], "task file '/no/such.toml' not found"),
    ],
)
def test_compare_bad_input_exits_2_with_one_line(fake_repo: Path, tmp_path: Path, args: list[str], expected: str) -> None:
    result = compare(fake_repo, tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert len([l for l in result.output.splitlines() if l.startswith("Error")]) == 1


def test_missing_candidate_argument_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["compare", "baseline"])
    assert result.exit_code == 2 and "name at least one candidate to compare against the baseline" in result.output


def test_unknown_repo_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["compare", "a", "b", "--repo", str(tmp_path / "none"), "--work-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--repo" in result.output and "no such folder (and not a URL)" in result.output


def test_json_has_the_documented_shape(fake_repo: Path, tmp_path: Path) -> None:
    compare(fake_repo, tmp_path, "base", "same", "rng", "--quick")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["baseline"] == "base"
    same, rng = data["candidates"]
    assert set(same) >= {"name", "sha", "equivalent", "losses_match", "images_identical", "verdict", "diagnosis", "speedup", "peak_rss_mb"}
    assert set(same["speedup"]) == {"train_epoch", "visualise", "period", "wall"}
    assert same["sha"] == git.Repo(fake_repo).commit("same").hexsha
    assert (same["equivalent"], rng["equivalent"], rng["losses_match"]) == (True, False, False)
    assert rng["losses"]["first_divergent"] == 1 and data["schema"] == "evalharness.compare/3"
    assert {label: [s["round"] for s in runs] for label, runs in data["samples"].items()} == {"base": [0], "same": [0], "rng": [0]}
    assert set(data["samples"]["rng"][0]["values"]) == {"train_epoch", "visualise", "period", "wall", "peak_rss_mb"}


def test_collision_details_and_heatmap(fake_repo: Path, tmp_path: Path) -> None:
    compare(fake_repo, tmp_path, "base", "collide", "--quick")
    cand = json.loads((tmp_path / "r.json").read_text())["candidates"][0]
    row = cand["images"][0]
    assert cand["losses_match"] and not cand["images_identical"]
    assert row["differing_pixels"] == 16 and row["details"]["boundary_lost"] == 16 and row["details"]["boundary_gained"] == 0
    assert row["bbox"] == [0, 32, 15, 32]
    run_root = next(tmp_path.glob("runs/*"))
    assert 0 < row["ssim"] < 1 and (run_root / row["heatmap"]).is_file() and not Path(row["heatmap"]).is_absolute()


def test_users_checkout_is_never_touched(fake_repo: Path, tmp_path: Path) -> None:
    repo = git.Repo(fake_repo)
    before = (repo.head.commit.hexsha, repo.active_branch.name, repo.git.status("--porcelain"), repo.git.worktree("list"))
    compare(fake_repo, tmp_path, "base", "pixel", "--quick")
    after = (repo.head.commit.hexsha, repo.active_branch.name, repo.git.status("--porcelain"), repo.git.worktree("list"))
    assert before == after


def test_rerun_resumes_from_existing_results(fake_repo: Path, tmp_path: Path) -> None:
    first = compare(fake_repo, tmp_path, "base", "same", "--quick")
    results = sorted(tmp_path.glob("runs/*/*/rep-*/result.json"))
    stamps = [p.stat().st_mtime_ns for p in results]
    second = compare(fake_repo, tmp_path, "base", "same", "--quick")
    assert len(results) == 2 and first.exit_code == second.exit_code == 0
    assert [p.stat().st_mtime_ns for p in results] == stamps
    fresh = compare(fake_repo, tmp_path, "base", "same", "--quick", "--fresh")
    assert fresh.exit_code == 0 and len(list(tmp_path.glob("runs/*/*/rep-*/result.json"))) == 4


def test_run_folder_has_fixed_files_and_meta(fake_repo: Path, tmp_path: Path) -> None:
    compare(fake_repo, tmp_path, "base", "same", "--quick")
    run = next(tmp_path.glob("runs/*/base-*@*/rep-000"))
    assert {p.name for p in run.iterdir()} == {"meta.json", "result.json", "stdout.txt", "stderr.txt", "stamps.json",
                                                "artifacts"}
    meta = json.loads((run / "meta.json").read_text())
    assert meta["sha"] == git.Repo(fake_repo).commit("base").hexsha
    assert meta["env"]["PYTHONHASHSEED"] == "0" and meta["env"]["TZ"] == "UTC"
    assert "torch" in meta["environment"] and meta["command"][1] == "./draw-poly-while-training.py"


def test_slower_candidate_is_called_slower(fake_repo: Path, tmp_path: Path) -> None:
    result = compare(fake_repo, tmp_path, "base", "slow", "same", "--repeat", "5", "--set", "epochs=6")
    assert result.exit_code == 1, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    slow, same = data["candidates"]
    assert slow["verdict"] == "equivalent, slower" and slow["speed"]["train_epoch"]["verdict"] == "slower"
    assert same["speed"]["train_epoch"]["verdict"] != "slower"
    assert data["noise_floor"]["name"] == "baseline vs baseline"


def test_thread_count_change_is_flagged(fake_repo: Path, tmp_path: Path) -> None:
    compare(fake_repo, tmp_path, "base", "threads", "--quick")
    cand = json.loads((tmp_path / "r.json").read_text())["candidates"][0]
    assert any(f["category"] == "thread counts" and f["line"] == 3 for f in cand["flags"])
    assert "OMP_NUM_THREADS" in (tmp_path / "r.md").read_text()


def test_baseline_that_does_not_reproduce_itself_is_called_out(fake_repo: Path, tmp_path: Path) -> None:
    result = compare(fake_repo, tmp_path, "flaky", "same", "--repeat", "2")
    data = json.loads((tmp_path / "r.json").read_text())
    assert "does not reproduce itself" in " ".join(data["warnings"]) and "does not reproduce itself" in result.output
    assert data["tolerance"]["metric"] > 0
    assert "does not reproduce itself" in (tmp_path / "r.md").read_text()


def test_nondeterministic_candidate_is_not_equivalent(fake_repo: Path, tmp_path: Path) -> None:
    # flaky equals base at its first run only by chance; either way it must not be called equivalent
    compare(fake_repo, tmp_path, "base", "flaky", "--repeat", "2")
    cand = json.loads((tmp_path / "r.json").read_text())["candidates"][0]
    assert not cand["equivalent"] and cand["verdict"] == "NOT equivalent"


@pytest.mark.parametrize(
    "args, code, stderr_has",
    [
        (["base", "same", "--quick"], 0, "equivalence round same"),
        (["base", "rng", "--quick"], 1, "equivalence round rng"),
        (["base", "nope", "--quick"], 2, "Error: no branch, tag or commit named 'nope'"),
    ],
)
def test_compare_as_a_real_subprocess(fake_repo: Path, tmp_path: Path, args: list[str], code: int, stderr_has: str) -> None:
    argv = [sys.executable, "-m", "harness", "compare", "--repo", str(fake_repo), "--work-dir", str(tmp_path),
            "--report", str(tmp_path / "r.md"), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == code, proc.stderr
    assert stderr_has in proc.stderr and "Traceback" not in proc.stderr


def test_remote_tracking_branch_of_the_source_resolves(fake_repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "user-clone"
    git.Repo.clone_from(str(fake_repo), clone)  # has origin/rng but no local branch rng
    result = compare(clone, tmp_path / "w", "base", "origin/rng", "--quick")
    assert result.exit_code == 1 and "RNG stream" in result.output


def test_raising_repeat_only_runs_the_new_rounds(fake_repo: Path, tmp_path: Path) -> None:
    compare(fake_repo, tmp_path, "base", "slow", "--repeat", "2")
    first = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/*/rep-*/result.json")}
    result = compare(fake_repo, tmp_path, "base", "slow", "--repeat", "6")
    after = list(tmp_path.glob("runs/*/*/rep-*/result.json"))
    assert result.exit_code == 1 and len(first) == 3 + 2 * 3 and len(after) == 3 + 5 * 3  # stops at the 5-round minimum
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())
