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
from scripted import JITTER, Behaviour, script

SLOWER_TRAINING_WARNING = ("visualisation faster (1.11×) but training slower (0.67×); "
                           "train+visualise period verdict: no significant difference")


def compare_with(fake_repo: Path, tmp_path: Path, cand: Behaviour, repeat: int = 6, name: str = "same",
                 base: Behaviour | None = None):
    executor = FakeExecutor(script({name: cand, **({"base": base} if base else {})}))
    opts = CompareOptions(baseline="base", preset="small", candidates=[name], repo=str(fake_repo), work_dir=tmp_path,
                          repeat=repeat, threads=1, variants=0)
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
         "timed round 1 differs from the baseline (training trajectory changed", 1),
        (Behaviour(losses=(0.6, 0.4, 0.3, 0.2)), "NOT equivalent",
         "training trajectory changed: RNG stream or initialisation perturbed", 1),
        (Behaviour(pixel=(3, 4)), "NOT equivalent", "rendering changed: 2 pixels differ outside the polytope boundaries", 1),
        (Behaviour(status="crashed", stderr="RuntimeError: boom"), "crashed", "crashed: RuntimeError: boom", 1),
        (Behaviour(status="timeout"), "timeout", "timed out after 60s", 1),
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


def calls_per_label(executor: FakeExecutor) -> dict[str, int]:
    return {label: sum(c.label == label for c in executor.calls) for label in dict.fromkeys(c.label for c in executor.calls)}


def test_faster_numbers_are_the_scripted_ones_and_it_stops_at_the_minimum(fake_repo: Path, tmp_path: Path) -> None:
    doc, entry, _, executor = compare_with(fake_repo, tmp_path, Behaviour(vis_s=0.25), repeat=20)
    assert entry.speedup["visualise"] == pytest.approx(2.0, rel=0.01)
    assert entry.speedup["period"] == pytest.approx(0.6 / 0.35, rel=0.01)
    assert entry.speed["period"].conservative == entry.speed["period"].ci[0] > 1.05
    # the equivalence round (baseline, twin, candidate), then 5 timing rounds: settled at the first look
    assert calls_per_label(executor) == {"base": 6, "base.self": 6, "same": 6}
    assert (doc.settings.rounds_run, entry.timing_rounds) == (5, 5)
    assert entry.timing_note == "settled after 5 timing rounds"
    assert doc.noise_floor is not None and doc.noise_floor.floor == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("cand, note", [
    (Behaviour(losses=(0.6, 0.4, 0.3, 0.2)), "not timed: NOT equivalent after the equivalence round"),
    (Behaviour(status="crashed", stderr="RuntimeError: boom"), "not timed: crashed after the equivalence round"),
])
def test_a_settled_verdict_gets_no_timing_rounds(fake_repo: Path, tmp_path: Path, cand: Behaviour, note: str) -> None:
    doc, entry, _, executor = compare_with(fake_repo, tmp_path, cand, repeat=20)
    reruns = 0 if cand.status == "ok" else 1  # a failed run is run once more before it counts
    assert calls_per_label(executor) == {"base": 1, "base.self": 1, "same": 1 + reruns}
    assert entry.timing_note == note and entry.speed["period"].verdict == "not judged"


def test_noise_no_round_up_to_the_cap_could_resolve_stops_at_the_first_look(fake_repo: Path, tmp_path: Path) -> None:
    wobble = (1.0, 1.3, 0.8, 1.25, 0.85, 1.2, 0.9, 1.15)
    doc, entry, code, executor = compare_with(fake_repo, tmp_path, Behaviour(jitter=wobble), repeat=8)
    assert entry.verdict.startswith("equivalent, inconclusive (noise ±") and code == 0
    assert calls_per_label(executor)["same"] == 6 and doc.settings.rounds_run == 5
    assert entry.timing_note == ("stopped after 5 timing rounds: at this noise, rounds up to --repeat 8 would "
                                 "settle it less than 10% of the time")
    assert entry.speed["period"].futile and not entry.speed["period"].settled


def test_noise_the_cap_might_resolve_runs_to_the_cap_and_says_inconclusive(fake_repo: Path, tmp_path: Path) -> None:
    # rounds 1-12 about 5 % slower than the baseline, ±5 %: unresolved at every look, yet at each the cap's look
    # might still call it (conditional power over 10 %), so never futile; at the cap it is not called
    off = (1.0, 1.01, 1.11, 1.08, 1.11, 1.04, 0.97, 1.05, 1.03, 1.11, 1.07, 0.96, 0.99)
    wobble = tuple(JITTER[r % len(JITTER)] * m for r, m in enumerate(off))
    doc, entry, code, executor = compare_with(fake_repo, tmp_path, Behaviour(jitter=wobble), repeat=12)
    assert entry.verdict == "equivalent, inconclusive (noise ±7 %)" and code == 0
    assert calls_per_label(executor)["same"] == 13 and doc.settings.rounds_run == 12
    assert entry.timing_note == "not settled after 12 timing rounds (--repeat 12)"


def test_a_noisy_baseline_says_which_differences_it_can_settle_beside_a_settled_verdict(fake_repo: Path,
                                                                                       tmp_path: Path) -> None:
    # ±20 % from round to round, hitting both branches alike: a 2x speedup settles in 5 rounds, but a 5 %
    # difference would need more rounds than --repeat 6 allows; the warning must say so without contradicting it
    loud = (1.0, 1.2, 0.8, 1.15, 0.85, 1.1, 0.9, 1.2, 0.8, 1.0)
    doc, entry, code, _ = compare_with(fake_repo, tmp_path, Behaviour(vis_s=0.25, jitter=loud), repeat=6,
                                       base=Behaviour(jitter=loud))
    assert (entry.verdict, code, entry.timing_note) == ("equivalent, faster", 0, "settled after 5 timing rounds")
    unstable = [w for w in doc.warnings if w.startswith("base unstable: ")]
    assert len(unstable) == 1 and "(train_epoch 36%, visualise 36%, period 36%, wall 21%); a difference" in unstable[0]
    assert unstable[0].endswith("rounds to resolve, more than --repeat 6: at this preset only larger differences "
                                "can be settled (a quieter machine, a larger preset with longer phases or a larger "
                                "--threshold would settle smaller ones)")


def test_phase_shorter_than_the_log_clock_is_not_measurable(fake_repo: Path, tmp_path: Path) -> None:
    short = Behaviour(epoch_s=0.004, vis_s=0.2)
    doc, entry, _, _ = compare_with(fake_repo, tmp_path, short, repeat=6, base=Behaviour(epoch_s=0.003))
    assert entry.speed["train_epoch"].verdict.startswith("speed not measurable at this size (phase ")
    assert entry.speed["train_epoch"].verdict.endswith(" ms, clock 1 ms)")
    assert any(w.startswith("train_epoch: speed not measurable") for w in doc.warnings)


def test_bimodal_candidate_reports_both_modes(fake_repo: Path, tmp_path: Path) -> None:
    two = (1.0, 2.6, 1.02, 2.7, 0.98, 2.65, 1.01, 2.62)
    doc, entry, _, _ = compare_with(fake_repo, tmp_path, Behaviour(jitter=two), repeat=8)
    assert set(entry.speed["visualise"].modes) == {"candidate"}
    assert any(w.startswith("same bimodal: visualise is ") for w in entry.warnings)


@pytest.mark.parametrize("rss, word", [(150.0, "lower"), (600.0, "higher")])
def test_memory_is_lower_or_higher_not_faster(fake_repo: Path, tmp_path: Path, rss: float, word: str) -> None:
    _, entry, _, _ = compare_with(fake_repo, tmp_path, Behaviour(vis_s=0.25, rss_mb=rss))
    assert entry.speed["peak_rss_mb"].verdict == word
