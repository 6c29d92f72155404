"""Verdict logic on the FakeExecutor: scripted timings in, exact verdict and exit status out.

The branches come from a real temporary git repository (checkout, diffs and
flags are real); only the runs are scripted, so a 20 % slower epoch is
exactly 20 % slower and no test sleeps.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.commands.compare import run_compare
from harness.executors.fake import FakeExecutor
from harness.judge.verdicts import exit_code
from harness.plan import CompareOptions
from scripted import Behaviour, script

SLOWER_TRAINING_WARNING = ("visualisation faster (1.11×) but training slower (0.67×); "
                           "train+visualise period verdict: no significant difference")


def compare_with(fake_repo: Path, tmp_path: Path, cand: Behaviour, repeat: int = 6, name: str = "same"):
    executor = FakeExecutor(script({name: cand}))
    opts = CompareOptions(baseline="base", candidates=[name], repo=str(fake_repo), work_dir=tmp_path,
                          repeat=repeat, threads=1)
    doc = run_compare(opts, executor).doc
    return doc, doc.candidates[0], exit_code(doc.candidates), executor


@pytest.mark.parametrize(
    "cand, verdict, diagnosis, code",
    [
        (Behaviour(), "equivalent, no significant difference", "outputs identical to the baseline", 0),
        (Behaviour(vis_s=0.25), "equivalent, faster", "outputs identical to the baseline", 0),
        (Behaviour(vis_s=1.0), "equivalent, slower", "outputs identical to the baseline", 1),
        (Behaviour(epoch_s=0.075, vis_s=0.45), "equivalent, slower training", "outputs identical to the baseline", 1),
        (Behaviour(drift_from_rep=1), "NOT equivalent",
         "candidate is non-deterministic: a repetition differs from its first run", 1),
        (Behaviour(losses=(0.6, 0.4, 0.3, 0.2)), "NOT equivalent",
         "training trajectory changed: RNG stream or initialisation perturbed", 1),
        (Behaviour(pixel=(3, 4)), "NOT equivalent", "rendering changed: 2 pixels differ outside the polytope boundaries", 1),
        (Behaviour(status="crashed", stderr="RuntimeError: boom"), "crashed", "crashed: RuntimeError: boom", 1),
        (Behaviour(status="timeout"), "timeout", "timed out after 3600s", 1),
    ],
    ids=["equal", "faster", "slower", "slower-training", "nondeterministic", "rng", "pixel", "crashed", "timeout"],
)
def test_verdict_and_exit_status(fake_repo: Path, tmp_path: Path, cand: Behaviour, verdict: str, diagnosis: str,
                                 code: int) -> None:
    _, entry, status, _ = compare_with(fake_repo, tmp_path, cand)
    assert (entry.verdict, status) == (verdict, code)
    assert entry.diagnosis.startswith(diagnosis), entry.diagnosis


def test_slower_training_names_the_trade_off(fake_repo: Path, tmp_path: Path) -> None:
    _, entry, _, _ = compare_with(fake_repo, tmp_path, Behaviour(epoch_s=0.075, vis_s=0.45))
    assert entry.speed["train_epoch"].verdict == "slower" and entry.speed["period"].verdict == "no significant difference"
    assert SLOWER_TRAINING_WARNING in entry.warnings


def test_faster_numbers_are_the_scripted_ones(fake_repo: Path, tmp_path: Path) -> None:
    doc, entry, _, executor = compare_with(fake_repo, tmp_path, Behaviour(vis_s=0.25))
    assert entry.speedup["visualise"] == pytest.approx(2.0, rel=0.01)
    assert entry.speedup["period"] == pytest.approx(0.6 / 0.35, rel=0.01)
    assert len(executor.calls) == 3 * 6  # baseline, its twin, the candidate: six rounds each
    assert doc.noise_floor is not None and doc.noise_floor.floor == pytest.approx(0.0, abs=1e-9)


def test_quick_mode_gives_no_speed_verdict(fake_repo: Path, tmp_path: Path) -> None:
    _, entry, code, executor = compare_with(fake_repo, tmp_path, Behaviour(vis_s=0.25), repeat=1)
    assert len(executor.calls) == 3  # --repeat 1 still has the twin; quick mode is tested in test_cli
    assert entry.speed["period"].reason.startswith("too few repeats") and code == 0
