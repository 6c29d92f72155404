"""Raw per-round values in compare.json (evalharness.compare/3) and what is built on them.

Two stored compares come from the real pipeline on the fake trainer's
repository, with runs scripted by the FakeExecutor (exact times, no sleeps):
A, where `same` is a 1.2× faster visualisation and `slow` is no different,
and B, "the next commit", where `same` got faster still (visualisation 0.25 s)
and `pixel` is new and NOT equivalent (so it gets no timing rounds); B's baseline runs its rounds in another order of the same
jitter, so it matches A's within noise.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from harness.commands.compare import run_compare
from harness.errors import UsageProblem
from harness.executors.fake import FakeExecutor
from harness.export import markdown, write_outputs
from harness.judge import stats
from harness.judge.samples import branch_labels, timed_values
from harness.plan import CompareOptions
from harness.results import SCHEMA_DIR, CompareDocument
from scripted import JITTER, Behaviour, script

PHASES = ["period", "train_epoch", "visualise", "wall", "peak_rss_mb"]
REPO_ROOT = Path(__file__).resolve().parents[1]


def stored_compare(fake_repo: Path, folder: Path, behaviours: dict[str, Behaviour], candidates: list[str]) -> Path:
    """Run a real compare (scripted runs, 5 timing rounds) and store its document as compare.json would be."""
    opts = CompareOptions(baseline="base", preset="small", candidates=candidates, repo=str(fake_repo),
                          work_dir=folder / "work", repeat=5, threads=1, variants=0)
    done = run_compare(opts, FakeExecutor(script(behaviours)))
    path = folder / "compare.json"
    done.doc.save(path)
    return path


@pytest.fixture(scope="module")
def stored(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(A, B): two compare.json files, B run after A."""
    a = stored_compare(fake_repo, tmp_path_factory.mktemp("a"), {"same": Behaviour(vis_s=0.4)}, ["same", "slow"])
    b = stored_compare(fake_repo, tmp_path_factory.mktemp("b"),
                       {"base": Behaviour(jitter=JITTER[5:] + JITTER[:5]), "same": Behaviour(vis_s=0.25),
                        "pixel": Behaviour(pixel=(2, 3))},
                       ["same", "pixel"])
    return a, b


def test_compare_3_documents_validate_and_keep_every_run(stored: tuple[Path, Path]) -> None:
    schema = json.loads((SCHEMA_DIR / "compare.schema.json").read_text())
    for path in stored:
        raw = json.loads(path.read_text())
        jsonschema.validate(raw, schema)
        assert raw["schema"] == "evalharness.compare/3"
    doc = CompareDocument.load(stored[0])
    assert doc.per_round and branch_labels(doc) == ["base", "base.self", "same", "slow"]
    for label in branch_labels(doc):
        assert [(s.round, s.status, s.start) for s in doc.samples[label]] == [(r, "ok", "cold") for r in range(6)]
        assert sorted(doc.samples[label][0].values) == sorted(PHASES)
    assert timed_values(doc, "same", "visualise") == pytest.approx([0.4 * k for k in JITTER[1:6]])


def test_every_summary_and_the_speed_verdict_are_redone_from_the_samples(stored: tuple[Path, Path]) -> None:
    doc = CompareDocument.load(stored[0])
    for phase in PHASES:
        assert statistics.median(timed_values(doc, "base", phase)) == doc.baseline_timing[phase].median
        for cand in doc.candidates:
            assert statistics.median(timed_values(doc, cand.name, phase)) == cand.timing[phase].median
    same = doc.candidates[0]
    redone = stats.speed_verdict(timed_values(doc, "base", "period"), timed_values(doc, "same", "period"),
                                 threshold=doc.settings.threshold, alpha=doc.settings.alpha_look,
                                 noise_floor=doc.noise_floor.floors["period"], max_n=doc.settings.rounds)
    stored_verdict = same.speed["period"]
    assert (redone["verdict"], redone["speedup"], redone["ci"], redone["p_value"]) == (
        stored_verdict.verdict, stored_verdict.speedup, stored_verdict.ci, stored_verdict.p_value)
    assert stored_verdict.verdict == "faster"


def test_histograms_one_png_per_phase_linked_from_the_report(stored: tuple[Path, Path], tmp_path: Path) -> None:
    doc = CompareDocument.load(stored[1])
    report = tmp_path / "b.md"
    written = write_outputs(doc, {"md": report, "histogram": tmp_path / "hist.png"}, None)
    assert written == [report, tmp_path / "hist-period.png"]
    for folder, prefix in ((tmp_path, "hist-"), (markdown.asset_dir(report), "histogram-")):
        for phase in PHASES:
            with Image.open(folder / f"{prefix}{phase}.png") as png:
                assert png.format == "PNG" and png.width > 400 and png.height > 200
    text = report.read_text()
    section = text.split("## Timing histograms\n\n")[1].split("\n\n## ")[0]
    assert section.split("\n\n") == [
        "Every timing round's value per branch and phase (the raw values are the JSON's `samples`); a dashed line "
        "marks each branch's median. No timing rounds, so not drawn: pixel.",
        *(f"![{phase} histogram](b_files/histogram-{phase}.png)" for phase in PHASES)]


def test_no_histogram_without_timing_rounds_or_raw_values(fake_repo: Path, tmp_path: Path) -> None:
    opts = CompareOptions(baseline="base", preset="small", candidates=["same"], repo=str(fake_repo),
                          work_dir=tmp_path / "w", quick=True, threads=1)
    quick = run_compare(opts, FakeExecutor(script({}))).doc
    write_outputs(quick, {"md": tmp_path / "q.md"}, None)
    assert "## Timing histograms" not in (tmp_path / "q.md").read_text()
    assert not list(markdown.asset_dir(tmp_path / "q.md").glob("histogram-*"))
    with pytest.raises(UsageProblem, match="^no timing histogram to draw: --quick runs no timing rounds$"):
        write_outputs(quick, {"histogram": tmp_path / "h.png"}, None)
    seed = CompareDocument.load(REPO_ROOT / "reports" / "seed-1024.json")
    with pytest.raises(UsageProblem, match=r"^no timing histogram to draw: evalharness.compare/2 documents keep no "
                                           r"per-round values \(rerun the compare with this version\)$"):
        write_outputs(seed, {"histogram": tmp_path / "h.png"}, None)
