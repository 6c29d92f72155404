"""Shared fixtures: a real temporary git repository of a tiny trainer, with branches."""

from __future__ import annotations

from pathlib import Path

import git
import numpy as np
import pytest
from PIL import Image

from fake_trainer import SCRIPT, VARIANTS, variant

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT_NAME = "draw-poly-while-training.py"


def _ring(size: int) -> Image.Image:
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    r = np.hypot(xx, yy)
    return Image.fromarray(np.where((r > 0.25) & (r < 0.35), 0, 255).astype(np.uint8))


def _commit(repo: git.Repo, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        Path(repo.working_tree_dir, name).write_text(text)
    repo.index.add(list(files))
    repo.index.commit(message)


def trainer_repo(path: Path, branches: dict[str, str]) -> git.Repo:
    """A real git repository: `base` holds the tiny trainer and a ring, then one branch per script given."""
    repo = git.Repo.init(path, initial_branch="base")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "test").set_value("user", "email", "test@example.com")
    _ring(32).save(path / "centered_ring.png")
    repo.index.add(["centered_ring.png"])
    _commit(repo, {SCRIPT_NAME: SCRIPT}, "tiny trainer")
    for name, script in branches.items():
        repo.git.checkout("-b", name, "base")
        _commit(repo, {SCRIPT_NAME: script}, f"branch {name}")
    repo.git.checkout("base")
    return repo


@pytest.fixture(scope="session")
def fake_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Branch `base` (tagged v1) plus one branch per fake_trainer variant; HEAD left on `base`."""
    path = tmp_path_factory.mktemp("fake-trainer")
    repo = trainer_repo(path, {name: variant(name) for name in VARIANTS})
    repo.create_tag("v1", "base")
    return path
