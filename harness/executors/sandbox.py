"""What a run may see and touch: its environment and the confinement it runs under.

The environment is built from an allow-list (nothing of the caller's secrets
by default; `--pass-env NAME` adds one), with a private HOME and TMPDIR inside
the run's own sandbox folder. Confinement is the strongest level this machine
offers, decided once per compare and recorded in its document:

- `landlock`: the run may write only beneath its sandbox folder, may not
  open TCP connections, signal or reach processes outside itself, and runs
  without capabilities (see `confine.py`, the launcher that applies it);
- `none`: environment, HOME and TMPDIR only; the run can write whatever this
  user can (run the harness in a container for more).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError, UsageProblem

log = logging.getLogger(__name__)

LEVELS = ("auto", "landlock", "none")
CONFINE_SCRIPT = Path(__file__).resolve().parent / "confine.py"
#: Variables a run may inherit from the caller; everything else must be named with --pass-env.
PASSED_THROUGH = ("PATH", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "CUDA_HOME")
TOKEN_VAR = "EVALHARNESS_RUN_TOKEN"
#: A cap on any single file a run writes (RLIMIT_FSIZE): a full disk is not a verdict.
MAX_FILE_BYTES = 4 << 30


def fixed_env(threads: int) -> dict[str, str]:
    """What a run must not vary on: threads, hash seed, unbuffered output, UTC, C locale."""
    return {"PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads), "MPLBACKEND": "Agg",
            "CUBLAS_WORKSPACE_CONFIG": ":4096:8", "TZ": "UTC", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def check_pass_env(names: list[str], threads: int, source: dict[str, str]) -> None:
    """--pass-env names must exist and must not override what the harness fixes."""
    fixed = {*fixed_env(threads), "HOME", "TMPDIR", TOKEN_VAR}
    for name in names:
        if name in fixed:
            raise UsageProblem(f"--pass-env {name}: fixed by the harness for every run")
        if name not in source:
            raise UsageProblem(f"--pass-env {name}: not set in this environment")


def child_env(threads: int, pass_env: list[str] | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment of every run (HOME/TMPDIR are added per run, privately)."""
    source = dict(os.environ if base is None else base)
    check_pass_env(list(pass_env or []), threads, source)
    env = {k: source[k] for k in (*PASSED_THROUGH, *(pass_env or [])) if k in source}
    return {**env, **fixed_env(threads)}


def run_env(env: dict[str, str], home: Path, tmp: Path, token: str) -> dict[str, str]:
    """One run's environment: the compare's, plus its private HOME/TMPDIR and its process token."""
    return {**env, "HOME": str(home), "TMPDIR": str(tmp), TOKEN_VAR: token}


@dataclass(frozen=True)
class Confinement:
    """The level in force for a compare, as probed on this machine."""

    level: str
    description: str


def launcher_options(level: str, writable: tuple[Path, ...], parent: int) -> list[str]:
    """`confine.py`'s options: the level, the writable folders, the file cap, the process it must die with."""
    writes = [arg for path in writable for arg in ("--write", str(path))]
    return ["--level", level, *writes, "--max-file-bytes", str(MAX_FILE_BYTES), "--parent", str(parent)]


def launcher(level: str, writable: tuple[Path, ...], argv: list[str], report_fd: int = 0) -> list[str]:
    """The argv that confines itself, then runs `argv` (reporting its status and peak RSS on `report_fd`)."""
    report = ["--report-fd", str(report_fd)] if report_fd else []
    return [sys.executable, "-I", "-S", str(CONFINE_SCRIPT), *launcher_options(level, writable, os.getpid()),
            *report, "--", *argv]


def probe(level: str) -> dict[str, object]:
    """Run the launcher's self-test under `level` in a scratch folder; what it reports is what is in force."""
    with tempfile.TemporaryDirectory(prefix="evalharness-probe-") as tmp:
        allowed = Path(tmp) / "allowed"
        allowed.mkdir()
        argv = launcher(level, (allowed,), [])[:-1] + ["--probe"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InfraError(f"cannot start the run launcher: {exc}") from exc
    if proc.returncode != 0:
        return {"level": "unavailable", "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout)


def describe(facts: dict[str, object]) -> str:
    """One line for the report: what a run can and cannot do under this level."""
    if facts.get("level") != "landlock":
        return ("none: private HOME/TMPDIR and an allow-listed environment only; a run can write anything "
                "this user can (run the harness in a container for more)")
    parts = ["writes only beneath the run's sandbox folder"]
    parts += ["no TCP"] if facts.get("tcp_denied") else []
    parts += ["no signals out of the run"] if facts.get("signals_scoped") else []
    parts += ["capabilities dropped"] if facts.get("capabilities_dropped") else ["capabilities kept"]
    return f"landlock (ABI {facts.get('abi')}): " + ", ".join(parts)


def choose(requested: str) -> Confinement:
    """auto → the strongest level that really works here; `landlock` where it does not is a usage error."""
    if requested not in LEVELS:
        raise UsageProblem(f"--sandbox {requested!r}: expected one of {', '.join(LEVELS)}")
    if requested == "none":
        return Confinement("none", describe({"level": "none"}))
    facts = probe("landlock")
    works = facts.get("level") == "landlock" and facts.get("writes_outside_denied") is True
    if works:
        return Confinement("landlock", describe(facts))
    if requested == "landlock":
        raise UsageProblem(f"--sandbox landlock: not available on this machine ({facts.get('error', 'probe failed')})")
    log.warning("no filesystem confinement available here (%s): runs can write anything this user can",
                facts.get("error", "Landlock probe failed"))
    return Confinement("none", describe({"level": "none"}))
