"""The generic harness knows no task words: those live in the task's own folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "harness"
TASK_WORDS = ("save_interval", "Visualization", "polytope", '"shape"')


def generic_modules() -> list[Path]:
    return [p for p in sorted(HARNESS.rglob("*.py")) if "tasks" not in p.relative_to(HARNESS).parts[:1]
            or p.parent == HARNESS / "tasks"]


@pytest.mark.parametrize("word", TASK_WORDS)
def test_no_task_word_outside_the_tasks_folders(word: str) -> None:
    hits = [f"{p.relative_to(HARNESS)}:{n}" for p in generic_modules()
            for n, line in enumerate(p.read_text().splitlines(), start=1) if word in line]
    assert not hits, f"{word!r} in generic code: {hits}"


def test_the_generic_modules_are_really_scanned() -> None:
    names = {p.relative_to(HARNESS).as_posix() for p in generic_modules()}
    assert {"collect.py", "judge/equivalence.py", "rounds.py", "tasks/__init__.py", "tasks/base.py"} <= names
    assert not any(re.match(r"tasks/polytope/", n) for n in names)
