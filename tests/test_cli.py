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

from conftest import trainer_repo
from harness import checkout
from harness import constants as C
from harness.cli import main
from harness.commands.check import gate_options
from harness.environment import default_threads, usable_cores
from harness.errors import UsageProblem
from harness.plan import CompareOptions
from harness.tasks import load_task
from tables import columns_line_up


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
        (["base", "smae", "--quick"], "no branch, tag or commit named 'smae' (did you mean 'same'?)"),
        (["base", "same", "--quick", "--preset", "smal"],
         "no preset 'smal' in task polytope (did you mean 'small'? presets: demo, seed, small; `evalharness tasks`"),
        (["base", "same", "--quick", "--task", "polytop"], "named 'polytop' (did you mean 'polytope'? built-in: "),
        (["base", "same", "--quick", "--set", "epoch=3"], "--set epoch: unknown parameter (did you mean 'epochs'? known:"),
        (["base", "same", "--quick", "--address", "head:6379"],
         "--address is an option of --executor ray (a Ray cluster; pip install 'evalharness[ray]'): use it with --executor ray"),
        (["base", "same", "--quick", "--executor", "ray", "--jobs", "2"],
         "--jobs is an option of --executor local (this machine): use it with --executor local"),
        (["base", "same", "--quick", "--executor", "rey"], "Invalid value for '--executor': 'rey' is not one of 'local', 'ray'."),
    ],
)
def test_compare_bad_input_exits_2_with_one_line(fake_repo: Path, tmp_path: Path, args: list[str], expected: str) -> None:
    result = compare(fake_repo, tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert len([l for l in result.output.splitlines() if l.startswith("Error")]) == 1


def test_final_table_has_a_header_and_long_verdicts_keep_it_aligned(fake_repo: Path, tmp_path: Path) -> None:
    broken = git.Repo(fake_repo).git.diff("base", "pixel").replace("-CHANGE_PIXEL = False", "-CHANGE_PIXEL = Maybe")
    (tmp_path / "p.jsonl").write_text(json.dumps({"agent": "a", "patch": broken + "\n"}) + "\n")
    result = compare(fake_repo, tmp_path, "base", "same", "rng", "--quick", "--predictions", str(tmp_path / "p.jsonl"))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    top = lines.index(next(l for l in lines if l.startswith("candidate ")))
    table = lines[top:top + 5]
    assert table[0].split() == ["candidate", "verdict", "speed", "diagnosis"]
    assert [row.split()[0] for row in table[2:]] == ["same", "rng", "a-1"]
    assert "patch does not apply: draw-poly-while-training.py: patch does not apply" in table[4]
    columns_line_up(table, ["candidate", "verdict", "speed", "diagnosis"])


POLYTOPE_TOML = str(Path(__file__).resolve().parents[1] / "harness" / "tasks" / "polytope" / "task.toml")


@pytest.mark.parametrize(
    "args, code, present, absent",
    [
        (["tasks"], 0, ["polytope (default task): Leaky-ReLU net", "demo (default)  size=512 shape=[32]*4",
                        "small           size=64", "race: Two neural-network solvers", "grid (default)  (the defaults)",
                        "tiny            n_train=8", "defaults: input=./centered_ring.png", "--preset NAME the preset"], []),
        (["tasks", "race"], 0, ["race: Two neural-network", "tiny            n_train=8"], ["polytope"]),
        (["tasks", POLYTOPE_TOML], 0, ["polytope (default task)", "seed            (the defaults)"], ["race"]),
        (["tasks", "nope"], 2, ["Error: no task file or built-in task named 'nope'"], ["Traceback"]),
    ],
    ids=["all", "by-name", "by-file", "unknown"],
)
def test_tasks_lists_tasks_and_presets(args: list[str], code: int, present: list[str], absent: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == code, result.output
    assert all(p in result.output for p in present) and not any(a in result.output for a in absent), result.output


@pytest.mark.parametrize("command", ["compare", "check", "sweep"])
def test_help_says_where_tasks_and_presets_are_listed(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "`evalharness tasks` lists every task's presets" in text, text


@pytest.mark.parametrize(
    "name, expected",
    [
        ("gemini-optimized", "(did you mean 'gemini-optimised'?)"),
        ("relase-2025", "(did you mean 'release-2025'?)"),
        ("zzz", "(none of its 32 branches is a close match; `git branch --all` lists them)"),
    ],
    ids=["branch", "tag", "nothing-close"],
)
def test_a_mistyped_name_among_many_branches_gets_a_did_you_mean(tmp_path: Path, name: str, expected: str) -> None:
    repo = trainer_repo(tmp_path / "repo", {})
    for i in range(30):
        repo.create_head(f"feature-{i:02d}")
    repo.create_head("gemini-optimised")
    repo.create_tag("release-2025")
    with pytest.raises(UsageProblem) as refused:
        checkout.resolve(tmp_path / "repo", name)
    assert str(refused.value) == f"no branch, tag or commit named {name!r} {expected}"


def test_a_fresh_clones_branches_resolve_as_git_checkout_takes_them(tmp_path: Path) -> None:
    """A fresh `git clone` has only its default branch locally: `feature` is `origin/feature` (as `git checkout
    feature` takes it), through the harness's own private clone of that clone; a name two remotes have is not
    guessed."""
    upstream = trainer_repo(tmp_path / "upstream", {})
    feature = upstream.create_head("feature", upstream.head.commit)
    clone = git.Repo.clone_from(upstream.working_dir, tmp_path / "clone")
    clone.create_remote("fork", upstream.working_dir).fetch()
    upstream.create_head("only-origin", upstream.head.commit)
    clone.remotes.origin.fetch()
    private = checkout.clone_repo(str(tmp_path / "clone"), tmp_path / "work")
    assert checkout.resolve(private, "only-origin") == feature.commit.hexsha
    with pytest.raises(UsageProblem) as refused:
        checkout.resolve(private, "feature")
    assert "no branch, tag or commit named 'feature' (did you mean" in str(refused.value)


def option_default(command: str, name: str) -> object:
    return next(p.default for p in main.get_command(None, command).params if p.name == name)


def test_readme_states_the_defaults_the_code_has() -> None:
    """Every default the README states, from the code: a changed default fails here until the README follows."""
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    gate_repeat = gate_options(CompareOptions(baseline="b", candidates=["c"]), "slower", None).repeat
    stated = [
        f"rounds 1…`--repeat` (a cap, default {option_default('compare', 'repeat')})",
        f"add the normal timed, paired rounds (`--repeat`, default {gate_repeat}, a cap as for `compare`)",
        f"`--fail-on {option_default('check', 'fail_on')}` (the default)",
        f"on `--variants N` (default {option_default('compare', 'variants')}, 0 = off)",
        f"at once on this machine (default {option_default('compare', 'jobs')}: as many as the cores hold at the runs' thread count",
        f"`--start {option_default('compare', 'start')}` (the default)",
        f"(`--work-dir`, default `{option_default('compare', 'work_dir')}/`)",
        f"`--report` (default `{C.REPORTS_DIR}/compare-<preset>-<names>.md`)",
        f"With `--repeat` > {option_default('sweep', 'repeat')} a cell carries each seed's verdict",
        f"presets `{load_task(None).default_preset}` (the default:",
        f"caps each run (default {load_task('race').defaults['cap_seconds']} s)",
    ]
    assert [s for s in stated if s not in readme] == []
    assert default_threads() == max(1, usable_cores() - 1) and "`--threads` (default: the cores less one)" in readme


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


def test_the_harness_never_shows_in_the_users_git_status(fake_repo: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Default work folder and report path, from inside the user's repository: a refused run leaves nothing
    git would show, a finished one only the report (the user's to commit or ignore); .evalharness/ never."""
    user = tmp_path / "user"
    repo = git.Repo.clone_from(str(fake_repo), user)
    (user / "sub").mkdir()

    def run(where: Path, *args: str) -> Result:
        monkeypatch.chdir(where)
        return CliRunner().invoke(main, ["compare", "base", *args, "--repo", ".", "--quick", "--preset", "small"])

    refused_repo = run(user / "sub", "same")
    assert refused_repo.exit_code == 2 and "--repo .: not a git repository" in refused_repo.output
    assert not (user / "sub" / ".evalharness").exists() and not (user / "sub" / "reports").exists()
    refused_name = run(user, "nope")
    assert refused_name.exit_code == 2 and "no branch, tag or commit named 'nope'" in refused_name.output
    assert repo.git.status("--porcelain", "--untracked-files=all") == ""
    done = run(user, "origin/same")
    assert done.exit_code == 0, done.output
    assert (user / ".evalharness" / ".gitignore").read_text().endswith("\n*\n")
    assert repo.git.status("--porcelain") == "?? reports/"


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
