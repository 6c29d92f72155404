"""The executor contract, the registry behind --executor, and shipping a run folder without Ray.

The contract is the `Executor` base class: every executor (and every test
double) is one, so the driver never asks what an executor can do. The
registry finds the executors of the command line by their `from_options`.
remote.py's functions are plain Python: a real prepared run is shipped
through them here and run with the real LocalExecutor in another folder, and
must land exactly as a local run of the same spec leaves its folders.
"""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import pytest

from harness import constants as C
from harness import layout, runner
from harness.cli import main
from harness.errors import UsageProblem
from harness.executors import Executor, Outcome, RunSpec, registry, remote
from harness.executors.local import LocalExecutor
from harness.executors.pool import PoolExecutor
from harness.executors.ray import RayExecutor
from harness.plan import CompareOptions, plan_compare
from harness.rounds import run_spec

HARNESS = Path(__file__).resolve().parents[1] / "harness"


class Recorder(Executor):
    """Runs nothing itself: hands each spec to `inner` (or returns ok), noting the spec, the thread and calls."""

    name = "recorder"

    def __init__(self, inner: Executor | None = None) -> None:
        self.inner, self.specs, self.threads, self.calls = inner, [], [], []

    def run(self, spec: RunSpec) -> Outcome:
        self.specs.append(spec)
        self.threads.append(threading.get_ident())
        return self.inner.run(spec) if self.inner else Outcome("ok", 0, 0.0, 1.0, node=spec.label)

    def close(self) -> None:
        self.calls.append("close")

    def abort(self) -> None:
        self.calls.append("abort")


def bare_spec(tmp_path: Path, label: str) -> RunSpec:
    return RunSpec(label, label, "0" * 40, 0, tmp_path, ["true"], tmp_path / label, {}, 5.0)


# --------------------------------------------------------------------------- #
# The contract
# --------------------------------------------------------------------------- #


def test_an_executor_without_run_cannot_be_made() -> None:
    class NoRun(Executor):
        name = "norun"

    with pytest.raises(TypeError, match="abstract method 'run'|abstract method run"):
        NoRun()  # type: ignore[abstract]


def test_the_default_run_many_runs_one_by_one_in_order_and_tells_done_in_the_callers_thread(tmp_path: Path) -> None:
    executor, heard = Recorder(), []
    specs = [bare_spec(tmp_path, f"b{i}") for i in range(3)]
    outcomes = executor.run_many(specs, lambda i, outcome: heard.append((i, outcome.node, threading.get_ident())))
    me = threading.get_ident()
    assert [o.node for o in outcomes] == ["b0", "b1", "b2"]
    assert heard == [(0, "b0", me), (1, "b1", me), (2, "b2", me)] and executor.threads == [me] * 3


def test_a_failing_done_stops_the_runs_not_yet_started(tmp_path: Path) -> None:
    executor = Recorder()

    def done(i: int, outcome: Outcome) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        executor.run_many([bare_spec(tmp_path, f"b{i}") for i in range(3)], done)
    assert [s.label for s in executor.specs] == ["b0"]


def test_an_executor_closes_once_as_a_context_manager_and_a_pool_passes_close_and_abort_on() -> None:
    inner = Recorder()
    with PoolExecutor(inner, 2, cores=2) as pool:
        pool.abort()
    assert inner.calls == ["abort", "close"]


def test_no_executor_is_asked_what_it_can_do() -> None:
    """Every method the driver calls is on the base class: no getattr/hasattr on an executor anywhere."""
    asking = re.compile(r"\b(getattr|hasattr)\(\s*(self\.)?(executor|inner|running|pool|ex)\b")
    hits = [f"{p.relative_to(HARNESS)}:{n}" for p in sorted(HARNESS.rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), start=1) if asking.search(line)]
    assert hits == []


# --------------------------------------------------------------------------- #
# The registry and the command line
# --------------------------------------------------------------------------- #


def test_the_executors_of_the_command_line_are_found_with_their_options() -> None:
    assert registry.discover() == {"local": LocalExecutor, "ray": RayExecutor}
    assert {dest: owner for dest, (owner, _) in registry.owners().items()} == {"jobs": "local", "address": "ray"}
    for command in ("compare", "check", "sweep"):
        params = {p.name: p for p in main.get_command(None, command).params}
        choice = params["executor"].type
        assert isinstance(choice, click.Choice) and list(choice.choices) == ["local", "ray"]
        assert {"jobs", "address"} <= set(params)


def test_a_new_executor_is_found_without_editing_any_list() -> None:
    class Elsewhere(Executor):
        name, summary = "elsewhere", "a test's own machine"

        @classmethod
        def from_options(cls, settings: Mapping[str, Any], threads: int) -> Executor:
            return cls()

        def run(self, spec: RunSpec) -> Outcome:
            raise AssertionError("not run")

    try:
        assert list(registry.discover()) == ["elsewhere", "local", "ray"]
        assert isinstance(registry.make_executor("elsewhere"), Elsewhere)
    finally:
        del Elsewhere
        gc.collect()
    assert list(registry.discover()) == ["local", "ray"]


@pytest.mark.parametrize(
    "name, given, expected",
    [
        ("local", {}, {"jobs": 0}),
        ("local", {"jobs": 3}, {"jobs": 3}),
        ("ray", {}, {"address": None}),
        ("ray", {"address": "head:6379"}, {"address": "head:6379"}),
        ("local", {"address": "head:6379"},
         ("--address is an option of --executor ray (a Ray cluster; pip install 'evalharness[ray]'): "
          "use it with --executor ray")),
        ("ray", {"jobs": 2}, "--jobs is an option of --executor local (this machine): use it with --executor local"),
        ("rey", {}, "--executor 'rey': unknown (did you mean 'ray'?) (known: local, ray)"),
        ("local", {"nodes": 2}, "executor option 'nodes': no executor has it"),
    ],
)
def test_an_executors_settings_are_its_own_options(name: str, given: dict, expected: dict | str) -> None:
    if isinstance(expected, dict):
        assert registry.settings(name, given) == expected
    else:
        with pytest.raises(UsageProblem) as refused:
            registry.settings(name, given)
        assert str(refused.value) == expected


def test_local_is_a_pool_of_local_runs_sized_by_jobs() -> None:
    with registry.make_executor("local", {"jobs": 3}, threads=1) as executor:
        assert isinstance(executor, PoolExecutor) and isinstance(executor.inner, LocalExecutor)
        assert executor.jobs == 3 and executor.name == "local"


def test_without_ray_installed_the_ray_executor_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(UsageProblem) as refused:
        registry.make_executor("ray")
    assert str(refused.value) == "--executor ray needs Ray: pip install 'evalharness[ray]'"


def test_the_command_line_lists_ray_without_importing_it() -> None:
    code = ("import sys, harness.cli; from harness.executors import registry; "
            "print(sorted(registry.discover()), 'ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=HARNESS.parent).stdout
    assert out.split("\n")[0] == "['local', 'ray'] False"


# --------------------------------------------------------------------------- #
# Shipping a run folder (remote.py), without Ray
# --------------------------------------------------------------------------- #


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def unstamped(text: bytes) -> list[str]:
    """Log lines without their clock time (the trainer's asctime differs between two runs)."""
    return [re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", "", line) for line in text.decode().splitlines()]


def test_a_shipped_run_lands_as_a_local_run_leaves_its_folders(fake_repo: Path, tmp_path: Path) -> None:
    opts = CompareOptions(baseline="base", candidates=["same"], repo=str(fake_repo), work_dir=tmp_path / "work",
                          quick=True, variants=0, threads=1, preset="small")
    layout.make_work_dir(opts.work_dir)
    plan = plan_compare(opts)
    node = tmp_path / "node"
    try:
        here = runner.ready(plan, run_spec(plan, "base", 0))
        there = runner.ready(plan, run_spec(plan, "base", 1))
        with LocalExecutor() as local:
            ran_here = local.run(here)
            travelling = remote.input_files(there)
            archive = remote.archive_of(there.sandbox_dir)
            inputs = remote.store_inputs(node, {token: Path(token).read_bytes() for token in travelling})
            seen = Recorder(local)
            back = remote.run_shipped(there, archive, inputs, node, seen, "node-1")
        # it ran in the node's folder, on the node's copy of the input, and left nothing there
        assert travelling == list(plan.inputs.values()) and len(travelling) == 1  # the prepared input image
        moved = seen.specs[0]
        assert moved.cwd.is_relative_to(node) and moved.writable == (moved.sandbox_dir,)
        assert moved.sandbox_dir.is_relative_to(node) and moved.run_dir.is_relative_to(node)
        assert inputs[travelling[0]] in moved.argv and travelling[0] not in moved.argv
        driver_paths = (str(there.sandbox_dir), str(plan.run_root))
        assert not any(p in json.dumps([moved.argv, moved.env, str(moved.cwd)]) for p in driver_paths)
        assert not (there.tree_dir / "outputs").exists() and list(node.glob("run-*")) == []

        ran_there = remote.land(there, back)
        assert (ran_there.status, ran_there.node, ran_here.status) == ("ok", "node-1", "ok")
        assert files_of(there.sandbox_dir) == files_of(here.sandbox_dir)  # the outputs, byte for byte
        logs_here, logs_there = files_of(here.run_dir), files_of(there.run_dir)
        assert sorted(logs_there) == sorted(logs_here) == [C.META_FILE, C.STAMPS_FILE, C.STDERR_FILE, C.STDOUT_FILE]
        for name in (C.STDOUT_FILE, C.STDERR_FILE):
            assert unstamped(logs_there[name]) == unstamped(logs_here[name]), name
        stamps = [{k: len(v) for k, v in json.loads(logs[C.STAMPS_FILE]).items()} for logs in (logs_here, logs_there)]
        assert stamps[0] == stamps[1] and stamps[0]["stderr"] > 0

        stored_here, stored_there = runner.complete(plan, here, ran_here), runner.complete(plan, there, ran_there)
        assert stored_there.node == "node-1" and stored_there.ok and stored_there.metrics == stored_here.metrics
        assert [(a.key, a.sha256) for a in stored_there.artifacts] == [(a.key, a.sha256) for a in stored_here.artifacts]
        assert stored_here.artifacts
    finally:
        plan.release()


def test_what_a_node_sends_lands_only_inside_the_run_folder_and_sandbox(tmp_path: Path) -> None:
    box = tmp_path / "box"
    spec = RunSpec("b", "b", "0" * 40, 0, box / "src", ["true"], tmp_path / "run", {}, 5.0, sandbox_dir=box)
    sent = remote.NodeRun(Outcome("ok", 0, 1.0, 1.0, node="n"), {C.STDOUT_FILE: b"hi\n", "../escaped": b"x"},
                          {"output/a.png": b"png", "output/../../../also-escaped": b"x"})
    assert remote.land(spec, sent).node == "n"
    assert files_of(tmp_path) == {f"run/{C.STDOUT_FILE}": b"hi\n", "box/output/a.png": b"png"}


def test_a_node_sends_back_no_more_than_the_limit_and_says_what_it_kept_back(tmp_path: Path) -> None:
    run_dir, box = tmp_path / "run", tmp_path / "box"
    (box / "output").mkdir(parents=True)
    (box / "src").mkdir()
    run_dir.mkdir()
    (run_dir / C.STDERR_FILE).write_bytes(b"err\n")
    (box / "output" / "big.bin").write_bytes(b"x" * 100)
    (box / "src" / "small.txt").write_bytes(b"y" * 10)
    files, sandbox = remote.send_back(run_dir, box, limit=50)
    assert sandbox == {"src/small.txt": b"y" * 10}
    assert files[C.STDERR_FILE] == b"err\n\nevalharness: not sent back from the node (over 50 bytes): big.bin\n"
