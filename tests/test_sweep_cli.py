"""`evalharness sweep` over a real temporary repository: table shape and outputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from harness.cli import main
from harness.cmd_sweep import parse_grid, split_values


def test_sweep_writes_one_row_per_grid_point(fake_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    argv = ["sweep", "base", "same", "pixel", "--repo", str(fake_repo), "--work-dir", str(tmp_path / "w"),
            "--grid", "size=32,48", "--grid", "shape=[8]*2,[4, 4]", "--seeds", "0,1", "--out", str(out)]
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == 1, result.output  # `pixel` does not match
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 4 and list(table.columns[:2]) == ["size", "shape"]
    assert set(table["same match"]) == {"yes"} and set(table["pixel match"]) == {"NO"}
    assert {"base period s", "same speedup", "pixel visualise s"} <= set(table.columns)
    assert Image.open(out / "sweep.png").size[0] > 100
    assert (out / "sweep.md").read_text().split("|")[1].strip() == "size"


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
