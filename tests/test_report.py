"""The markdown report and `evalharness report`, fed documents the real pipeline produced.

Documents come from a compare on a real temporary repository whose runs are
scripted by the FakeExecutor (fast, exact), or from the committed seed report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.commands.compare import CompareRun, run_compare, summary_lines
from harness.executors.fake import FakeExecutor
from harness.export import assets, caveats, compare_view, github, junit, markdown, write_outputs
from harness.plan import CompareOptions
from harness.results import CompareDocument
from scripted import Behaviour, script

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_JSON = REPO_ROOT / "reports" / "seed-1024.json"


@pytest.fixture(scope="module")
def compared(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> CompareRun:
    """base vs same (identical), pixel (one pixel per image differs), crash; four rounds."""
    behaviours = {"pixel": Behaviour(pixel=(2, 3)), "crash": Behaviour(status="crashed", stderr="RuntimeError: boom")}
    opts = CompareOptions(baseline="base", preset="small", candidates=["same", "pixel", "crash"], repo=str(fake_repo),
                          work_dir=tmp_path_factory.mktemp("work"), repeat=4, threads=1, variants=0)
    return run_compare(opts, FakeExecutor(script(behaviours)))


@pytest.fixture(scope="module")
def report(compared: CompareRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "r.md"
    write_outputs(compared.doc, {"md": out, "json": out.with_suffix(".json")}, compared.run_root)
    return out


def test_summary_rows_carry_the_exact_verdicts(report: Path) -> None:
    lines = report.read_text().splitlines()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[3:6]] for line in lines
            if line.startswith("| **") or line.startswith("| _")}
    assert rows["**same**"] == ["equivalent, no significant difference", "yes", "yes"]
    assert rows["**pixel**"] == ["NOT equivalent", "no", "yes"]
    assert rows["**crash**"] == ["crashed", "no", "no"]
    assert rows["_baseline vs baseline_"][0] == "noise floor ±0.0%"


def test_sections_say_why(report: Path) -> None:
    text = report.read_text()
    assert "**NOT equivalent** — rendering changed: 2 pixels differ outside the polytope boundaries" in text
    assert "### stderr (status: crashed)" in text and "RuntimeError: boom" in text
    assert "| image | identical | differing pixels | bbox | SSIM | boundary lost | boundary gained | note |" in text
    assert "| outputs/ring_epoch_0002.png (epoch 2) | no | 1 |" in text


def test_identical_images_are_stored_once_and_links_resolve(report: Path) -> None:
    text = report.read_text()
    links = [part.split(")")[0] for part in text.split("](")[1:]]
    assert links and all((report.parent / link).is_file() for link in links)
    images = [p for p in assets.asset_dir(report).iterdir() if p.name.startswith("img-")]
    same_section = text.split("## same")[1].split("## pixel")[0]
    base_link, cand_link = [l for l in links if l.split("/")[-1] in same_section][:2]
    assert base_link == cand_link  # same pixels, one file
    assert len({p.read_bytes() for p in images}) == len(images)


def test_nothing_shared_holds_an_absolute_path(report: Path, compared: CompareRun) -> None:
    for text in (report.read_text(), report.with_suffix(".json").read_text()):
        assert str(compared.run_root.parent.parent) not in text and "/tmp/" not in text


def test_rerender_from_json_is_identical_with_or_without_the_run_folder(report: Path, compared: CompareRun) -> None:
    first = report.read_text()
    for extra in ([], ["--run-dir", str(compared.run_root)]):
        result = CliRunner().invoke(main, ["report", str(report.with_suffix(".json")), "--out", str(report), *extra])
        assert result.exit_code == 0, result.output
        assert report.read_text() == first


def test_committed_seed_report_rerenders_identically(tmp_path: Path) -> None:
    out = tmp_path / "seed-1024.md"
    files = assets.asset_dir(out)
    files.mkdir()
    for src in assets.asset_dir(SEED_JSON.with_suffix(".md")).iterdir():
        (files / src.name).write_bytes(src.read_bytes())
    result = CliRunner().invoke(main, ["report", str(SEED_JSON), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == SEED_JSON.with_suffix(".md").read_text()


def test_warnings_are_merged_per_branch_wherever_they_are_listed() -> None:
    """The earlier seed document (compare/2) holds one 'unstable' warning per phase (four per branch) and a
    busy-machine one: the report, the terminal and the job summary list one line per branch, each fact once."""
    doc = CompareDocument.load(REPO_ROOT / "tests" / "data" / "compare-v2.json")
    assert len(doc.warnings) == 5 and len(doc.candidates[0].warnings) == 4
    text = markdown.render(compare_view.build(doc))
    merged = ("baseline unstable: spread ≥ 10% of the median (train_epoch 25%, visualise 30%, period 30%, wall 29%); "
              "a difference as small as 5% needs ~54-87 rounds to resolve, more than --repeat 10: at this preset only "
              "larger differences can be settled (a quieter machine, a larger preset with longer phases or a larger "
              "--threshold would settle smaller ones) · machine busy during 1 of 11 runs (CPU/wall fell to 56% of its "
              "usual 1.00): their times are suspect")
    assert [l for l in text.splitlines() if l.startswith("- ⚠️")] == [f"- ⚠️ {merged}"]
    gemini = text.split("## gemini\n")[1].split("\n## ")[0]
    assert [l for l in gemini.splitlines() if l.startswith("> - gemini")] == [
        "> - gemini unstable: spread ≥ 10% of the median (train_epoch 18%, visualise 18%, period 18%, wall 16%); a "
        "difference as small as 5% needs ~49-62 rounds to resolve, more than --repeat 10: at this preset only larger "
        "differences can be settled (a quieter machine, a larger preset with longer phases or a larger --threshold "
        "would settle smaller ones)"]
    assert [l for l in summary_lines(doc) if l.startswith("warning:")] == [f"warning: {merged}"]
    assert github.summary(doc).count("- ⚠️") == 1
    assert junit.failure_text(doc.candidates[0]).count("warning: gemini unstable") == 1


@pytest.mark.parametrize(
    "warnings, expected",
    [
        (["gemini-first: machine busy", "gemini bimodal: period is 1 s or 2 s", "gemini: machine busy"],
         ["gemini-first: machine busy", "gemini bimodal: period is 1 s or 2 s · machine busy"]),
        (["period: speed not measurable", "gemini unstable: x", "geminis: y"],
         ["period: speed not measurable", "gemini unstable: x", "geminis: y"]),
    ],
    ids=["a-name-that-extends-another", "not-about-a-branch"],
)
def test_merging_goes_by_whole_branch_names(warnings: list[str], expected: list[str]) -> None:
    assert caveats.merged(warnings, ["gemini", "gemini-first"]) == expected


def test_report_json_format_round_trips(report: Path, tmp_path: Path) -> None:
    out = tmp_path / "again.json"
    result = CliRunner().invoke(main, ["report", str(report.with_suffix(".json")), "--format", "json", "--out", str(out)])
    assert result.exit_code == 0
    assert CompareDocument.load(out) == CompareDocument.load(report.with_suffix(".json"))


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "cannot read"),
        ("{not json", "not JSON"),
        ('{"schema": "evalharness.compare/1"}', "schema 'evalharness.compare/1', expected 'evalharness.compare/3' "
                                                "or 'evalharness.compare/2'"),
        ('{"schema": "evalharness.compare/3", "created": 3}', "not a valid evalharness.compare/3 document"),
        ('{"schema": "evalharness.compare/2", "created": 3}', "not a valid evalharness.compare/2 document"),
    ],
)
def test_report_of_a_bad_file_is_one_line_exit_2(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "c.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(main, ["report", str(path)])
    assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output


def test_quick_report_has_no_chart(fake_repo: Path, tmp_path: Path) -> None:
    opts = CompareOptions(baseline="base", preset="small", candidates=["same"], repo=str(fake_repo), work_dir=tmp_path / "w",
                          quick=True, threads=1)
    done = run_compare(opts, FakeExecutor(script({})))
    out = tmp_path / "q.md"
    write_outputs(done.doc, {"md": out}, done.run_root)
    assert "quick mode" in out.read_text() and "speedup of same" not in out.read_text()
    assert json.loads(done.doc.to_json())["settings"]["quick"] is True
