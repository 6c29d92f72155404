"""Warm start: runs forked from a server that already imported the task's modules.

Real subprocesses under the real confinement, through the real LocalExecutor:
a warm run must write exactly what a cold one writes, see only its own
descriptors, environment and folder, end with its own status, be killed at
its timeout like a cold one, and a server that cannot start must cost the
runs nothing but their speed. Which runs may start warm (never a timed one)
is checked on a real compare.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from conftest import _ring
from harness import export
from harness.commands.compare import run_compare
from harness.executors import RunSpec, reaper, sandbox
from harness.executors.local import LocalExecutor
from harness.environment import fingerprint
from harness.executors.pool import PoolExecutor
from harness.plan import CompareOptions
from harness.results import RunResult
from harness.tasks import load_task

ROOT = Path(__file__).resolve().parents[1]
MARKER = "colorsys"  # a module nothing else here imports: in sys.modules at start only when forked warm


@functools.cache
def confinement() -> tuple[sandbox.Confinement, tuple[Path, ...]]:
    """The strongest confinement here and what a run of this interpreter may read, as a compare decides them."""
    env = sandbox.child_env(1)
    _, paths = fingerprint(sys.executable, env, 1)
    reads = sandbox.read_paths({"paths": paths}, env, [], [Path.home(), ROOT])
    return sandbox.choose("auto", reads), reads


def make_spec(tmp_path: Path, name: str, argv: list[str], preload: tuple[str, ...], timeout_s: float = 60,
              source: Path | None = None, reads: tuple[Path, ...] = ()) -> RunSpec:
    """A run laid out as isolation.prepare lays it out: a sandbox under a random name, confined to it."""
    run_dir = tmp_path / name
    run_dir.mkdir(parents=True)
    box = sandbox.new_sandbox()
    src, home, tmp, out = box / "src", box / "home", box / "tmp", box / "output"
    for folder in (home, tmp, out):
        folder.mkdir(parents=True)
    shutil.copytree(source, src) if source else src.mkdir()
    token = reaper.new_token()
    env = sandbox.run_env(sandbox.child_env(1), home, tmp, token)
    level, readable = confinement()
    return RunSpec(name, name, "0" * 40, 0, src, argv, run_dir, env, timeout_s, sandbox_dir=box, writable=(box,),
                   readable=(*readable, *reads), confinement=level, token=token, preload=preload)


def script_spec(tmp_path: Path, name: str, text: str, preload: tuple[str, ...] = (MARKER,), **kw) -> RunSpec:
    spec = make_spec(tmp_path, name, [sys.executable, "./probe.py", "an-argument"], preload, **kw)
    (spec.cwd / "probe.py").write_text(text)
    return spec


@pytest.fixture
def executor():
    ex = LocalExecutor()
    yield ex
    ex.close()


PROBE = f'''\
import json, os, sys, tempfile
fds = {{}}
for fd in os.listdir("/proc/self/fd"):
    try:
        fds[fd] = os.readlink(f"/proc/self/fd/{{fd}}")
    except OSError:
        pass
try:
    open(os.path.join(os.environ["HOME"], "..", "..", "escaped.txt"), "w").write("x")
    escaped = True
except OSError:
    escaped = False
print(json.dumps({{"warm": {MARKER!r} in sys.modules, "argv": sys.argv, "path0": sys.path[0], "cwd": os.getcwd(),
                  "home": os.environ["HOME"], "tmp": tempfile.gettempdir(), "token": os.environ["{sandbox.TOKEN_VAR}"],
                  "fds": fds, "escaped": escaped, "main": __name__}}))
'''


def test_a_warm_run_sees_only_its_own_descriptors_environment_and_folder(tmp_path: Path, executor) -> None:
    mods = tmp_path / "mods"  # a preloaded module that asks for the temp folder (torch's import does): cached
    mods.mkdir()              # in the server, it must not leak into the run
    (mods / "asks_tmp.py").write_text("import tempfile\ntempfile.gettempdir()\n")
    spec = script_spec(tmp_path, "probe", PROBE, preload=(MARKER, "asks_tmp"))
    spec = RunSpec(**{**spec.__dict__, "env": {**spec.env, "PYTHONPATH": str(mods)}})
    outcome = executor.run(spec)
    seen = json.loads((spec.run_dir / "stdout.txt").read_text())
    assert (outcome.status, seen["warm"]) == ("ok", True)
    assert not (spec.sandbox_dir.parent / "escaped.txt").exists()  # denied, or written to the run's private /tmp
    assert (seen["argv"], seen["main"]) == (["./probe.py", "an-argument"], "__main__")
    assert Path(seen["path0"]) == Path(seen["cwd"]) == spec.cwd.resolve()
    assert (seen["home"], seen["tmp"], seen["token"]) == (spec.env["HOME"], spec.env["TMPDIR"], spec.token)
    listing = [fd for fd, target in seen["fds"].items() if target.endswith("/fd")]  # the listing's own
    others = {fd: target for fd, target in seen["fds"].items() if fd not in {"0", "1", "2", *listing}}
    assert others == {}, f"a warm run inherited descriptors: {others}"
    assert seen["fds"]["0"] == "/dev/null"


def test_the_same_script_started_cold_is_not_warm(tmp_path: Path, executor) -> None:
    spec = script_spec(tmp_path, "cold", PROBE, preload=())
    assert executor.run(spec).status == "ok"
    assert json.loads((spec.run_dir / "stdout.txt").read_text())["warm"] is False


@pytest.mark.parametrize(("text", "status", "code", "stderr"), [
    ("raise SystemExit(3)", "crashed", 3, ""),
    ("raise ValueError('boom')", "crashed", 1, "ValueError: boom"),
    ("import sys; sys.stdout.write('done'); sys.exit(0)", "ok", 0, ""),
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "crashed", -11, ""),
])
def test_a_warm_run_ends_with_its_own_status(tmp_path: Path, executor, text: str, status: str, code: int,
                                            stderr: str) -> None:
    spec = script_spec(tmp_path, "ending", text)
    outcome = executor.run(spec)
    assert (outcome.status, outcome.returncode) == (status, code)
    assert stderr in (spec.run_dir / "stderr.txt").read_text()


def test_a_module_run_with_dash_m_forks_warm_too(tmp_path: Path, executor) -> None:
    spec = make_spec(tmp_path, "module", [sys.executable, "-m", "probe_mod", "x"], (MARKER,))
    (spec.cwd / "probe_mod.py").write_text(f"import sys; print({MARKER!r} in sys.modules, sys.argv[1:], __name__)")
    assert executor.run(spec).status == "ok"
    assert (spec.run_dir / "stdout.txt").read_text().strip() == "True ['x'] __main__"


HANG = """\
import os, time
if os.fork() == 0:
    os.setsid()  # leaves the run's session: found by the process tree, not the group
time.sleep(120)
"""


def test_a_warm_run_past_its_timeout_is_killed_and_the_server_serves_the_next(tmp_path: Path, executor) -> None:
    hang = script_spec(tmp_path, "hang", HANG, timeout_s=2)
    assert executor.run(hang).status == "timeout"
    mine = reaper.children(os.getpid())  # this test's own children (the warm-start server): not the run's
    assert reaper.run_processes(0, hang.token, mine) == set(), "a process of the run survived"
    after = script_spec(tmp_path, "after", PROBE)
    assert executor.run(after).status == "ok"
    assert json.loads((after.run_dir / "stdout.txt").read_text())["warm"] is True


def test_a_preload_that_cannot_import_costs_only_speed(tmp_path: Path, executor,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    spec = script_spec(tmp_path, "broken", PROBE, preload=("no_such_module_here",))
    with caplog.at_level(logging.WARNING):
        outcome = executor.run(spec)
    assert outcome.status == "ok"
    assert json.loads((spec.run_dir / "stdout.txt").read_text())["warm"] is False
    assert re.search(r"warm start unavailable \(ModuleNotFoundError: No module named 'no_such_module_here'\): "
                     r"runs start cold", caplog.text)


def test_a_warm_run_of_the_real_trainer_writes_what_a_cold_run_writes(tmp_path: Path, executor) -> None:
    ring = tmp_path / "ring.png"
    _ring(48).save(ring)
    args = ["--input", str(ring), "--shape", "[8]*3", "--epochs", "2", "--seed", "7", "--points", "500",
            "--save-interval", "1", "--device", "cpu"]
    logs, images = {}, {}
    for start, preload in (("cold", ()), ("warm", load_task().preload)):
        spec = make_spec(tmp_path, start, [], preload, source=ROOT / "baseline", reads=(ring,))
        out = spec.output_dir
        spec = RunSpec(**{**spec.__dict__, "argv": [sys.executable, "./draw-poly-while-training.py", *args,
                                                    "--output-dir", str(out)]})
        assert executor.run(spec).status == "ok"
        lines = (spec.run_dir / "stdout.txt").read_text().splitlines() + \
            (spec.run_dir / "stderr.txt").read_text().splitlines()
        logs[start] = [re.sub(r"^\S+ \S+ - |\d+\.\d+s$", "", line) for line in lines]
        images[start] = {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}
    assert logs["warm"] == logs["cold"] and any("Epoch 2/2" in line for line in logs["cold"])
    assert images["warm"] == images["cold"] and len(images["cold"]) == 2


@pytest.mark.parametrize(("quick", "start", "expected"), [
    (False, "warm", {0: "cold", 1: "cold", 2: "cold"}),  # timing rounds follow: every run cold, checked or timed
    (True, "warm", {0: "warm"}),  # only correctness runs: every run warm
    (True, "cold", {0: "cold"}),
])
def test_every_run_of_a_compare_starts_the_same_way(fake_repo: Path, tmp_path: Path, quick: bool, start: str,
                                                    expected: dict[int, str]) -> None:
    """A run that could tell a checked round from a timed one ("torch" already imported) could compute honestly
    only when checked: warm start only where no run is timed."""
    opts = CompareOptions(baseline="base", candidates=["same", "rng"], preset="small", variants=0,
                          repo=str(fake_repo), work_dir=tmp_path, quick=quick, repeat=2, start=start)
    own_executor = LocalExecutor()
    try:
        done = run_compare(opts, own_executor)
    finally:
        own_executor.close()
    every = [RunResult.load(p) for p in done.run_root.glob("*/rep-*/result.json")]
    assert {r.start for r in every} == {expected[0]}
    runs = [r for r in every if r.label == "same"]
    assert {r.rep: r.start for r in runs} == expected
    same, rng = done.doc.candidates
    assert (same.equivalent, rng.verdict) == (True, "NOT equivalent")
    if expected[0] == "warm":  # forked warm: no times, and it says why
        assert (rng.speedup["period"], rng.timing["period"]) == (None, None)
        assert rng.speed["period"].reason.endswith("its one run forked warm, so no times are shown")
        assert done.doc.environment["start"] == (
            "3 of 3 runs (correctness only, their times unused) forked from a process that had imported "
            "torch, torch.optim, torch._dynamo, numpy, PIL.Image")
        report = tmp_path / "report.md"
        export.write_outputs(done.doc, {"md": report}, done.run_root)
        assert "Start of the runs: 3 of 3 runs (correctness only" in report.read_text()
    else:
        assert same.timing["period"] is not None
        assert done.doc.environment["start"] == "cold: every run in a fresh interpreter"


def test_a_server_gone_mid_compare_costs_only_speed(tmp_path: Path, executor,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    first = script_spec(tmp_path, "first", PROBE)
    assert executor.run(first).status == "ok"
    for server in executor._servers._servers.values():
        server.proc.kill()  # what an out-of-memory kill of the server would do
        server.proc.wait()
    with caplog.at_level(logging.WARNING):
        results = [executor.run(script_spec(tmp_path, name, PROBE)) for name in ("second", "third")]
    assert [r.status for r in results] == ["ok", "ok"]
    assert [json.loads((tmp_path / n / "stdout.txt").read_text())["warm"] for n in ("second", "third")] == [False] * 2
    assert caplog.text.count("warm start failed") == 1


def test_the_memory_cap_counts_the_run_not_its_launcher_or_the_server(tmp_path: Path, executor) -> None:
    """Forked, the launcher and the run both show the server's ~170 MB of torch as resident: counted twice,
    a 250 MB cap would kill a run that holds what the same script holds cold."""
    spec = script_spec(tmp_path, "capped", "import time, torch\ntime.sleep(1.5)", preload=("torch",))
    spec = RunSpec(**{**spec.__dict__, "max_rss_mb": 250.0})
    outcome = executor.run(spec)
    assert (outcome.status, outcome.start) == ("ok", "warm"), outcome.detail
    assert 100 < outcome.peak_rss_mb < 250


def test_under_jobs_a_runs_memory_is_not_its_neighbours(tmp_path: Path, executor) -> None:
    """Two runs at once, ~150 MB each, under a 250 MB cap: each is measured alone (the second used to be
    counted as an orphan of the first, as every child of the harness started after it was)."""
    hold = "import time\nblock = b'x' * (150 << 20)\ntime.sleep(2.5)\n"
    specs = [RunSpec(**{**script_spec(tmp_path, f"hold{i}", hold, preload=()).__dict__, "max_rss_mb": 250.0})
             for i in range(2)]
    outcomes = PoolExecutor(executor, 2, cores=2).run_many(specs)
    assert [(o.status, o.detail) for o in outcomes] == [("ok", "")] * 2
