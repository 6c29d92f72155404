"""A user's own repository, judged from a task TOML alone, under the full confinement.

The repository (tests/plain_trainer.py) is what the harness was not written
for: print() logs without timestamps, an eval line and a train line at the
same step, sampled text, a model.pt written at the end, and a DataLoader with
two workers (multiprocessing: semaphores and shared memory in /dev/shm, UNIX
sockets in TMPDIR). Each branch is one kind of change; every verdict is
asserted exactly, in --quick and in a timed compare, and again with the task
file `evalharness init` proposes for the repository.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.commands.compare import run_compare
from harness.executors.sandbox import choose
from harness.judge.verdicts import exit_code
from harness.plan import CompareOptions
from harness.tasks import load_task, render_command, resolve
from plain_trainer import SCRIPT, TASK_TOML, VARIANTS, variant
pytestmark = pytest.mark.slow  # real subprocesses by the dozen: `pytest -m 'not slow'` skips them locally

QUICK = "equivalent, speed not judged (one run each)"
IDENTICAL = "outputs identical to the baseline"
#: branch → (verdict, the diagnosis's start) of a --quick compare
EXPECTED = {
    "comment": (QUICK, IDENTICAL),
    "faster": (QUICK, IDENTICAL),
    "slower": (QUICK, IDENTICAL),
    "rng": ("NOT equivalent", "logged metrics diverge from step 10 (max difference "),
    "samples": ("NOT equivalent", "printed text 'sample' differs from line 1: baseline '"),
    "model": ("NOT equivalent", "1 artifact(s) differ: model.pt (bytes differ from offset "),
    "crash": ("crashed", "crashed: RuntimeError: CUDA out of memory"),
}


@pytest.fixture(scope="module")
def own_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`main` holds train.py; one branch per kind of change."""
    path = tmp_path_factory.mktemp("charlm")
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "test").set_value("user", "email", "test@example.com")
    (path / "train.py").write_text(SCRIPT)
    repo.index.add(["train.py"])
    repo.index.commit("a tiny character model")
    for name in VARIANTS:
        repo.git.checkout("-b", name, "main")
        (path / "train.py").write_text(variant(name))
        repo.index.add(["train.py"])
        repo.index.commit(name)
    repo.git.checkout("main")
    return path


@pytest.fixture(scope="module")
def task_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("task") / "task.toml"
    path.write_text(TASK_TOML)
    return path


@pytest.fixture(scope="module", autouse=True)
def full_confinement() -> None:
    found = choose("auto")
    assert found.level == "landlock" and found.confine_reads and found.isolate, found.description


def verdicts_of(doc) -> dict[str, tuple[str, str]]:
    return {c.name: (c.verdict, c.diagnosis) for c in doc.candidates}


def assert_expected(found: dict[str, tuple[str, str]]) -> None:
    for name, (verdict, start) in EXPECTED.items():
        assert found[name][0] == verdict and found[name][1].startswith(start), (name, found[name])


def test_every_kind_of_change_gets_its_verdict_from_a_toml_alone(own_repo: Path, task_file: Path,
                                                                 tmp_path: Path) -> None:
    opts = CompareOptions(baseline="main", candidates=list(EXPECTED), repo=str(own_repo), task=str(task_file),
                          work_dir=tmp_path / "work", quick=True, variants=0, threads=1, start="warm")
    doc = run_compare(opts).doc
    assert doc.environment["start"].startswith("8 of 8 runs")  # DataLoader workers fork from a forked run too
    assert_expected(verdicts_of(doc))
    assert exit_code(doc.candidates) == 1
    samples = next(c for c in doc.candidates if c.name == "samples")
    assert samples.losses_match and samples.images_identical and not samples.texts[0].identical
    model = next(c for c in doc.candidates if c.name == "model")
    assert model.losses_match and [t.identical for t in model.texts] == [True] and not model.images[0].image


def test_a_timed_compare_calls_the_faster_branch_faster(own_repo: Path, task_file: Path, tmp_path: Path) -> None:
    """Timed on the built-in phases alone (first to last metric line, time per step): no hooks."""
    opts = CompareOptions(baseline="main", candidates=["faster"], repo=str(own_repo), task=str(task_file),
                          work_dir=tmp_path / "work", repeat=5, variants=0, threads=1)
    doc = run_compare(opts).doc
    assert verdicts_of(doc)["faster"] == ("equivalent, faster", IDENTICAL)
    faster = doc.candidates[0]
    assert doc.task.primary_phase == "span" and faster.speed["step"].verdict == "faster"
    assert faster.timing_rounds == 5 and exit_code(doc.candidates) == 0


def test_init_proposes_a_task_that_gives_the_same_verdicts(own_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "proposed.toml"
    result = CliRunner().invoke(main, ["init", "--repo", str(own_repo), "--ref", "main", "--out", str(out),
                                       "--work-dir", str(tmp_path / "work"), "--", "python", "train.py"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert re.search(r'^glob = "model\.pt"$', text, re.MULTILINE) and "[log.text]" in text, text
    opts = CompareOptions(baseline="main", candidates=list(EXPECTED), repo=str(own_repo), task=str(out),
                          work_dir=tmp_path / "work", quick=True, variants=0, threads=1, start="warm")
    assert_expected(verdicts_of(run_compare(opts).doc))


# --------------------------------------------------------------------------- #
# The seed's own script: its command line verbatim, nothing added
# --------------------------------------------------------------------------- #

SEED_COMMAND = ("python3 ./draw-poly-while-training.py --input ./centered_ring.png --shape [100]*20 --epochs 30 "
                "--seed 12345678 --points 5050 --save-interval 10")


def test_the_builtin_task_runs_the_seeds_command_line_verbatim() -> None:
    """The blog post's command, flag for flag: no --device, no --output-dir (the device is chosen by the
    environment, the images found where the script writes them)."""
    config = resolve(load_task(None), "seed", [])
    assert shlex.join(render_command(config.task, {**config.params, "python": "python3"})) == shlex.join(
        shlex.split(SEED_COMMAND))


def test_a_script_with_exactly_the_seeds_flags_runs_through_the_builtin_task(fake_repo: Path, tmp_path: Path) -> None:
    """tests/fake_trainer.py parses exactly the seed's flags (argparse refuses any other) and writes into
    ./outputs by default, as the seed's script does."""
    opts = CompareOptions(baseline="base", candidates=["same", "rng"], repo=str(fake_repo), work_dir=tmp_path,
                          preset="small", quick=True, variants=0, threads=1)
    doc = run_compare(opts).doc
    assert verdicts_of(doc) == {"same": (QUICK, IDENTICAL), "rng": (
        "NOT equivalent", "training trajectory changed: RNG stream or initialisation perturbed")}
    for meta in tmp_path.glob("runs/*/*/rep-000/meta.json"):
        seen = json.loads(meta.read_text())
        assert "--device" not in seen["command"] and "--output-dir" not in seen["command"]
        assert seen["env"]["CUDA_VISIBLE_DEVICES"] == ""  # the CPU chosen without a flag; in the run key too
        assert seen["run_key"]["env"]["CUDA_VISIBLE_DEVICES"] == ""


WRAPPER = """\
import runpy, sys
print("wrapped by the task's helper", flush=True)
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


TEXT_ONLY_TOML = """
# No metric line, no file: every printed loss and sample compared as text (pytorch/examples' style of log).
name = "charlm-text"
command = ["{python}", "train.py"]
preload = ["torch"]
[log.text]
train = '^step \\d+: train loss (?P<text>.*)$'
sample = '^sample: (?P<text>.*)$'
[judge]
phases = []
"""


def test_a_task_of_printed_text_alone_judges_by_it(own_repo: Path, tmp_path: Path) -> None:
    task = tmp_path / "text.toml"
    task.write_text(TEXT_ONLY_TOML)
    opts = CompareOptions(baseline="main", candidates=["comment", "rng", "samples", "model"], repo=str(own_repo),
                          task=str(task), work_dir=tmp_path / "work", quick=True, variants=0, threads=1, start="warm")
    found = verdicts_of(run_compare(opts).doc)
    assert found["comment"] == (QUICK, IDENTICAL), found
    assert found["model"] == (QUICK, IDENTICAL)  # model.pt: not compared
    assert found["rng"][0] == "NOT equivalent" and found["rng"][1].startswith("printed text 'train' differs from line 1")
    assert found["rng"][1].endswith(" (also 'sample')")
    assert found["samples"][0] == "NOT equivalent" and found["samples"][1].startswith("printed text 'sample' differs")


def test_a_helper_beside_the_task_file_runs_through_task_dir(own_repo: Path, tmp_path: Path) -> None:
    """{task_dir}: the task file's folder, copied for the runs (they never read the user's folder itself)."""
    folder = tmp_path / "my-task"
    folder.mkdir()
    (folder / "wrap.py").write_text(WRAPPER)
    toml = TASK_TOML.replace('command = ["{python}", "train.py",', 'command = ["{python}", "{task_dir}/wrap.py",')
    (folder / "task.toml").write_text(toml)
    opts = CompareOptions(baseline="main", candidates=["comment", "samples"], repo=str(own_repo), task=str(folder),
                          work_dir=tmp_path / "work", quick=True, variants=0, threads=1, start="warm")
    doc = run_compare(opts).doc
    assert verdicts_of(doc)["comment"] == (QUICK, IDENTICAL)
    assert verdicts_of(doc)["samples"][0] == "NOT equivalent"
    log = next((tmp_path / "work").glob("runs/*/comment-*/rep-000/stdout.txt")).read_text()
    assert log.startswith("wrapped by the task's helper")
