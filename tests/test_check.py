"""`evalharness check`: the gate's exit status, JUnit XML, the GitHub summary and annotations.

Real temporary git repositories throughout; runs are the tiny trainer's
(through the CLI) or scripted by the FakeExecutor where speed is judged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import git
import pytest
from click.testing import CliRunner, Result
from junitparser import JUnitXml, Properties, TestCase, TestSuite

from harness import portable
from harness.cli import main
from harness.commands.check import run_check
from harness.executors.fake import FakeExecutor
from harness.export import github
from harness.plan import CompareOptions
from harness.results import Flag
from scripted import Behaviour, script
from tables import columns_line_up

RNG_REASON = "NOT equivalent: training trajectory changed: RNG stream or initialisation perturbed"


def check(fake_repo: Path, work: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    argv = ["check", "--repo", str(fake_repo), "--work-dir", str(work / "w"), "--report", str(work / "r.md"), "--preset", "small",
            "--json", str(work / "r.json"), "--junit", str(work / "r.xml"), *args]
    env = {"GITHUB_ACTIONS": None, "GITHUB_STEP_SUMMARY": None, **(env or {})}
    return CliRunner().invoke(main, argv, catch_exceptions=False, env=env)


def suite_of(path: Path) -> TestSuite:
    return next(iter(JUnitXml.fromfile(str(path))))


def properties(case: TestCase) -> dict[str, str]:
    props = case.child(Properties)
    return {p.name: p.value for p in props} if props is not None else {}


@pytest.fixture(scope="module")
def gated(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """base against same, rng, crash and threads: two failures, one flagged pass."""
    tmp = tmp_path_factory.mktemp("check")
    (tmp / "summary.md").write_text("earlier step\n")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp / "summary.md")}
    return check(fake_repo, tmp, "base", "same", "rng", "crash", "threads", env=env), tmp


def test_the_gate_fails_on_nonequivalent_candidates_only(gated: tuple[Result, Path]) -> None:
    result, _ = gated
    assert result.exit_code == 1, result.output
    assert "gate (fail on nonequivalent): 2 of 4 failed: rng, crash" in result.output
    # check has no --quick: its one-run verdict says what it is in words that fit the command
    assert "equivalent, speed not judged (one run each)" in result.output and "--quick" not in result.output
    lines = result.output.splitlines()
    top = lines.index(next(l for l in lines if l.startswith("gate ")))
    assert lines[top].split() == ["gate", "candidate", "verdict", "diagnosis"]  # one run each: no speed column
    assert [row.split()[:2] for row in lines[top + 2:top + 6]] == [["pass", "same"], ["FAIL", "rng"], ["FAIL", "crash"],
                                                                   ["pass", "threads"]]
    columns_line_up(lines[top:top + 6], ["gate", "candidate", "verdict", "diagnosis"])
    assert "not measurable" not in result.output  # an equivalence gate warns of no speed it did not judge


def test_junit_parses_back_with_one_case_per_candidate(gated: tuple[Result, Path]) -> None:
    _, tmp = gated
    suite = suite_of(tmp / "r.xml")
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (4, 2, 0, 0)
    cases = {c.name: c for c in suite}
    assert list(cases) == ["same", "rng", "crash", "threads"]
    assert cases["same"].is_passed and cases["threads"].is_passed
    assert cases["rng"].result[0].message == RNG_REASON and cases["rng"].result[0].type == "NOT equivalent"
    crash = cases["crash"].result[0]
    assert crash.message == "crashed: RuntimeError: CUDA error: an illegal memory access was encountered"
    assert "stderr:" in crash.text and "Traceback" in crash.text


def test_junit_carries_timings_and_provenance_as_properties(gated: tuple[Result, Path], fake_repo: Path) -> None:
    _, tmp = gated
    suite = suite_of(tmp / "r.xml")
    same = properties(next(c for c in suite if c.name == "same"))
    assert same["sha"] == git.Repo(fake_repo).commit("same").hexsha and same["equivalent"] == "true"
    assert float(same["candidate.period.median"]) > 0 and float(same["candidate.wall.median"]) > 0
    assert same["speed.period.verdict"] == "not judged" and "speed.period.speedup" not in same  # one run each
    suite_props = {p.name: p.value for p in suite.properties()}
    assert suite_props["fail_on"] == "nonequivalent" and suite_props["baseline"] == "base"
    assert float(suite_props["baseline.period.median"]) > 0


def test_summary_is_appended_to_the_step_summary_file(gated: tuple[Result, Path]) -> None:
    _, tmp = gated
    text = (tmp / "summary.md").read_text()
    assert text.startswith("earlier step\n## evalharness check: 2 of 4 failed")
    assert f"- **rng**: {RNG_REASON}" in text
    assert "| ❌ fail | **crash** |" in text and "| ✅ pass | **threads** |" in text
    assert "](" not in text and str(tmp) not in text  # no links, no machine paths
    assert "speedup" not in text  # one run each: no speed quoted
    assert "not measurable" not in text  # ... and no warning about speed either


def test_annotations_name_the_file_and_line_of_flagged_diff_lines(gated: tuple[Result, Path]) -> None:
    result, _ = gated
    lines = result.output.splitlines()
    assert f"::error title=evalharness%3A rng fails the gate::{RNG_REASON}" in lines
    assert ("::warning file=draw-poly-while-training.py,line=3,title=evalharness%3A thread counts (threads)::"
            "thread counts: +os.environ['OMP_NUM_THREADS'] = '1'") in lines


def test_shared_outputs_hold_no_absolute_path(gated: tuple[Result, Path]) -> None:
    _, tmp = gated
    for name in ("r.md", "r.json", "r.xml", "summary.md"):
        text = (tmp / name).read_text()
        assert str(tmp) not in text and str(Path.home()) not in text and sys.executable not in text, name
    assert "<sandbox>/src/" in (tmp / "r.md").read_text()  # the crash's traceback, scrubbed


def test_without_github_no_annotations_and_no_summary(fake_repo: Path, tmp_path: Path) -> None:
    result = check(fake_repo, tmp_path, "base", "same")
    assert result.exit_code == 0 and "gate (fail on nonequivalent): all 1 passed" in result.output
    assert "::" not in result.output and suite_of(tmp_path / "r.xml").failures == 0


def test_check_takes_the_same_intake_as_compare(fake_repo: Path, tmp_path: Path) -> None:
    """--patch NAME=FILE and a (SWE-bench) predictions file: each attempt is a gated candidate."""
    repo = git.Repo(fake_repo)
    (tmp_path / "fix.patch").write_text(repo.git.diff("base", "same") + "\n")
    (tmp_path / "p.jsonl").write_text(json.dumps({"instance_id": "polytope", "model_name_or_path": "m",
                                                  "model_patch": repo.git.diff("base", "pixel") + "\n"}) + "\n")
    result = check(fake_repo, tmp_path, "base", "--patch", f"mine={tmp_path / 'fix.patch'}",
                   "--predictions", str(tmp_path / "p.jsonl"))
    assert result.exit_code == 1, result.output
    assert "gate (fail on nonequivalent): 1 of 2 failed: m-1" in result.output
    assert [(c.name, c.is_passed) for c in suite_of(tmp_path / "r.xml")] == [("mine", True), ("m-1", False)]


@pytest.mark.parametrize(
    "args, expected",
    [
        ([], "name at least one candidate"),
        (["--patch", "noequals"], "is not NAME=FILE"),
        (["--predictions", "/no/such.jsonl"], "--predictions /no/such.jsonl: No such file or directory"),
    ],
)
def test_check_without_a_usable_candidate_exits_2(fake_repo: Path, tmp_path: Path, args: list[str], expected: str) -> None:
    result = check(fake_repo, tmp_path, "base", *args)
    assert result.exit_code == 2 and expected in result.output, result.output
    assert not (tmp_path / "w").exists()  # refused before anything is written


def test_bad_fail_on_is_a_usage_error(fake_repo: Path, tmp_path: Path) -> None:
    result = check(fake_repo, tmp_path, "base", "same", "--fail-on", "prettier")
    assert result.exit_code == 2 and "Invalid value for '--fail-on'" in result.output


def gate_with(fake_repo: Path, tmp_path: Path, cand: Behaviour, fail_on: str):
    opts = CompareOptions(baseline="base", preset="small", variants=0, candidates=["same"], repo=str(fake_repo), work_dir=tmp_path, threads=1)
    executor = FakeExecutor(script({"same": cand}))
    done = run_check(opts, fail_on, 6 if fail_on != "nonequivalent" else None, {"md": tmp_path / "r.md",
                     "junit": tmp_path / "r.xml"}, executor, environ={})
    return done, executor


@pytest.mark.parametrize(
    "cand, fail_on, code, message",
    [
        (Behaviour(vis_s=1.0), "nonequivalent", 0, None),
        (Behaviour(vis_s=1.0), "slower", 1, "equivalent, slower: period 0.55× [0.55, 0.55]"),
        (Behaviour(), "slower", 0, None),
        (Behaviour(), "not-faster", 1, "equivalent, no significant difference, required faster: period 1.00× [1.00, 1.00]"),
        (Behaviour(vis_s=0.25), "not-faster", 0, None),
        (Behaviour(losses=(0.6, 0.4, 0.3, 0.2)), "not-faster", 1, RNG_REASON),
    ],
    ids=["slower-passes-equivalence", "slower-fails", "same-speed-passes", "not-faster-fails", "faster-passes", "rng"],
)
def test_fail_on_speed_rules(fake_repo: Path, tmp_path: Path, cand: Behaviour, fail_on: str, code: int,
                             message: str | None) -> None:
    done, executor = gate_with(fake_repo, tmp_path, cand, fail_on)
    case = next(iter(suite_of(tmp_path / "r.xml")))
    assert done.exit_code == code
    assert (case.result[0].message if case.result else None) == message
    # one run each; or the equivalence round (baseline, twin, candidate) and five timing rounds of three;
    # a candidate that is not equivalent gets no timing rounds
    not_equivalent = cand.losses != Behaviour().losses
    assert len(executor.calls) == (2 if fail_on == "nonequivalent" else 3 if not_equivalent else 3 + 3 * 5)
    assert done.doc.settings.fail_on == fail_on and done.doc.settings.quick == (fail_on == "nonequivalent")
    # a speedup only where timing rounds judged one (never the untimed candidate's single run)
    assert ("speed.period.speedup" in properties(case)) == (fail_on != "nonequivalent" and not not_equivalent)


def test_junit_survives_control_characters_in_a_candidates_output(fake_repo: Path, tmp_path: Path) -> None:
    done, _ = gate_with(fake_repo, tmp_path, Behaviour(status="crashed", stderr="\x1b[31mboom\x00\x07"), "nonequivalent")
    failure = next(iter(suite_of(tmp_path / "r.xml"))).result[0]
    assert done.exit_code == 1
    assert failure.message == "crashed: \ufffd[31mboom\ufffd\ufffd" and failure.text.endswith("\ufffd[31mboom\ufffd\ufffd")


@pytest.mark.parametrize(
    "flag, expected",
    [
        (Flag(category="seeds", file="a,b.py", line=7, text="+torch.manual_seed(1)"),
         "::error file=a%2Cb.py,line=7,title=evalharness%3A seeds (c)::seeds: +torch.manual_seed(1)"),
        (Flag(category="seeds", file="t.py", line=4, text="-torch.manual_seed(0)  # 100%"),
         "::error file=t.py,title=evalharness%3A seeds (c)::seeds (removed; line 4 of the baseline): "
         "-torch.manual_seed(0)  # 100%25"),
    ],
    ids=["added-line", "removed-line"],
)
def test_annotation_escaping_and_removed_lines(flag: Flag, expected: str) -> None:
    assert github.flag_annotation("error", "c", flag) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("File /w/work/worktrees/ab/x.py, line 3", "File <work-dir>/worktrees/ab/x.py, line 3"),
        ("/w/workshop/x.py and /w/work", "./workshop/x.py and <work-dir>"),
        ("/home/u/.cache/x and /home/user", "~/.cache/x and /home/user"),
    ],
    ids=["work-dir", "boundary", "home"],
)
def test_machine_paths_get_aliases_only_at_path_boundaries(text: str, expected: str) -> None:
    table = {"/w/work": "<work-dir>", "/home/u": "~", "/w": "."}
    assert portable.scrub_text(text, table) == expected
