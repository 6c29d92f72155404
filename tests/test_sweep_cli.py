"""`evalharness sweep` over a real temporary repository: table shape and outputs."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from scipy.stats import gmean

from harness.cli import main
from harness.commands.sweep import parse_grid, problems, run_sweep, split_values
from harness.executors import RunSpec
from harness.executors.fake import FakeExecutor, ScriptedRun
from harness.export import SWEEP_EXPORTERS, ratios
from harness.plan import CompareOptions
from harness.results import CompareDocument
from scripted import Behaviour, polytope_run, script
from test_race_task import OURS_EULER, PKG_EULER, race_opts
from test_race_task import scripted as race_script

#: The issue's size=80 cell: one seed 1.44× faster, the other 0.59× (arithmetic mean 1.015×, geometric 0.92×).
SEED_RATIOS = {0: 1.44, 1: 0.59}


def sweep(fake_repo: Path, tmp_path: Path, *args: str) -> tuple[int, str, pd.DataFrame]:
    out = tmp_path / "sweep"
    argv = ["sweep", "base", "same", "pixel", "--repo", str(fake_repo), "--work-dir", str(tmp_path / "w"),
            "--out", str(out), "--preset", "small", *args]
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    return result.exit_code, result.output, pd.read_csv(out / "sweep.csv") if (out / "sweep.csv").exists() else None


def test_sweep_writes_one_row_per_grid_point(fake_repo: Path, tmp_path: Path) -> None:
    code, output, table = sweep(fake_repo, tmp_path, "--set", "points=20", "--grid", "size=32,48",
                                "--grid", "shape=[8]*2,[4, 4]", "--seeds", "0,1")
    assert code == 1, output  # `pixel` does not match, and the exit says so
    assert "Error: 4 problems in the sweep (the table above has them all):" in output
    assert "  - pixel at size=32, shape=[8]*2: NOT equivalent" in output
    assert len(table) == 4 and list(table.columns[:2]) == ["size", "shape"]
    assert set(table["same match"]) == {"yes"} and set(table["pixel match"]) == {"NO"}
    assert {"base period s", "pixel period s"} <= set(table.columns)
    assert not [c for c in table.columns if "speedup" in c]  # single runs: a ratio of two is no speedup
    assert set(table["same verdict"]) == {"single run, not judged; single run, not judged"}
    assert Image.open(tmp_path / "sweep" / "sweep.png").size[0] > 100
    assert (tmp_path / "sweep" / "sweep.md").read_text().split("|")[1].strip() == "size"
    registered = [tmp_path / "sweep" / f"sweep{exporter.suffix}" for exporter in SWEEP_EXPORTERS.values()]
    assert f"written: {', '.join(map(str, registered))}" in output  # every sweep format, through the registry


def test_invalid_grid_point_is_marked_and_the_rest_still_run(fake_repo: Path, tmp_path: Path) -> None:
    code, output, table = sweep(fake_repo, tmp_path, "--grid", "size=32,64")
    rows = table.set_index("size")
    assert rows.loc[32, "note"] == ("not run: points=3000 plus 1000 validation pixels is more than the 32x32 "
                                    "input's 1024 pixels")
    assert rows.loc[64, "same match"] == "yes" and rows.loc[64, "pixel match"] == "NO"
    assert code == 1
    assert output.endswith("Error: 2 problems in the sweep (the table above has them all):\n"
                           "  - size=32: not run: points=3000 plus 1000 validation pixels is more than the 32x32 "
                           "input's 1024 pixels\n"
                           "  - pixel at size=64: NOT equivalent\n")


def test_a_sweep_fails_on_its_candidates_not_on_the_baselines_own_ending(tmp_path: Path) -> None:
    """A race whose baseline contender breaks the invariant: in the table, but it fails nothing (as in compare)."""
    opts = race_opts(tmp_path, OURS_EULER, baseline=PKG_EULER, quick=True)
    table, _ = run_sweep(opts, {"n_classes": ["2", "3"]}, [], tmp_path / "out", FakeExecutor(race_script))
    assert list(table[f"{PKG_EULER} status"]) == ["invariant violated"] * 2
    assert problems(table, ["n_classes"], PKG_EULER) == []
    opts = race_opts(tmp_path, PKG_EULER, OURS_EULER, quick=True)
    table, _ = run_sweep(opts, {"n_classes": ["2", "3"]}, [], tmp_path / "out2", FakeExecutor(race_script))
    assert problems(table, ["n_classes"], opts.baseline) == [f"{PKG_EULER} at n_classes=2: invariant violated",
                                                             f"{PKG_EULER} at n_classes=3: invariant violated"]


def test_sweep_with_repeats_carries_the_compare_verdict_and_ci(fake_repo: Path, tmp_path: Path) -> None:
    opts = CompareOptions(baseline="base", preset="small", candidates=["same"], repo=str(fake_repo), work_dir=tmp_path / "w",
                          repeat=6, threads=1)
    executor = FakeExecutor(script({"same": Behaviour(vis_s=0.25)}))
    table, _ = run_sweep(opts, {"size": ["64", "96"]}, [], tmp_path / "out", executor)
    for verdict in table["same verdict"]:
        assert re.fullmatch(r"faster 1\.71× \[1\.\d\d, 1\.\d\d\]", verdict), verdict


def seeded(spec: RunSpec) -> ScriptedRun:
    """`pixel`: one pixel changed; `threads`: its period (2 epochs of 0.05 s + one visualisation; the baseline's
    0.6 s) SEED_RATIOS[seed] times faster, a little more so with more points."""
    seed, points = (int(spec.argv[spec.argv.index(flag) + 1]) for flag in ("--seed", "--points"))
    if spec.name == "pixel":
        return polytope_run(Behaviour(pixel=(2, 3)), spec.rep)
    if spec.name == "threads":
        return polytope_run(Behaviour(vis_s=0.6 / (SEED_RATIOS[seed] * points / 1000) - 0.1), spec.rep)
    return polytope_run(Behaviour(), spec.rep)


def test_sweep_cells_are_geometric_means_of_the_seeds_judged_speedups(fake_repo: Path, tmp_path: Path) -> None:
    """Every cell, against the compare documents the sweep wrote: gmean of the speedups the reports show,
    the lowest and highest seed as its spread; never the arithmetic mean of the ratios."""
    opts = CompareOptions(baseline="base", preset="small", candidates=["threads", "pixel"], repo=str(fake_repo),
                          work_dir=tmp_path / "w", repeat=6, threads=1, variants=0)
    table, paths = run_sweep(opts, {"points": ["1000", "1100"]}, ["0", "1"], tmp_path / "out", FakeExecutor(seeded))
    docs = [CompareDocument.load(p) for p in (tmp_path / "w").glob("runs/*/compare.json")]
    assert sorted((d.task.params["points"], d.task.params["seed"]) for d in docs) == [
        ("1000", "0"), ("1000", "1"), ("1100", "0"), ("1100", "1")]
    for _, row in table.iterrows():
        mine = [d for d in docs if d.task.params["points"] == str(row["points"])]
        shown = [ratios.speedup(c.speed["period"], d.baseline_timing["period"], c.timing["period"])
                 for d in mine for c in d.candidates if c.name == "threads"]
        assert len(shown) == 2 and None not in shown
        assert row["threads speedup"] == pytest.approx(gmean(shown))
        assert (row["threads speedup low"], row["threads speedup high"]) == pytest.approx((min(shown), max(shown)))
        assert pd.isna(row["pixel speedup"]) and row["pixel match"] == "NO"  # not equivalent: never timed
    first = table.iloc[0]
    assert first["threads speedup"] == pytest.approx(gmean([1.44, 0.59]), rel=1e-3) and first["threads speedup"] < 1
    assert first["threads period s"] > first["base period s"]  # the seconds beside it agree: slower
    md = paths["md"].read_text()
    assert "| 0.92× [0.59, 1.44] |" in md and "1.015" not in md and "1.02×" not in md
    assert "speedup: the geometric mean of the seeds' judged speedups [the lowest, the highest seed]" in md


@pytest.mark.parametrize("fmt", list(SWEEP_EXPORTERS))
def test_every_registered_sweep_exporter_resolves(fmt: str) -> None:
    assert callable(SWEEP_EXPORTERS[fmt].writer())


@pytest.mark.parametrize(
    "text, values",
    [("[100]*10,[100]*20,[200]*20", ["[100]*10", "[100]*20", "[200]*20"]), ("[64, 32],8", ["[64, 32]", "8"]), ("256", ["256"])],
)
def test_split_values_respects_brackets(text: str, values: list[str]) -> None:
    assert split_values(text) == values


@pytest.mark.parametrize("spec", ["size", "=1,2", "size=1,,2", "shape=[1,2"])
def test_bad_grid_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_grid([spec])


def test_bad_grid_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sweep", "a", "b", "--grid", "size", "--work-dir", str(tmp_path)])
    assert result.exit_code == 2 and "is not key=v1,v2" in result.output
