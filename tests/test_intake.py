"""Attempts handed in as patches or refs (--patch, --predictions), on a real temporary repository.

A patch that applies becomes a commit on the baseline; one that does not is
that attempt's verdict, while the other attempts still run.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import git
import pytest
from click.testing import CliRunner, Result

from harness.cli import main
from harness.commands.compare import run_compare
from harness.executors.fake import FakeExecutor
from harness.plan import CompareOptions
from scripted import Behaviour, script


def compare(fake_repo: Path, work: Path, *args: str) -> Result:
    argv = ["compare", "--repo", str(fake_repo), "--work-dir", str(work), "--report", str(work / "r.md"), "--preset", "small",
            "--json", str(work / "r.json"), "--quick", *args]
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def diff(fake_repo: Path, branch: str) -> str:
    return git.Repo(fake_repo).git.diff("base", branch) + "\n"


def predictions(path: Path, *lines: dict | str) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def broken(fake_repo: Path) -> str:
    """The pixel patch with a context line the baseline does not have."""
    return diff(fake_repo, "pixel").replace("-CHANGE_PIXEL = False", "-CHANGE_PIXEL = Maybe")


def test_patches_refs_and_a_patch_that_does_not_apply(fake_repo: Path, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    file = predictions(tmp_path / "p.jsonl", {"agent": "a", "attempt": 1, "patch": diff(fake_repo, "pixel")},
                       {"agent": "a", "attempt": 2, "patch": diff(fake_repo, "same")},
                       {"agent": "b", "attempt": 1, "patch": broken(fake_repo)},
                       {"agent": "b", "attempt": 2, "ref": "rng"})
    result = compare(fake_repo, tmp_path, "base", "--predictions", str(file))
    assert result.exit_code == 1, result.output
    doc = json.loads((tmp_path / "r.json").read_text())
    got = {c["name"]: (c["agent"], c["attempt"], c["verdict"]) for c in doc["candidates"]}
    assert got == {"a-1": ("a", 1, "NOT equivalent"), "a-2": ("a", 2, "equivalent, speed not judged (one run each)"),
                   "b-1": ("b", 1, "patch does not apply: draw-poly-while-training.py: patch does not apply"),
                   "rng": ("b", 2, "NOT equivalent")}
    pixel = next(c for c in doc["candidates"] if c["name"] == "a-1")
    assert pixel["diagnosis"].startswith("rendering changed: 2 pixels differ")
    assert tree_of(tmp_path, pixel["sha"]) == git.Repo(fake_repo).commit("pixel").tree.hexsha
    report = (tmp_path / "r.md").read_text()
    assert "## Leaderboard" in report and (tmp_path / "r-leaderboard.csv").is_file()
    assert ("## b-1\n\n**patch does not apply: draw-poly-while-training.py: patch does not apply** — the patch "
            "does not apply to the baseline, so nothing ran\n\n## rng") in report
    assert any("left)" in r.message for r in caplog.records)  # the ETA
    assert caplog.records and any(r.getMessage().endswith("· a 2 attempts: 2 ran; b 2 attempts: 1 ran, 1 not applied")
                                  for r in caplog.records)


def tree_of(work: Path, sha: str) -> str:
    clone = next((work / "clones").iterdir())
    return git.Repo(clone).commit(sha).tree.hexsha


def test_progress_tallies_attempts_not_runs(fake_repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Three attempts run 1 + 2 timing rounds each (and a failure twice): the tallies count three attempts,
    and call none of them "ok" — equivalence is only judged at the end."""
    caplog.set_level(logging.INFO, logger="harness.rounds")
    file = predictions(tmp_path / "p.jsonl", *({"agent": "a", "patch": diff(fake_repo, b)} for b in ("same", "pixel")),
                       {"agent": "b", "patch": diff(fake_repo, "same")})
    opts = CompareOptions(baseline="base", candidates=[], predictions=file, preset="small", repo=str(fake_repo),
                          work_dir=tmp_path, repeat=2, threads=1, variants=0)
    executor = FakeExecutor(script({"a-2": Behaviour(pixel=(3, 4)),
                                    "b-1": Behaviour(status="crashed", stderr="RuntimeError: boom")}))
    doc = run_compare(opts, executor).doc
    assert [c.verdict for c in doc.candidates] == ["equivalent, inconclusive (too few rounds)", "NOT equivalent", "crashed"]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[")]
    assert len(executor.calls) == 12 and len(lines) == 11  # b-1's rerun is part of its one run
    assert [line.split(" · ")[-1] for line in lines[:5]] == [
        "a 2 attempts: 2 waiting; b 1 attempt: 1 waiting", "a 2 attempts: 2 waiting; b 1 attempt: 1 waiting",
        "a 2 attempts: 1 ran, 1 waiting; b 1 attempt: 1 waiting", "a 2 attempts: 2 ran; b 1 attempt: 1 waiting",
        "a 2 attempts: 2 ran; b 1 attempt: 1 crashed"]
    assert lines[-1].endswith(" · a 2 attempts: 2 ran; b 1 attempt: 1 crashed")
    assert not any(" ok;" in line or line.endswith(" ok") for line in lines)


def test_patch_option_names_its_candidate(fake_repo: Path, tmp_path: Path) -> None:
    patch = tmp_path / "fix.patch"
    patch.write_text(diff(fake_repo, "same"))
    result = compare(fake_repo, tmp_path, "base", "rng", "--patch", f"mine={patch}")
    assert result.exit_code == 1, result.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [(c["name"], c["agent"], c["equivalent"]) for c in doc["candidates"]] == [("rng", None, False),
                                                                                    ("mine", None, True)]
    assert not (tmp_path / "r-leaderboard.csv").exists()


def test_a_swe_bench_predictions_file_runs_as_it_is(fake_repo: Path, tmp_path: Path) -> None:
    """SWE-bench's keys: model_name_or_path → agent, model_patch → patch, instance_id → attempt when a number;
    a string instance_id names the task instance and numbers nothing; a null patch is an attempt that does not apply."""
    file = predictions(tmp_path / "p.jsonl",
                       {"instance_id": "polytope", "model_name_or_path": "swe-agent", "model_patch": diff(fake_repo, "same")},
                       {"instance_id": "polytope", "model_name_or_path": "swe-agent", "model_patch": diff(fake_repo, "pixel")},
                       {"instance_id": 3, "model_name_or_path": "/ckpt/llama", "model_patch": diff(fake_repo, "same")},
                       {"instance_id": "7", "model_name_or_path": "/ckpt/llama", "model_patch": None})
    result = compare(fake_repo, tmp_path, "base", "--predictions", str(file))
    assert result.exit_code == 1, result.output
    doc = json.loads((tmp_path / "r.json").read_text())
    got = {c["name"]: (c["agent"], c["attempt"], c["verdict"]) for c in doc["candidates"]}
    assert got == {"swe-agent-1": ("swe-agent", 1, "equivalent, speed not judged (one run each)"),
                   "swe-agent-2": ("swe-agent", 2, "NOT equivalent"),
                   "ckpt/llama-3": ("/ckpt/llama", 3, "equivalent, speed not judged (one run each)"),
                   "ckpt/llama-7": ("/ckpt/llama", 7, "patch does not apply: the patch is empty")}
    assert (tmp_path / "r-leaderboard.csv").is_file()


def test_only_a_broken_patch_is_still_a_verdict(fake_repo: Path, tmp_path: Path) -> None:
    file = predictions(tmp_path / "p.jsonl", {"agent": "a", "patch": "this is not a diff"})
    result = compare(fake_repo, tmp_path, "base", "--predictions", str(file))
    assert result.exit_code == 1, result.output
    assert "patch does not apply: No valid patches in input" in result.output


@pytest.mark.parametrize(
    "lines, expected",
    [
        (["not json"], "p.jsonl:1: not JSON"),
        ([{"agent": "a", "patch": "x", "ref": "same"}], 'p.jsonl:1: give exactly one of "patch" and "ref"'),
        ([{"patch": "x"}], 'p.jsonl:1: "agent" must be a non-empty string'),
        ([{"agent": "a", "ref": "same", "pach": 1}], "p.jsonl:1: unknown key 'pach'"),
        ([{"agent": "a", "attempt": 0, "ref": "same"}], 'p.jsonl:1: "attempt" (or a numeric "instance_id") must be'),
        ([{"model_name_or_path": "m", "instance_id": 0, "model_patch": "x"}], 'p.jsonl:1: "attempt" (or a numeric'),
        ([{"model_name_or_path": "m", "instance_id": True, "model_patch": "x"}], 'p.jsonl:1: "attempt" (or a numeric'),
        ([{"model_name_or_path": "m", "model_patch": "x", "patch": "y"}], 'p.jsonl:1: "model_patch" and "patch" both given'),
        ([{"model_name_or_path": "m", "agent": "a", "ref": "same"}], '"model_name_or_path" and "agent" both given'),
        ([{"instance_id": 2, "attempt": 2, "agent": "a", "ref": "same"}], '"instance_id" and "attempt" both given'),
        ([{"instance_id": "polytope", "model_patch": "x"}], 'p.jsonl:1: "agent" must be a non-empty string'),
        ([{"agent": "a", "ref": "same"}, {"agent": "a", "attempt": 1, "ref": "rng"}], "p.jsonl:2: a attempt 1 is listed twice"),
        ([{"agent": "a", "ref": "same"}, {"agent": "b", "ref": "same"}], "candidate 'same' is named twice"),
        ([{"agent": "a", "ref": "nope"}], "no branch, tag or commit named 'nope'"),
        ([{"agent": "a", "name": "../x", "ref": "same"}], "candidate name '../x' may only use"),
        ([""], "no attempts in the file"),
    ],
)
def test_bad_predictions_exit_2_with_one_line(fake_repo: Path, tmp_path: Path, lines: list, expected: str) -> None:
    result = compare(fake_repo, tmp_path, "base", "--predictions", str(predictions(tmp_path / "p.jsonl", *lines)))
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--patch", "noequals"], "is not NAME=FILE"),
        (["--patch", "x=/no/such.patch"], "--patch /no/such.patch: No such file or directory"),
        (["same", "--patch", "same=/dev/null"], "candidate 'same' is named twice"),
        ([], "name at least one candidate"),
    ],
)
def test_bad_patch_options_exit_2(fake_repo: Path, tmp_path: Path, args: list[str], expected: str) -> None:
    result = compare(fake_repo, tmp_path, "base", *args)
    assert result.exit_code == 2 and expected in result.output, result.output
