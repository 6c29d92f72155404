"""The solver race as a task of its own: contenders as REF:key=value, no outputs compared,
status words from the script's exit codes, the sweep table of the seed notebook.

Runs are scripted (FakeExecutor) so the race's arithmetic is exact and fast; one real
subprocess case checks the per-run cap end to end.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.commands.compare import run_compare
from harness.commands.sweep import run_sweep
from harness.executors import RunSpec
from harness.executors.fake import FakeExecutor, ScriptedRun
from harness.judge.verdicts import exit_code
from harness.plan import CompareOptions

START = datetime(2026, 11, 23, 3, 0, 0, tzinfo=timezone.utc)
PKG_ADAPTIVE, OURS_ADAPTIVE = "race:impl=package,solver=adaptive", "race:impl=ours,solver=adaptive"
PKG_EULER, OURS_EULER = "race:impl=package,solver=euler", "race:impl=ours,solver=euler"


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"


def race_log(losses: list[float], step_s: float, ending: str, code: int) -> ScriptedRun:
    """What race.py prints: a header, one line per step (running counters), its last word."""
    t, lines = START, [f"{_stamp(START)} - solverrace - INFO - Contender scripted"]
    stamps = [0.0]  # when the harness saw each line: in step with the log's own clock
    for step, loss in enumerate(losses, start=1):
        t += timedelta(seconds=step_s)
        lines.append(f"{_stamp(t)} - solverrace - INFO - Step {step} - Loss: {loss!r} - Grads: {step} - HVPs: {3 * step}")
        stamps.append((t - START).total_seconds())
    lines.append(f"{_stamp(t)} - solverrace - INFO - {ending}")
    stamps.append(stamps[-1])
    return ScriptedRun(stdout="\n".join(lines) + "\n", status="ok" if code == 0 else "crashed", returncode=code,
                       wall_s=step_s * len(losses) + 2, stamps={"stdout": stamps})


def scripted(spec: RunSpec) -> ScriptedRun:
    """euler: three steps whose cost grows with the classes (C² / 4 s); adaptive: 111 quick ones (5.55 s);
    the package's euler breaks the invariant at step 2."""
    n_classes = int(spec.argv[spec.argv.index("--n-classes") + 1])
    if "solver=euler" in spec.label and "impl=package" in spec.label:
        return race_log([2.75, 4.54], 1.0, "Invariant violated at step 2: loss 2.75 -> 4.54", 3)
    if "solver=euler" in spec.label:
        return race_log([1.0, 0.1, 0.009], 0.25 * n_classes ** 2, "Reached target at step 3: loss 0.009", 0)
    return race_log([1.0 / k for k in range(1, 111)] + [0.0095], 0.05, "Reached target at step 111: loss 0.0095", 0)


def race_opts(tmp_path: Path, *candidates: str, baseline: str = PKG_ADAPTIVE, **extra: object) -> CompareOptions:
    return CompareOptions(baseline=baseline, candidates=list(candidates), task="race", work_dir=tmp_path / "w",
                          threads=1, **extra)  # type: ignore[arg-type]


def test_contenders_are_one_branch_with_other_parameters(tmp_path: Path) -> None:
    done = run_compare(race_opts(tmp_path, OURS_EULER, PKG_EULER, quick=True), FakeExecutor(scripted))
    ours, pkg = done.doc.candidates
    assert ours.sha == pkg.sha == done.doc.baseline_sha and ours.diffstat == ""
    assert ours.params == {"impl": "ours", "solver": "euler"} and pkg.params == {"impl": "package", "solver": "euler"}
    assert (ours.verdict, ours.diagnosis) == ("finished, speed not judged (one run each)",
                                              "Reached target at step 3: loss 0.009")
    assert (pkg.verdict, pkg.diagnosis) == ("invariant violated", "Invariant violated at step 2: loss 2.75 -> 4.54")
    assert ours.final == {"step": 3.0, "loss": 0.009, "grads": 3.0, "hvps": 9.0}
    assert exit_code(done.doc.candidates) == 1


def test_timed_race_judges_speed_not_outputs(tmp_path: Path) -> None:
    executor = FakeExecutor(scripted)
    done = run_compare(race_opts(tmp_path, OURS_EULER, repeat=6, overrides=["n_classes=2"]), executor)
    entry = done.doc.candidates[0]
    assert not entry.losses_match and entry.equivalent  # different trajectories by design: not held against it
    assert entry.verdict == "faster" and entry.timing_note == "settled after 5 timing rounds"
    assert entry.speed["solve"].speedup == pytest.approx(5.55 / 3.0, rel=0.01)  # 111 × 0.05 s against 3 × 1 s


@pytest.mark.parametrize(
    "args, message",
    [
        ([PKG_ADAPTIVE, "race:impl=fortran"], "impl='fortran': expected one of ours, package"),
        ([PKG_ADAPTIVE, "race:n_classes=11"], "n_classes=11: expected 2 to 10"),
        ([PKG_ADAPTIVE, "race:solver"], "--set 'solver' is not key=value"),
        ([PKG_ADAPTIVE, "race:"], "expected REF:key=value[,key=value]"),
        ([PKG_ADAPTIVE, OURS_EULER, "--grid", "n_classes=1,2"], None),
    ],
)
def test_bad_contenders_are_refused_before_any_run(tmp_path: Path, args: list[str], message: str | None) -> None:
    command = "sweep" if "--grid" in args else "compare"
    argv = [command, *args, "--task", "race", "--work-dir", str(tmp_path / "w"), "--quick"]
    if command == "sweep":
        argv = [a for a in argv if a != "--quick"] + ["--out", str(tmp_path / "s"), "--grid", "n_train=1"]
        message = "no grid point is valid: n_classes=1: expected 2 to 10"
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2 and message in result.output, result.output


def test_sweep_table_has_the_seeds_shape(tmp_path: Path) -> None:
    opts = race_opts(tmp_path, OURS_ADAPTIVE, PKG_EULER, OURS_EULER, quick=True)
    grid = {"n_train": ["64", "256"], "n_classes": ["2", "4"]}
    table, paths = run_sweep(opts, grid, [], tmp_path / "out", FakeExecutor(scripted))
    assert list(table.columns[:2]) == ["n_train", "n_classes"] and len(table) == 4
    for name in (PKG_ADAPTIVE, OURS_ADAPTIVE, OURS_EULER):
        assert {f"{name} solve s", f"{name} step", f"{name} grads", f"{name} hvps", f"{name} loss"} <= set(table.columns)
    row = table.set_index(["n_train", "n_classes"]).loc[("64", "4")]
    assert row[f"{OURS_EULER} solve s"] == pytest.approx(3 * 4.0, abs=0.01) and row[f"{OURS_EULER} step"] == 3
    assert pd.isna(row[f"{PKG_EULER} solve s"]) and row[f"{PKG_EULER} status"] == "invariant violated"
    assert f"{PKG_EULER}: Invariant violated at step 2: loss 2.75 -> 4.54" in row["note"]
    md = paths["md"].read_text()
    assert "- 64 × 2: fastest race:impl=ours,solver=euler (3 s), method euler; the seed's A100 table: euler (same)" in md
    assert ("- 256 × 4: fastest race:impl=package,solver=adaptive (5.55 s), method adaptive; the seed's A100 table: "
            "euler (different)") in md
    assert "The winning method matches the seed's A100 table in 3 of 4 cells" in md
    assert paths["png"].stat().st_size > 1000


def test_a_contender_that_hits_the_cap_is_unfinished_not_dropped(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A real race.py subprocess under a 1-second cap: 'Unfinished after N s (k steps)', kept in the verdicts —
    and not run once more, as a crash would be (the task's own ending: a rerun would cost the cap again)."""
    opts = race_opts(tmp_path, OURS_EULER, quick=True, variants=0, overrides=["n_train=8", "cap_seconds=1"])
    with caplog.at_level(logging.INFO, logger="harness"):
        done = run_compare(opts)
    assert "running it once more" not in caplog.text
    entry = done.doc.candidates[0]
    assert entry.status == "unfinished" and entry.verdict == "unfinished"
    assert entry.diagnosis.startswith("Unfinished after ") and entry.diagnosis.endswith(" steps)")
    assert done.doc.baseline_status == "unfinished"  # the baseline contender too: not an infrastructure failure
