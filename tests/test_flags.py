"""Flagged diff lines, from real git diffs of a real temporary repository.

Only code is flagged in a Python file: a comment or a docstring that names
`fork_rng` runs nothing. Whatever CPython would read as code is flagged
however it is dressed (a lone carriage return, a UTF-7 coding cookie, an
f-string, a docstring opened far above the hunk).
"""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from harness import checkout
from harness.judge.flags import scan_flags
from harness.tasks import load_task

BASE = '''"""A tiny trainer.

It has a long docstring, so that a hunk near its end
does not show where it began.
"""
import torch

def train():
    return torch.zeros(3)
'''


def repo_with(tmp_path: Path, branches: dict[str, dict[str, str]]) -> Path:
    """Branch `base` holds train.py; every other branch rewrites the files given."""
    repo = git.Repo.init(tmp_path / "repo", initial_branch="base")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "test").set_value("user", "email", "test@example.com")
    root = Path(repo.working_tree_dir)
    (root / "train.py").write_bytes(BASE.encode())
    repo.index.add(["train.py"])
    repo.index.commit("base")
    for name, files in branches.items():
        repo.git.checkout("-b", name, "base")
        for file, text in files.items():
            (root / file).write_bytes(text.encode())
        repo.git.add("-A")
        repo.index.commit(name)
    repo.git.checkout("base")
    return root


CASES = {
    "comment": (BASE.replace("def train():", "# but inside fork_rng the stream is kept\ndef train():"), []),
    "docstring": (BASE.replace("does not show", "calls torch.manual_seed(0) and does not show"), []),
    "function-docstring": (BASE.replace("def train():\n", 'def train():\n    """No set_num_threads here."""\n'), []),
    "removed-comment": (BASE.replace('"""\nimport torch', '"""\n# np.random.seed(1)\nimport torch'), []),
    "code": (BASE.replace("    return", "    torch.manual_seed(1)\n    return"), [("seeds", 9)]),
    "code-after-a-long-docstring": (BASE.replace("import torch", "import torch\ntorch.set_num_threads(1)"),
                                    [("thread counts", 7)]),
    "code-with-a-comment": (BASE.replace("    return", "    torch.manual_seed(1)  # same seed\n    return"),
                            [("seeds", 9)]),
    "string-in-code": (BASE.replace("import torch", "import torch\nimport os\nos.environ['OMP_NUM_THREADS'] = '1'"),
                       [("thread counts", 8)]),
    "f-string-statement": (BASE.replace("    return", '    f"{torch.manual_seed(1)}"\n    return'), [("seeds", 9)]),
    "lone-carriage-return": (BASE.replace("    return", "    x = 1  # note\rtorch.manual_seed(1)\n    return"),
                             [("seeds", 9)]),
    "utf-7-cookie": ("# coding: utf-7\n" + BASE + "# +AAo-torch.manual_seed(1)\n", [("seeds", 11)]),
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    branches = {name: {"train.py": text} for name, (text, _) in CASES.items()}
    branches["readme"] = {"README.md": "# Call torch.manual_seed first\n"}
    return repo_with(tmp_path_factory.mktemp("flags"), branches)


@pytest.mark.parametrize("branch", list(CASES))
def test_only_code_is_flagged(repo: Path, branch: str) -> None:
    flags = scan_flags(checkout.diff_text(repo, "base", branch))
    assert [(f.category, f.line) for f in flags] == CASES[branch][1]


def test_removed_comments_are_not_flagged_and_removed_code_is(repo: Path) -> None:
    flags = scan_flags(checkout.diff_text(repo, "removed-comment", "code"))
    assert [(f.category, f.line, f.text) for f in flags] == [("seeds", 9, "+    torch.manual_seed(1)")]
    assert [(f.category, f.text) for f in scan_flags(checkout.diff_text(repo, "code", "base"))] == [
        ("seeds", "-    torch.manual_seed(1)")]


def test_files_that_are_not_python_are_matched_as_text(repo: Path) -> None:
    flags = scan_flags(checkout.diff_text(repo, "base", "readme"))
    assert [(f.category, f.file, f.line) for f in flags] == [("seeds", "README.md", 1)]


def test_the_built_in_gemini_patch_keeps_its_code_flags_and_loses_its_comment(tmp_path: Path) -> None:
    """The seed report flagged `+ # but inside fork_rng …` (model.py:70) beside the two lines of code."""
    source = checkout.build_builtin_repo(load_task(None), tmp_path)
    flags = scan_flags(checkout.diff_text(source, "baseline", "gemini"))
    assert [(f.category, f.file, f.line) for f in flags if f.category == "RNG draws or state"] == [
        ("RNG draws or state", "polytope/model.py", 72), ("RNG draws or state", "polytope/model.py", 74)]
