"""End to end on the real trainer: baseline against every candidate, small preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main

pytestmark = pytest.mark.slow  # real subprocesses by the dozen: `pytest -m 'not slow'` skips them locally

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, str]:
    tmp = tmp_path_factory.mktemp("e2e")
    argv = ["compare", "baseline", "gemini", "claude", "gemini-first", "fused", "--preset", "small", "--quick",
            "--start", "warm", "--work-dir", str(tmp / "work"), "--report", str(tmp / "report.md"), "--json",
            str(tmp / "r.json")]  # warm: the cold path is the CI gate's (.ci/run), on these very candidates
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO_ROOT)  # the built-in source is baseline/ + candidates/ of the current folder
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
    return result.exit_code, json.loads((tmp / "r.json").read_text()), (tmp / "report.md").read_text()


def test_gemini_first_is_caught_and_the_others_are_equivalent(e2e: tuple[int, dict, str]) -> None:
    code, data, _ = e2e
    verdicts = {c["name"]: c for c in data["candidates"]}
    assert code == 1
    first = verdicts["gemini-first"]
    assert first["verdict"] == "NOT equivalent" and first["losses"]["first_divergent"] == 1
    assert first["diagnosis"] == "training trajectory changed: RNG stream or initialisation perturbed"
    for name in ("gemini", "claude", "fused"):
        assert verdicts[name]["equivalent"], verdicts[name]["diagnosis"]
        assert verdicts[name]["images_identical"] and verdicts[name]["losses_match"]


def test_report_names_every_candidate(e2e: tuple[int, dict, str]) -> None:
    _, data, report = e2e
    for name in ("gemini", "claude", "gemini-first", "fused"):
        assert f"## {name}" in report
    assert "RNG stream or initialisation perturbed" in report
