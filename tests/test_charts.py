"""Every chart rendered from a real document, and what can be read off it checked through matplotlib's objects.

A reader needs at least three labelled ticks on a log axis, keys that do not
cover the data, no empty panel, failures drawn with their reason, whole-number
ticks on a whole-number grid axis, and memory apart from speed. The documents
come from compares whose runs the FakeExecutor scripts (the real pipeline
after the runs), the solver race's scripted runs, and the committed seed
compare. The PNGs are written too: a file that is not a PNG fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.commands.compare import CompareRun, run_compare
from harness.commands.sweep import run_sweep
from harness.executors.fake import FakeExecutor
from harness.export import assets, charts, compare_view, ratios, report
from harness.export import sweep as sweep_export
from harness.judge.leaderboard import build
from harness.plan import CompareOptions, resolve_config
from harness.results import CompareDocument
from scripted import Behaviour, script
from test_race_task import OURS_EULER, PKG_EULER, race_opts
from test_race_task import scripted as race_script
from test_sweep_cli import seeded

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = CompareDocument.load(REPO_ROOT / "reports" / "seed-1024.json")
PNG = b"\x89PNG"


def drawn(fig: Any) -> Any:
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def labelled_ticks(axis: Any) -> list[str]:
    """The major tick labels inside the view that carry text."""
    lo, hi = sorted(axis.get_view_interval())
    return [t.get_text() for t, v in zip(axis.get_majorticklabels(), axis.get_majorticklocs())
            if t.get_text() and lo <= v <= hi]


def assert_readable_log_axis(axis: Any, unit: str) -> None:
    texts = labelled_ticks(axis)
    assert len(texts) >= 3 and all(t.endswith(unit) for t in texts), texts
    boxes = [t.get_window_extent() for t in axis.get_majorticklabels() if t.get_text()]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), texts


def assert_keys_outside_the_data(fig: Any) -> None:
    renderer = drawn(fig)
    keys = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert keys, "no key"
    for key in keys:
        box = key.get_window_extent(renderer)
        assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes), key


def assert_no_empty_panel(fig: Any) -> None:
    for ax in fig.axes:
        assert ax.lines or ax.patches or ax.collections or ax.images, ax.get_title()


# --------------------------------------------------------------------------- #
# The speedup chart of one candidate
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def judged(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> CompareRun:
    behaviours = {"slow": Behaviour(vis_s=0.75, rss_mb=450.0), "threads": Behaviour(vis_s=0.25)}
    opts = CompareOptions(baseline="base", preset="small", candidates=["slow", "threads"], repo=str(fake_repo),
                          work_dir=tmp_path_factory.mktemp("w"), repeat=6, threads=1, variants=0)
    return run_compare(opts, FakeExecutor(script(behaviours)))


@pytest.mark.parametrize("name", ["slow", "threads", "seed:claude", "seed:gemini", "seed:fused"])
def test_speedup_chart(name: str, judged: CompareRun, tmp_path: Path) -> None:
    doc = SEED if name.startswith("seed:") else judged.doc
    cand = next(c for c in doc.candidates if c.name == name.removeprefix("seed:"))
    fig = charts.speedup_figure(cand, doc.baseline_timing, doc.settings.threshold)
    speed_ax, memory_ax = fig.axes  # memory on its own axis, below the speed axis
    assert [t.get_text() for t in memory_ax.get_yticklabels()] == ["peak_rss_mb"]
    assert "peak memory" in memory_ax.get_xlabel() and "speedup" in speed_ax.get_xlabel()
    shown = [p for p, v in cand.speed.items() if p != "peak_rss_mb"
             and (ratios.speedup(v, doc.baseline_timing.get(p), cand.timing.get(p)) is not None
                  or ratios.contradicted(v, doc.baseline_timing.get(p), cand.timing.get(p)))]
    assert [t.get_text() for t in speed_ax.get_yticklabels()] == shown
    drawn(fig)
    for ax in fig.axes:
        assert_readable_log_axis(ax.xaxis, "×")
    assert_keys_outside_the_data(fig)
    assert [t.get_text() for t in fig.legends[0].get_texts()][:3] == [
        "faster / lower (significant)", "slower / higher (significant)", "no significant difference, or inconclusive"]
    target = charts.speedup_chart(cand, doc.baseline_timing, doc.settings.threshold, tmp_path / "c.png")
    assert target.read_bytes()[:4] == PNG


def test_a_withheld_speedup_is_a_row_with_the_reason_not_a_point() -> None:
    fused = next(c for c in SEED.candidates if c.name == "fused")  # its training epoch: paired 1.0x, medians apart
    speed_ax = charts.speedup_figure(fused, SEED.baseline_timing, SEED.settings.threshold).axes[0]
    assert [t.get_text() for t in speed_ax.get_yticklabels()] == ["train_epoch", "visualise", "period", "wall"]
    notes = [t.get_text() for t in speed_ax.texts]
    assert notes == [f"no speedup shown: {ratios.DISAGREE}"]
    assert len(speed_ax.lines) == 1 + 3 * 3  # the 1× line; visualise, period and wall: a point and two caps each


@pytest.mark.parametrize(
    "vmin, vmax, ticks",
    [(0.55, 1.45, [0.6, 0.8, 1.0, 1.2, 1.4]), (0.95, 1.05, [0.96, 0.98, 1.0, 1.02, 1.04]),
     (0.1, 10, [0.1, 1.0, 10.0]), (0.4, 4.5, [0.5, 1.0, 2.0]), (3, 12.5, [4.0, 6.0, 8.0, 10.0, 12.0])],
)
def test_nice_log_ticks(vmin: float, vmax: float, ticks: list[float]) -> None:
    assert charts.nice_log_ticks(vmin, vmax) == pytest.approx(ticks)


# --------------------------------------------------------------------------- #
# The leaderboard
# --------------------------------------------------------------------------- #


def test_leaderboard_chart_of_the_seed_compare(tmp_path: Path) -> None:
    lb = build(SEED)  # run with the built-in example's agents
    fig = charts.leaderboard_figure(lb)
    shares, speeds = fig.axes
    assert_no_empty_panel(fig)
    drawn(fig)
    assert_readable_log_axis(speeds.xaxis, "×")
    assert_keys_outside_the_data(fig)
    keys = [t.get_text() for t in shares.get_legend().get_texts()]
    assert "fast_1.0: speedup > 1.0×" in keys and "sig_fast_1.0: CI above 1.0×" in keys
    assert ">1.0×: 100% / 100%" in [t.get_text() for t in shares.texts]  # fused: both measures, written out
    assert charts.leaderboard_chart(lb, tmp_path / "lb.png").read_bytes()[:4] == PNG


def test_a_quick_leaderboard_has_one_panel_and_says_why(fake_repo: Path, tmp_path: Path) -> None:
    lines = [{"agent": "a", "attempt": 1, "ref": "same"}, {"agent": "a", "attempt": 2, "ref": "pixel"},
             {"agent": "b", "attempt": 1, "ref": "slow"}]
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps(line) + "\n" for line in lines))
    opts = CompareOptions(baseline="base", candidates=[], preset="small", repo=str(fake_repo), work_dir=tmp_path / "w",
                          quick=True, predictions=preds, threads=1, variants=0)
    done = run_compare(opts, FakeExecutor(script({"pixel": Behaviour(pixel=(2, 3))})))
    fig = charts.leaderboard_figure(build(done.doc))
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "correct (--quick: speed not judged)"
    assert_no_empty_panel(fig)
    assert_keys_outside_the_data(fig)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["equivalent"]


# --------------------------------------------------------------------------- #
# Sweeps and the race
# --------------------------------------------------------------------------- #


def test_race_plot_draws_failures_with_their_reason_and_whole_classes(tmp_path: Path) -> None:
    opts = race_opts(tmp_path, OURS_EULER, PKG_EULER, quick=True)
    grid = {"n_train": ["64", "256"], "n_classes": ["2", "3", "4"]}
    table, paths = run_sweep(opts, grid, [], tmp_path / "out", FakeExecutor(race_script))
    fig = sweep_export.figure(table, resolve_config(opts).task, list(grid), judged=False)
    ax, strip = fig.axes
    assert [t.get_text() for t in strip.get_yticklabels()] == ["no value: invariant violated"]
    assert len(strip.lines) == 2 * 3  # the package's euler: every n_train × n_classes, none dropped
    assert labelled_ticks(ax.xaxis) == ["2", "3", "4"] and ax.get_xlabel() == "number of classes"
    drawn(fig)
    assert_readable_log_axis(ax.yaxis, " s")
    assert_keys_outside_the_data(fig)
    keys = [t.get_text() for t in strip.get_legend().get_texts()]
    assert keys == ["race:impl=package,solver=adaptive", OURS_EULER, PKG_EULER, "n_train=64", "n_train=256"]
    assert "single run, not judged" in strip.get_title()
    assert paths["png"].read_bytes()[:4] == PNG


@pytest.fixture(scope="module")
def seeded_sweep(fake_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Path], Path]:
    work = tmp_path_factory.mktemp("sweep")
    opts = CompareOptions(baseline="base", preset="small", candidates=["threads", "pixel"], repo=str(fake_repo),
                          work_dir=work / "w", repeat=6, threads=1, variants=0)
    table, paths = run_sweep(opts, {"points": ["1000", "2000"]}, ["0", "1"], work / "out", FakeExecutor(seeded))
    return table, paths, work / "w"


def test_sweep_plot_shows_geometric_means_with_their_spread(seeded_sweep: tuple, fake_repo: Path) -> None:
    table, paths, _ = seeded_sweep
    opts = CompareOptions(baseline="base", preset="small", candidates=["threads"], repo=str(fake_repo),
                          work_dir=seeded_sweep[2])
    fig = sweep_export.figure(table, resolve_config(opts).task, ["points"])
    ax, strip = fig.axes
    assert [t.get_text() for t in strip.get_yticklabels()] == ["no value: not equivalent"]  # pixel: no speedup
    assert [round(y, 4) for y in ax.lines[0].get_ydata()] == [round(v, 4) for v in table["threads speedup"]]
    assert ax.collections, "no spread drawn"
    drawn(fig)
    assert_readable_log_axis(ax.yaxis, "×")
    assert_keys_outside_the_data(fig)
    assert paths["png"].read_bytes()[:4] == PNG


def test_heatmap_key_is_drawn_where_the_heatmap_is_shown(fake_repo: Path, tmp_path: Path) -> None:
    opts = CompareOptions(baseline="base", preset="small", candidates=["pixel"], repo=str(fake_repo),
                          work_dir=tmp_path / "w", quick=True, threads=1, variants=0)
    done = run_compare(opts, FakeExecutor(script({"pixel": Behaviour(pixel=(2, 3))})))
    out = tmp_path / "r.md"
    report.write_md(done.doc, out, done.run_root)
    text = out.read_text()
    assert f"{compare_view.HEATMAP_WORDS} ![heatmap key](r_files/heatmap-key.png)" in text
    assert (assets.asset_dir(out) / "heatmap-key.png").read_bytes()[:4] == PNG
    fig = charts.heatmap_key_figure()
    assert [ax.get_title() for ax in fig.axes] == ["unchanged pixel:\nthe baseline, faded",
                                                  "differing pixel: magenta,\nbrighter where the difference is larger"]
    assert all(ax.images for ax in fig.axes)
