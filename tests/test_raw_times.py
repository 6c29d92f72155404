"""Raw per-round values in compare.json (evalharness.compare/3) and what is built on them.

Three stored compares come from the real pipeline on the fake trainer's
repository, with runs scripted by the FakeExecutor (exact times, no sleeps):
A, where `same` is a 1.2× faster visualisation and `slow` is no different;
B, "the next commit", where `same` got faster still (visualisation 0.25 s)
and `pixel` is new and NOT equivalent (so it gets no timing rounds), and
whose baseline runs its rounds in another order of the same jitter (equal
within noise); C, a later rerun of B's `same`.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from PIL import Image

from harness.cli import main
from harness.commands.compare import run_compare
from harness.errors import UsageProblem
from harness.executors.fake import FakeExecutor
from harness.export import assets, write_outputs
from harness.commands.compare_results import Row, table_row
from harness.commands.history import find_steps
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
def root(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a/, b/ and c/compare.json (each beside its work folder), run in that order."""
    folder = tmp_path_factory.mktemp("raw-times")
    for name, behaviours, candidates in (
            ("a", {"same": Behaviour(vis_s=0.4)}, ["same", "slow"]),
            ("b", {"base": Behaviour(jitter=JITTER[5:] + JITTER[:5]), "same": Behaviour(vis_s=0.25),
                   "pixel": Behaviour(pixel=(2, 3))}, ["same", "pixel"]),
            ("c", {"same": Behaviour(vis_s=0.25)}, ["same"])):
        (folder / name).mkdir()
        stored_compare(fake_repo, folder / name, behaviours, candidates)
    return folder


@pytest.fixture(scope="module")
def stored(root: Path) -> tuple[Path, Path]:
    """(A, B): two compare.json files, B run after A."""
    return root / "a" / "compare.json", root / "b" / "compare.json"


@pytest.fixture(scope="module")
def other_workload(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A compare of the same task and preset with another parameter (epochs=2), --quick."""
    folder = tmp_path_factory.mktemp("other-workload")
    opts = CompareOptions(baseline="base", preset="small", candidates=["same"], repo=str(fake_repo),
                          work_dir=folder / "work", overrides=["epochs=2"], quick=True, threads=1)
    run_compare(opts, FakeExecutor(script({}))).doc.save(folder / "compare.json")
    return folder / "compare.json"


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
    assert (redone.verdict, redone.speedup, redone.ci, redone.p_value) == (
        stored_verdict.verdict, stored_verdict.speedup, stored_verdict.ci, stored_verdict.p_value)
    assert stored_verdict.verdict == "faster"


def test_histograms_one_png_per_phase_linked_from_the_report(stored: tuple[Path, Path], tmp_path: Path) -> None:
    doc = CompareDocument.load(stored[1])
    report = tmp_path / "b.md"
    written = write_outputs(doc, {"md": report, "histogram": tmp_path / "hist.png"}, None)
    assert written == [report, tmp_path / "hist-period.png"]
    for folder, prefix in ((tmp_path, "hist-"), (assets.asset_dir(report), "histogram-")):
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
    assert not list(assets.asset_dir(tmp_path / "q.md").glob("histogram-*"))
    with pytest.raises(UsageProblem, match="^no timing histogram to draw: --quick runs no timing rounds$"):
        write_outputs(quick, {"histogram": tmp_path / "h.png"}, None)
    seed = CompareDocument.load(REPO_ROOT / "tests" / "data" / "compare-v2.json")
    with pytest.raises(UsageProblem, match=r"^no timing histogram to draw: evalharness.compare/2 documents keep no "
                                           r"per-round values \(rerun the compare with this version\)$"):
        write_outputs(seed, {"histogram": tmp_path / "h.png"}, None)


def header(name: str, path: str, doc: CompareDocument) -> str:
    return f"{name}: {path} — {doc.created}, baseline base @ {doc.baseline_sha[:12]}, 5 timing rounds"


COMPARE_TABLE = """\
branch    phase        A median       B median        B vs A        p       significant
--------  -----------  -------------  --------------  ------------  ------  -------------
base      period       606 ms (n=5)   600 ms (n=5)    1.01× faster  0.6     no
base      train_epoch  50.5 ms (n=5)  50 ms (n=5)     1.01× faster  0.6     no
base      visualise    505 ms (n=5)   500 ms (n=5)    1.01× faster  0.6     no
base      wall         2.212 s (n=5)  2.2 s (n=5)     1.01× faster  0.6     no
base      peak_rss_mb  303 MB (n=5)   300 MB (n=5)    1.01× lower   0.6     no
same      period       505 ms (n=5)   353.5 ms (n=5)  1.43× faster  0.0079  yes
same      train_epoch  50.5 ms (n=5)  50.5 ms (n=5)   1.00× slower  0.92    no
same      visualise    404 ms (n=5)   252.5 ms (n=5)  1.60× faster  0.0079  yes
same      wall         2.01 s (n=5)   1.707 s (n=5)   1.18× faster  0.0079  yes
same      peak_rss_mb  303 MB (n=5)   303 MB (n=5)    no change     1       no"""


def test_compare_results_prints_pyperf_style_rows(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    a, b = (CompareDocument.load(root / name / "compare.json") for name in "ab")
    result = CliRunner().invoke(main, ["compare-results", "a/compare.json", "b/compare.json"])
    assert (result.exit_code, result.output) == (0, "\n".join([
        header("A", "a/compare.json", a), header("B", "b/compare.json", b), "task polytope, preset small",
        "Mann-Whitney U, two-sided, unpaired (A's and B's rounds never ran side by side), on every timing round's "
        "value; α=0.05 per row", "", COMPARE_TABLE, "",
        "10 rows, each tested on its own: about 0.5 would read significant by chance if nothing had changed",
        "only in A: slow", "only in B: pixel"]) + "\n")


def test_compare_results_of_one_phase(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    result = CliRunner().invoke(main, ["compare-results", "b/compare.json", "c/compare.json", "--phase", "period"])
    assert result.exit_code == 0
    assert result.output.split("\n")[5:] == [
        "branch    phase    A median        B median        B vs A        p    significant",
        "--------  -------  --------------  --------------  ------------  ---  -------------",
        "base      period   600 ms (n=5)    606 ms (n=5)    1.01× slower  0.6  no",
        "same      period   353.5 ms (n=5)  353.5 ms (n=5)  no change     1    no",
        "",
        "2 rows, each tested on its own: about 0.1 would read significant by chance if nothing had changed",
        "only in A: pixel", ""]


@pytest.mark.parametrize("args, error", [
    (["a/compare.json", "SEED"], "SEED: evalharness.compare/2 documents keep no per-round values; rerun the compare "
                                 "with this version"),
    (["a/compare.json", "OTHER"], "a/compare.json and OTHER ran different workloads (epochs=4 vs 2): their times do "
                                  "not compare"),
    (["a/compare.json", "b/compare.json", "--phase", "epoch"],
     "unknown phase 'epoch' (this task's: period, train_epoch, visualise, wall, peak_rss_mb)"),
    (["a/compare.json", "none.json"], "cannot read none.json: No such file or directory"),
], ids=["compare-2", "other-workload", "unknown-phase", "missing"])
def test_compare_results_refuses_in_one_line(root: Path, other_workload: Path, monkeypatch: pytest.MonkeyPatch,
                                             args: list[str], error: str) -> None:
    monkeypatch.chdir(root)
    names = {"SEED": str(REPO_ROOT / "tests" / "data" / "compare-v2.json"), "OTHER": str(other_workload)}
    result = CliRunner().invoke(main, ["compare-results", *(names.get(a, a) for a in args)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    expected = error.replace("SEED", names["SEED"]).replace("OTHER", names["OTHER"])
    assert result.output.splitlines()[-1] == f"Error: {expected}"


def test_compare_results_of_two_quick_compares_has_nothing_to_test(other_workload: Path, fake_repo: Path,
                                                                     tmp_path: Path) -> None:
    opts = CompareOptions(baseline="base", preset="small", candidates=["same"], repo=str(fake_repo),
                          work_dir=tmp_path / "work", overrides=["epochs=2"], quick=True, threads=1)
    run_compare(opts, FakeExecutor(script({}))).doc.save(tmp_path / "again.json")
    result = CliRunner().invoke(main, ["compare-results", str(other_workload), str(tmp_path / "again.json")])
    assert result.exit_code == 0
    assert result.output.splitlines()[4:] == ["", "no branch has timing rounds in both documents",
                                              "no timing rounds in A or B: base, same"]


def test_rows_too_small_for_the_test_say_so() -> None:
    """Pure: with 2 rounds a side the smallest two-sided p is 2/6; 4 a side can reach α (2/70)."""
    assert table_row(Row("same", "period", [1.0, 1.1], [2.0, 2.1])) == [
        "same", "period", "1.05 s (n=2)", "2.05 s (n=2)", "1.95× slower", "0.33", "n too small"]
    assert table_row(Row("same", "period", [1.0, 1.1, 1.2, 1.3], [2.0, 2.1, 2.2, 2.3]))[-2:] == ["0.029", "yes"]


STEP_METHOD = ("(a step: Mann-Whitney U on the pooled timing rounds before vs after a split, Bonferroni over the "
               "splits tried, and medians apart by more than the larger of --threshold and the rounds' relative IQR)")


def history_table(docs: list[CompareDocument]) -> list[str]:
    a, b, c = (f"{d.created}  {d.baseline_sha[:12]}" for d in docs)
    return [
        "#    created               baseline commit    file            base (baseline)    same      slow    pixel",
        "---  --------------------  -----------------  --------------  -----------------  --------  ------  -------",
        f"1    {a}       a/compare.json  606 ms             505 ms    606 ms  –",
        f"2    {b}       b/compare.json  600 ms             353.5 ms  –       –",
        f"3    {c}       c/compare.json  606 ms             353.5 ms  –       –"]


@pytest.mark.parametrize("args", [["c/compare.json", "a/compare.json", "b/compare.json"], ["."]],
                         ids=["files-in-any-order", "a-folder-with-run-folders-in-it"])
def test_history_table_oldest_first_with_the_step(root: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    """A folder also holds each run folder's own compare.json: the same compare, counted once."""
    monkeypatch.chdir(root)
    docs = [CompareDocument.load(root / name / "compare.json") for name in "abc"]
    result = CliRunner().invoke(main, ["history", *args, "--plot", "plots/history.png"])
    assert (result.exit_code, result.output.splitlines()) == (0, [
        "polytope (small), period (the primary phase): the median of each compare's timing rounds, oldest first", "",
        *history_table(docs), "", "steps:",
        "- same: 505 ms → 353.5 ms (1.43× faster) from #2, p=0.0026, beyond the noise ±5.0%", STEP_METHOD,
        "written: plots/history.png"])
    with Image.open(root / "plots" / "history.png") as png:
        assert png.format == "PNG" and png.width > 600


def test_history_without_a_step_and_of_one_compare(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    two = CliRunner().invoke(main, ["history", "b/compare.json", "c/compare.json", "--phase", "wall"])
    assert two.exit_code == 0 and two.output.splitlines()[0].startswith("polytope (small), wall (--phase): ")
    assert two.output.splitlines()[-2:] == ["no steps: no branch's median moved significantly beyond its noise",
                                            STEP_METHOD]
    one = CliRunner().invoke(main, ["history", "c/compare.json"])
    assert one.exit_code == 0 and one.output.splitlines()[-1] == "one compare: no history to find steps in"


@pytest.mark.parametrize("args, error", [
    (["a/compare.json", "OTHER"], "a/compare.json and OTHER ran different workloads (epochs=4 vs 2): one history is "
                                  "one task, preset and parameters"),
    (["SEED"], "SEED: evalharness.compare/2 documents keep no per-round values; rerun the compare with this version"),
    (["a/compare.json", "--phase", "epoch"],
     "unknown phase 'epoch' (this task's: period, train_epoch, visualise, wall, peak_rss_mb)"),
], ids=["other-workload", "compare-2", "unknown-phase"])
def test_history_refuses_in_one_line(root: Path, other_workload: Path, monkeypatch: pytest.MonkeyPatch,
                                     args: list[str], error: str) -> None:
    monkeypatch.chdir(root)
    names = {"SEED": str(REPO_ROOT / "tests" / "data" / "compare-v2.json"), "OTHER": str(other_workload)}
    result = CliRunner().invoke(main, ["history", *(names.get(a, a) for a in args)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    expected = error.replace("SEED", names["SEED"]).replace("OTHER", names["OTHER"])
    assert result.output.splitlines()[-1] == f"Error: {expected}"


def test_history_refuses_a_folder_without_compares(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text('{"schema": "evalharness.run/2"}')
    result = CliRunner().invoke(main, ["history", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (f"Error: {tmp_path}: no compare document (evalharness.compare/…) "
                                              "under this folder")


def test_steps_need_significance_and_a_change_beyond_the_noise() -> None:
    """Pure: eight rounds per compare with a ±2 % wobble; a 3 % session shift is no step, 20 % ones are."""
    wobble = [0.98, 1.0, 1.02, 0.99, 1.01, 0.985, 1.015, 1.0]
    level = [1.0, 1.0, 1.03, 1.03, 0.8, 0.8, 0.8, 0.96, 0.96]
    series = [[x * w for w in wobble] for x in level]
    steps = find_steps("cand", series, noise=0.05)
    assert [(s.at, round(s.before, 3), round(s.after, 3)) for s in steps] == [(4, 1.015, 0.8), (7, 0.8, 0.96)]
    assert find_steps("cand", series, noise=0.25) == []
    assert find_steps("cand", [series[0], [], series[4]], noise=0.05)[0].at == 2  # a compare without rounds is skipped


def test_history_of_a_folder_leaves_out_what_does_not_belong(root: Path, other_workload: Path, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """A work folder holds compares of other presets and old versions: the most common workload is followed."""
    for name in "abc":
        shutil.copy(root / name / "compare.json", tmp_path / f"{name}.json")
    shutil.copy(other_workload, tmp_path / "other.json")
    shutil.copy(REPO_ROOT / "tests" / "data" / "compare-v2.json", tmp_path / "seed.json")
    (tmp_path / "notes.json").write_text('{"not": "a compare"}')
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(main, ["history", str(tmp_path)])
    assert result.exit_code == 0
    assert [line.split()[3] for line in result.output.splitlines()[4:7]] == [str(tmp_path / f"{n}.json") for n in "abc"]
    assert "- same: 505 ms → 353.5 ms (1.43× faster) from #2, p=0.0026, beyond the noise ±5.0%" in result.output
    assert sorted(caplog.messages) == [f"{tmp_path / 'other.json'}: another workload (epochs=4 vs 2): left out",
                                       f"{tmp_path / 'seed.json'}: evalharness.compare/2 keeps no per-round values: "
                                       "left out"]
