"""The result cache: a second check against an unchanged baseline runs only the candidate.

Runs are counted on the FakeExecutor (it records every spec it was given);
the branches, run keys and interpreters are real.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cache import store_of
from harness.cli import main
from harness.commands.check import run_check
from harness.executors.fake import FakeExecutor
from harness.plan import CompareOptions
from scripted import Behaviour, script

PIXEL = "rendering changed: 2 pixels differ outside the polytope boundaries"


def gate(fake_repo: Path, work: Path, *candidates: str, fail_on: str = "nonequivalent", **options: object):
    """`check base CANDIDATES` on scripted runs; returns (document, the names that actually ran)."""
    opts = CompareOptions(baseline="base", preset="small", variants=0, candidates=list(candidates), repo=str(fake_repo), work_dir=work,
                          threads=1, **options)  # type: ignore[arg-type]
    executor = FakeExecutor(script({"pixel": Behaviour(pixel=(1, 1))}))
    repeat = None if fail_on == "nonequivalent" else 2
    done = run_check(opts, fail_on, repeat, {"md": work / "r.md"}, executor, environ={})
    return done.doc, [spec.label for spec in executor.calls]


def test_second_check_of_a_new_candidate_runs_only_the_candidate(fake_repo: Path, tmp_path: Path) -> None:
    _, first = gate(fake_repo, tmp_path, "same")
    doc, second = gate(fake_repo, tmp_path, "pixel")
    assert sorted(first) == ["base", "same"] and second == ["pixel"]
    assert doc.candidates[0].diagnosis == PIXEL  # judged against the restored baseline images
    assert len(store_of(tmp_path).entries()) == 3


def test_progress_shows_a_run_restored_from_the_cache_as_reused(fake_repo: Path, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="harness.rounds")
    gate(fake_repo, tmp_path, "same")
    first = [r.getMessage() for r in caplog.records if "equivalence round base " in r.getMessage()]
    caplog.clear()
    gate(fake_repo, tmp_path, "pixel")
    second = [r.getMessage() for r in caplog.records if "equivalence round base " in r.getMessage()]
    assert len(first) == len(second) == 1
    assert re.search(r"equivalence round base +ok +\d+\.\d\ds \(", first[0]), first
    assert re.search(r"equivalence round base +ok +reused \(elapsed \d+s\)$", second[0]), second  # no ETA from it


def test_a_cached_candidate_is_judged_like_a_fresh_one(fake_repo: Path, tmp_path: Path) -> None:
    fresh, _ = gate(fake_repo, tmp_path, "pixel")
    reused, ran = gate(fake_repo, tmp_path, "pixel", "same")
    assert ran == ["same"]
    assert reused.candidates[0].diagnosis == fresh.candidates[0].diagnosis == PIXEL
    assert reused.candidates[0].images == fresh.candidates[0].images


@pytest.mark.parametrize(
    "change",
    [{"overrides": ["epochs=6"]}, {"python": "wrapper"}, {"max_rss_mb": 4000.0}],
    ids=["parameter", "interpreter", "memory-cap"],
)
def test_a_changed_run_key_misses(fake_repo: Path, tmp_path: Path, change: dict) -> None:
    gate(fake_repo, tmp_path, "same")
    if change.get("python") == "wrapper":
        wrapper = tmp_path / "python-wrapper"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        wrapper.chmod(0o755)
        change = {"python": str(wrapper)}
    _, ran = gate(fake_repo, tmp_path, "pixel", **change)
    assert sorted(ran) == ["base", "pixel"]


def test_no_cache_neither_reuses_nor_stores(fake_repo: Path, tmp_path: Path) -> None:
    gate(fake_repo, tmp_path, "same")
    _, ran = gate(fake_repo, tmp_path, "pixel", cache=False)
    assert sorted(ran) == ["base", "pixel"] and len(store_of(tmp_path).entries()) == 2


def test_timed_rounds_never_reuse(fake_repo: Path, tmp_path: Path) -> None:
    gate(fake_repo, tmp_path, "same")
    _, ran = gate(fake_repo, tmp_path, "same", fail_on="slower")
    # the equivalence round reuses base and same (the twin always runs: it checks the baseline reproduces
    # itself); both timing rounds run everything fresh
    assert sorted(ran) == ["base"] * 2 + ["base.self"] * 3 + ["same"] * 2


def test_a_tampered_entry_is_dropped_and_the_run_made_again(fake_repo: Path, tmp_path: Path) -> None:
    gate(fake_repo, tmp_path, "same")
    entry = next(e for e in store_of(tmp_path).entries() if e.name == "base")
    stored = next((store_of(tmp_path).entry_dir(entry.key) / "files").rglob("*.png"))
    stored.write_bytes(stored.read_bytes() + b"tampered")
    _, ran = gate(fake_repo, tmp_path, "pixel")
    assert sorted(ran) == ["base", "pixel"]


def test_failed_runs_are_not_stored(fake_repo: Path, tmp_path: Path) -> None:
    opts = CompareOptions(baseline="base", preset="small", variants=0, candidates=["crash"], repo=str(fake_repo), work_dir=tmp_path, threads=1)
    executor = FakeExecutor(script({"crash": Behaviour(status="crashed", stderr="boom")}))
    run_check(opts, "nonequivalent", None, {"md": tmp_path / "r.md"}, executor, environ={})
    assert [e.name for e in store_of(tmp_path).entries()] == ["base"]


def test_real_runs_second_check_reuses_the_baseline(fake_repo: Path, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Through the CLI with the real tiny trainer: the baseline's second 'run' is the stored one."""
    def check(cand: str):
        argv = ["check", "base", cand, "--repo", str(fake_repo), "--work-dir", str(tmp_path / "w"),
                "--report", str(tmp_path / f"{cand}.md")]
        return CliRunner().invoke(main, argv, catch_exceptions=False)

    caplog.set_level("INFO")
    first = check("same")
    assert first.exit_code == 0 and "outputs reused from the result cache" not in caplog.text
    second = check("pixel")
    assert second.exit_code == 1 and "base: outputs reused from the result cache" in caplog.text
    rerun = [p for p in (tmp_path / "w" / "runs").glob("*/base-*/rep-000/stdout.txt")]
    assert len(rerun) == 2 and len({p.read_bytes() for p in rerun}) == 1


def test_cache_ls_and_prune(fake_repo: Path, tmp_path: Path) -> None:
    gate(fake_repo, tmp_path, "same")
    runner = CliRunner()
    listed = runner.invoke(main, ["cache", "ls", "--work-dir", str(tmp_path)])
    assert listed.exit_code == 0 and listed.output.splitlines()[0].split()[:3] == ["key", "branch", "commit"]
    assert {line.split()[1] for line in listed.output.splitlines()[2:]} == {"base", "same"}
    entry = store_of(tmp_path).entries()[0]
    old = store_of(tmp_path).entry_dir(entry.key) / "entry.json"
    os.utime(old, (old.stat().st_atime, old.stat().st_mtime - 3 * 86400))
    pruned = runner.invoke(main, ["cache", "prune", "--older-than", "2", "--work-dir", str(tmp_path)])
    assert pruned.output.strip() == "removed 1 entry" and len(store_of(tmp_path).entries()) == 1
    refused = runner.invoke(main, ["cache", "prune", "--work-dir", str(tmp_path)])
    assert refused.exit_code == 2 and "--older-than DAYS or --all" in refused.output
    emptied = runner.invoke(main, ["cache", "prune", "--all", "--work-dir", str(tmp_path)])
    assert emptied.output.strip() == "removed 1 entry"
    assert runner.invoke(main, ["cache", "ls", "--work-dir", str(tmp_path)]).output.strip() == "the result cache is empty"
