"""Tests for harness.sweep_table: exact pivot values and the three output files."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from PIL import Image

from harness import sweep_table as st


def _rec(shape, size, branch, seed, vis, period, matched=True, status="ok"):
    """One sweep record as `evalharness sweep` emits it."""
    return {"grid": {"shape": shape, "size": size}, "branch": branch, "seed": seed,
            "visualise_s": vis, "period_s": period,
            "matched": None if branch == "main" else matched, "status": status}


def _records() -> list[dict]:
    """2 shapes x 2 sizes, baseline `main`, candidates `fast` and `broken`."""
    recs = []
    for shape, scale in (("[100]*10", 1.0), ("[100]*20", 2.0)):
        for size in (256, 512):
            k = scale * size / 256
            for seed in (0, 1):
                recs.append(_rec(shape, size, "main", seed, 1.0 * k + seed, 4.0 * k))
                recs.append(_rec(shape, size, "fast", seed, 0.5 * k, 2.0 * k + seed))
                recs.append(_rec(shape, size, "broken", seed, 0.4 * k, 1.0 * k,
                                 matched=seed == 0))
    return recs


def test_table_shape_and_columns():
    df = st.build_sweep_table(_records(), baseline="main")
    assert list(df.columns) == [
        "shape", "size",
        "main visualise s", "main period s",
        "fast visualise s", "fast period s", "fast speedup", "fast match",
        "broken visualise s", "broken period s", "broken speedup", "broken match",
    ]
    assert df.shape == (4, 12)
    assert list(zip(df["shape"], df["size"])) == [
        ("[100]*10", 256), ("[100]*10", 512), ("[100]*20", 256), ("[100]*20", 512)]


def test_table_values_are_seed_means():
    df = st.build_sweep_table(_records(), baseline="main")
    row = df.iloc[3]  # [100]*20, 512 -> k = 4
    assert row["main visualise s"] == pytest.approx(4.5)   # (4 + 5) / 2
    assert row["main period s"] == pytest.approx(16.0)
    assert row["fast period s"] == pytest.approx(8.5)      # (8 + 9) / 2
    assert row["fast speedup"] == pytest.approx(16.0 / 8.5)
    assert row["broken speedup"] == pytest.approx(4.0)
    assert list(df["fast match"]) == ["yes"] * 4
    assert list(df["broken match"]) == ["NO"] * 4


def test_baseline_first_even_if_seen_later():
    recs = [r for r in _records() if r["branch"] != "main"] + \
        [r for r in _records() if r["branch"] == "main"]
    df = st.build_sweep_table(recs, baseline="main")
    assert df.columns[2] == "main visualise s"
    assert "main speedup" not in df.columns and "main match" not in df.columns


def test_crashed_runs_excluded_from_means_and_labelled():
    recs = [
        _rec("[8]", 1, "main", 0, 1.0, 2.0),
        _rec("[8]", 1, "cand", 0, 1.0, 1.0),
        _rec("[8]", 1, "cand", 1, None, None, matched=None, status="crashed"),
        _rec("[8]", 2, "main", 0, 1.0, 2.0),
        _rec("[8]", 2, "cand", 0, None, None, matched=None, status="timeout"),
    ]
    df = st.build_sweep_table(recs, baseline="main")
    assert list(df["cand match"]) == ["crashed", "timeout"]
    assert df.loc[0, "cand period s"] == 1.0
    assert df.loc[0, "cand speedup"] == 2.0
    assert math.isnan(df.loc[1, "cand period s"])
    assert math.isnan(df.loc[1, "cand speedup"])


def test_grid_key_order_follows_records():
    recs = [{"grid": {"size": 3, "lr": 0.1}, "branch": b, "seed": 0,
             "visualise_s": 1.0, "period_s": 1.0, "matched": True, "status": "ok"}
            for b in ("base", "c")]
    df = st.build_sweep_table(recs, baseline="base")
    assert list(df.columns[:2]) == ["size", "lr"]


@pytest.mark.parametrize("shape, units", [
    ("[100]*20", 2000), ("[100]", 100), ("[64, 32]", 96), ("[64,32]*2", 192),
    (" [ 10 , 20 , ] * 3 ", 90), ([5, 5], 10),
    ("__import__('os')", None), ("[100]*x", None), ("100", None),
])
def test_hidden_units(shape, units):
    assert st.hidden_units(shape) == units


def test_write_outputs(tmp_path):
    df = st.build_sweep_table(_records(), baseline="main")
    paths = st.write_sweep_outputs(df, tmp_path / "out", stem="s1")
    assert {k: p.name for k, p in paths.items()} == {
        "csv": "s1.csv", "md": "s1.md", "png": "s1.png"}
    back = pd.read_csv(paths["csv"])
    assert back.shape == df.shape
    assert back["fast speedup"].tolist() == pytest.approx(df["fast speedup"].tolist())
    md = paths["md"].read_text()
    assert md.startswith("|") and "fast speedup" in md
    assert "2.000" in md and "1.882" in md  # 3-decimal floats (16 / 8.5)
    with Image.open(paths["png"]) as img:
        img.load()
        assert img.size[0] > 100 and img.size[1] > 100


def test_plot_series_x_is_hidden_units_split_by_size():
    df = st.build_sweep_table(_records(), baseline="main")
    xs, label = st._x_axis(df)
    assert xs == [1000, 1000, 2000, 2000] and "hidden units" in label
    series = st._plot_series(df, xs)
    labels = [s[0] for s in series]
    assert labels == ["fast size=256", "fast size=512",
                      "broken size=256", "broken size=512"]
    _, x, y = series[1]
    assert x == [1000, 2000]
    assert y == pytest.approx([8 / 4.5, 16 / 8.5])


def test_plot_without_shape_falls_back_to_order(tmp_path):
    recs = [{"grid": {"lr": lr}, "branch": b, "seed": 0, "visualise_s": 1.0,
             "period_s": p, "matched": True, "status": "ok"}
            for lr in (0.1, 0.2) for b, p in (("base", 2.0), ("c", 1.0))]
    df = st.build_sweep_table(recs, baseline="base")
    assert st._x_axis(df)[0] == [0, 1]
    paths = st.write_sweep_outputs(df, tmp_path)
    with Image.open(paths["png"]) as img:
        img.verify()
