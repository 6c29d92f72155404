"""No ratio a reader sees was not measured as a paired, judged comparison — checked on real documents.

Documents come from compares on the fake trainer repository whose runs the
FakeExecutor scripts (judged and --quick), and from the committed seed compare
(a real 10-round run whose gemini-first row used to show the equivalence
round's 1.75× next to medians that say slower).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.commands.compare import CompareRun, run_compare, summary_lines
from harness.executors.fake import FakeExecutor
from harness.export import assets, ratios, write_outputs
from harness.plan import CompareOptions
from harness.results import CompareDocument
from scripted import Behaviour, script

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_JSON = REPO_ROOT / "reports" / "seed-1024.json"
#: The seed report as the previous version wrote it (evalharness.compare/2): its gemini-first row showed 1.75×.
V2_JSON = REPO_ROOT / "tests" / "data" / "compare-v2.json"
RATIO = re.compile(r"^(\d+\.\d+)×")
INDICATIVE = "(indicative: 1 run, not judged)"
#: slow and threads differ in speed only; rng draws other losses (NOT equivalent, so never timed); crash crashes.
BEHAVIOURS = {"slow": Behaviour(vis_s=0.75), "threads": Behaviour(vis_s=0.25),
              "rng": Behaviour(losses=(0.9, 0.4, 0.3, 0.2)), "crash": Behaviour(status="crashed", stderr="RuntimeError: boom")}
CANDIDATES = ["same", "slow", "threads", "rng", "crash"]


def _compare(fake_repo: Path, work: Path, quick: bool) -> CompareRun:
    opts = CompareOptions(baseline="base", preset="small", candidates=CANDIDATES, repo=str(fake_repo), work_dir=work,
                          repeat=6, quick=quick, threads=1, variants=0)
    return run_compare(opts, FakeExecutor(script(BEHAVIOURS)))


@pytest.fixture(scope="module")
def judged(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> CompareRun:
    return _compare(fake_repo, tmp_path_factory.mktemp("judged"), quick=False)


@pytest.fixture(scope="module")
def quick(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> CompareRun:
    return _compare(fake_repo, tmp_path_factory.mktemp("quick"), quick=True)


def _report(doc: CompareDocument, run_root: Path | None, folder: Path) -> str:
    out = folder / "r.md"
    write_outputs(doc, {"md": out}, run_root)
    return out.read_text()


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def summary_table(text: str) -> dict[str, dict[str, str]]:
    """Candidate → '<phase> speedup' column → cell, from the report's summary table."""
    lines = text.split("## Summary")[1].split("\n\n")[1].splitlines()
    header = _cells(lines[0])
    return {row[0].strip("*_"): dict(zip(header, row)) for row in map(_cells, lines[2:])}


def timing_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Candidate → the rows of its section's timing table."""
    out = {}
    for section in text.split("\n## ")[1:]:
        name = section.splitlines()[0].strip()
        if "### Timing" not in section:
            continue
        lines = [line for line in section.split("### Timing")[1].splitlines() if line.startswith("|")]
        header = _cells(lines[0])
        out[name] = [dict(zip(header, row)) for row in map(_cells, lines[2:])]
    return out


def _seconds(cell: str) -> float | None:
    found = re.match(r"^([\d.]+) (s|MB)$", cell)
    return float(found.group(1)) if found else None


def directions_agree(text: str) -> list[str]:
    """Every ratio shown (summary and timing tables) against the medians of its candidate's timing table:
    the contradictions found (none expected)."""
    problems, medians = [], {}
    for name, rows in timing_tables(text).items():
        for row in rows:
            base, cand = _seconds(row["baseline median"]), _seconds(row["candidate median"])
            medians[name, row["phase"]] = (base, cand)
            problems += _contradiction(f"{name} timing {row['phase']}", row["speedup"], base, cand)
    for name, row in summary_table(text).items():
        for column, cell in row.items():
            if column.endswith(" speedup") and name in {n for n, _ in medians}:
                problems += _contradiction(f"{name} summary {column}", cell, *medians[name, column[:-len(" speedup")]])
    return problems


def _contradiction(where: str, cell: str, base: float | None, cand: float | None) -> list[str]:
    shown = RATIO.match(cell)
    if shown is None or base is None or cand is None:
        return []
    ratio = float(shown.group(1))
    return [f"{where}: {cell} beside {base} vs {cand}"] if (ratio - 1) * (base - cand) < 0 else []


def test_untimed_candidates_show_no_ratio_and_no_chart(judged: CompareRun, tmp_path: Path) -> None:
    text = _report(judged.doc, judged.run_root, tmp_path)
    rows = summary_table(text)
    for name in ("rng", "crash"):
        cells = [cell for column, cell in rows[name].items() if column.endswith(" speedup")]
        assert cells == ["–"] * 4, (name, cells)
        assert all(row["speedup"] == "–" for row in timing_tables(text).get(name, [])), name
    assert rows["threads"]["train+visualise period speedup"].startswith("1.71× [")
    assert rows["slow"]["train+visualise period speedup"].startswith("0.71× [")
    charts = {p.name for p in assets.asset_dir(tmp_path / "r.md").glob("*-speedup.png")}
    assert charts == {"01-same-speedup.png", "02-slow-speedup.png", "03-threads-speedup.png"}, charts
    rng = next(c for c in judged.doc.candidates if c.name == "rng")
    assert rng.speed["period"].speedup is None and rng.speedup["period"] is None
    assert rng.speed["period"].reason == "not timed: NOT equivalent after the equivalence round"


def test_quick_ratios_are_labelled_indicative_only_for_equivalent_candidates(quick: CompareRun, tmp_path: Path) -> None:
    text = _report(quick.doc, quick.run_root, tmp_path)
    rows = summary_table(text)
    assert rows["threads"]["train+visualise period speedup"] == f"1.71× {INDICATIVE}"
    assert rows["slow"]["train+visualise period speedup"] == f"0.71× {INDICATIVE}"
    assert all(cell == "–" for name in ("rng", "crash") for col, cell in rows[name].items()
               if col.endswith(" speedup"))
    assert not list(assets.asset_dir(tmp_path / "r.md").glob("*-speedup.png"))  # never plotted
    threads = next(c for c in quick.doc.candidates if c.name == "threads")
    assert threads.speed["period"].speedup is None and threads.speed["period"].indicative == pytest.approx(0.6 / 0.35)
    lines = {line.split()[0]: line for line in summary_lines(quick.doc)}
    assert f"period 1.71× {INDICATIVE}" in lines["threads"] and "period –" in lines["rng"]


def test_quick_phases_too_short_for_the_clock_show_no_ratio(fake_repo: Path, tmp_path: Path) -> None:
    """10 ms epochs on a 1 ms log clock: the single run's epoch ratio is rounding noise, so none is kept."""
    short = {"base": Behaviour(epoch_s=0.01), "threads": Behaviour(epoch_s=0.005)}
    opts = CompareOptions(baseline="base", preset="small", candidates=["threads"], repo=str(fake_repo),
                          work_dir=tmp_path / "w", quick=True, threads=1, variants=0)
    done = run_compare(opts, FakeExecutor(script(short)))
    epoch = done.doc.candidates[0].speed["train_epoch"]
    assert (epoch.indicative, epoch.verdict) == (None, "not judged")
    assert epoch.reason.startswith("--quick: one run per branch; speed not measurable at this size (phase 10 ms")
    assert summary_table(_report(done.doc, done.run_root, tmp_path))["threads"]["training speedup"] == "–"


@pytest.mark.parametrize("which", ["judged", "quick", "seed"])
def test_every_ratio_shown_agrees_in_direction_with_the_medians_beside_it(which: str, request: pytest.FixtureRequest,
                                                                          tmp_path: Path) -> None:
    if which == "seed":
        doc, run_root = CompareDocument.load(SEED_JSON), None
    else:
        done = request.getfixturevalue(which)
        doc, run_root = done.doc, done.run_root
    text = _report(doc, run_root, tmp_path)
    shown = [cell for rows in timing_tables(text).values() for row in rows if RATIO.match(cell := row["speedup"])]
    assert len(shown) >= 8  # the property is checked on real ratios, not on an empty table
    assert directions_agree(text) == []


def test_the_seed_reports_contradictions_are_withheld_and_said(tmp_path: Path) -> None:
    """gemini-first: NOT equivalent, its medians say slower — no ratio at all; gemini's training epoch:
    0.95× paired against medians 0.120 s vs 0.119 s — withheld, with the reason."""
    text = _report(CompareDocument.load(V2_JSON), None, tmp_path)
    rows = summary_table(text)
    assert [rows["gemini-first"][f"{p} speedup"] for p in ("period", "train_epoch", "visualise", "wall")] == ["–"] * 4
    assert rows["gemini"]["train_epoch speedup"] == "–†"  # a /2 document has no phase labels: the phase keys
    assert rows["gemini"]["period speedup"] == "0.96× [0.93, 1.01]"
    assert "† the paired ratio and the medians point different ways" in text
    gemini = {row["phase"]: row for row in timing_tables(text)["gemini"]}
    assert (gemini["train_epoch"]["speedup"], gemini["train_epoch"]["CI"]) == ("–†", "–")
    assert "1.75×" not in text and "(1 run)" not in text
    assert not (assets.asset_dir(tmp_path / "r.md") / "03-gemini-first-speedup.png").exists()


def test_an_older_documents_single_run_ratio_is_read_as_such_and_written_back_unchanged() -> None:
    """Before `indicative`, a not-judged phase's single-run ratio sat in `speedup`: no exporter takes it for a
    speedup, and the document is written back with it where it was (no `indicative` key added)."""
    doc = CompareDocument.load(V2_JSON)
    period = next(c for c in doc.candidates if c.name == "gemini-first").speed["period"]
    assert (period.verdict, period.speedup) == ("not judged", pytest.approx(1.7480823614854781))
    assert ratios.judged(period) is None and ratios.single_run(period) == pytest.approx(1.7480823614854781)
    text = doc.to_json()
    without_call = [{p: {k: v for k, v in s.items() if k != "call"} for p, s in c["speed"].items()}
                    for c in json.loads(text)["candidates"]]  # the call is read from the words (results.py)
    assert "indicative" not in text and without_call == [c["speed"] for c in json.loads(V2_JSON.read_text())["candidates"]]
