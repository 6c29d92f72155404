"""What a run may see and touch: its environment, what it may read, and the confinement it runs under.

The environment is built from an allow-list (nothing of the caller's secrets
by default; `--pass-env NAME` adds one), with a private HOME and TMPDIR inside
the run's own sandbox folder. Confinement is the strongest level this machine
offers, decided once per compare and recorded in its document:

- `landlock`: the run may write only beneath its sandbox folder and read only
  its sandbox, the compare's inputs, its interpreter and libraries and the few
  system files a Python/torch process needs (derived from the run's own
  interpreter, see `read_paths`) — nothing of the harness's work folder, the
  store, the cache, other branches' trees, the user's repository or home; no
  TCP, no signals or processes outside itself, no capabilities; and, where
  namespaces are available (root, or unprivileged user namespaces), its own
  PID, network, IPC and mount namespaces with private /tmp, /run and
  /dev/shm (see `confine.py`, the launcher that applies it);
- `none`: environment, HOME and TMPDIR only; the run can read and write
  whatever this user can (run the harness in a container for more).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterable
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
#: What every Python/torch process reads besides its interpreter: system libraries and binaries, its own
#: /proc, CPU topology, the loader's cache, time zone, locale, user and host names.
SYSTEM_READS = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/proc", "/sys",
                "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/timezone",
                "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/host.conf", "/etc/resolv.conf",
                "/etc/gai.conf", "/etc/protocols", "/etc/services", "/etc/mime.types", "/etc/ssl",
                "/etc/ca-certificates", "/etc/alternatives", "/etc/fonts", "/etc/os-release", "/etc/locale.alias")
#: Where the runs' sandboxes live: a short path (a UNIX socket's path must stay under 108 bytes, and
#: multiprocessing puts its sockets in TMPDIR), under a folder named after this harness process only.
SCRATCH = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())


#: The reproducible-builds clock (1980-01-01, the earliest a ZIP entry can say): tools that stamp files with the
#: time honour it instead (matplotlib's PDF/PS/SVG CreationDate), so two runs of one commit write the same bytes.
SOURCE_DATE_EPOCH = "315532800"


def fixed_env(threads: int) -> dict[str, str]:
    """What a run must not vary on: threads, hash seed, unbuffered output, UTC, C locale, file timestamps."""
    return {"PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads), "MPLBACKEND": "Agg",
            "CUBLAS_WORKSPACE_CONFIG": ":4096:8", "TZ": "UTC", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}


def check_pass_env(names: list[str], threads: int, source: dict[str, str]) -> None:
    """--pass-env names must exist and must not override what the harness fixes."""
    fixed = {*fixed_env(threads), "HOME", "TMPDIR", TOKEN_VAR}
    for name in names:
        if name in fixed:
            raise UsageProblem(f"--pass-env {name}: fixed by the harness for every run")
        if name not in source:
            raise UsageProblem(f"--pass-env {name}: not set in this environment")


def child_env(threads: int, pass_env: list[str] | None = None, base: dict[str, str] | None = None,
              device: str | None = None) -> dict[str, str]:
    """The allow-listed environment of every run (HOME/TMPDIR are added per run, privately).

    On the CPU no GPU is visible (`CUDA_VISIBLE_DEVICES` empty): the device is
    chosen without a flag the script may not have, and the run key records it.
    """
    source = dict(os.environ if base is None else base)
    check_pass_env(list(pass_env or []), threads, source)
    env = {k: source[k] for k in (*PASSED_THROUGH, *(pass_env or [])) if k in source}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return {**env, **fixed_env(threads)}


def run_env(env: dict[str, str], home: Path, tmp: Path, token: str) -> dict[str, str]:
    """One run's environment: the compare's, plus its private HOME/TMPDIR and its process token."""
    return {**env, "HOME": str(home), "TMPDIR": str(tmp), TOKEN_VAR: token}


# --------------------------------------------------------------------------- #
# Sandbox folders
# --------------------------------------------------------------------------- #


def scratch_root() -> Path:
    """This harness process's folder of sandboxes (removed when it is done, or by the next harness if it died)."""
    return SCRATCH / f"evalharness-{os.getpid()}"


def new_sandbox() -> Path:
    """A fresh sandbox folder with a random name: nothing in a run's paths tells one round from another."""
    box = scratch_root() / secrets.token_hex(6)
    box.mkdir(parents=True)
    return box


def remove_stale_scratch() -> None:
    """Sandboxes left by harness processes that no longer exist (killed before they could clean up)."""
    import shutil

    for folder in SCRATCH.glob("evalharness-*"):
        pid = folder.name.removeprefix("evalharness-")
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- #
# What a run may read
# --------------------------------------------------------------------------- #


def _real(paths: Iterable[str | Path]) -> list[Path]:
    """Existing absolute paths, resolved (a rule is on what a link points to), without duplicates."""
    found = [Path(os.path.realpath(p)) for p in paths if p and Path(p).is_absolute() and Path(p).exists()]
    return list(dict.fromkeys(found))


def carve(roots: Iterable[Path], holes: Iterable[Path]) -> list[Path]:
    """The allowed roots with every forbidden path cut out: a root at or above a hole is replaced by the
    children that do not lead to it (recursively); Landlock only grants, so a hole must never be granted."""
    holes = list(holes)
    kept: list[Path] = []
    for root in roots:
        inside = [h for h in holes if h == root or root in h.parents]
        if not inside:
            kept.append(root)
        elif root not in inside and root.is_dir() and not root.is_symlink():
            kept += carve(sorted(root.iterdir()), inside)
    return kept


def interpreter_reads(facts: dict[str, object]) -> list[str]:
    """The run's interpreter, its prefixes and every folder on its sys.path (from the environment probe)."""
    paths = facts.get("paths") or {}
    if not isinstance(paths, dict):
        return []
    found = [str(paths.get(k) or "") for k in ("prefix", "base_prefix", "exec_prefix", "base_exec_prefix", "executable")]
    return found + [str(p) for p in paths.get("path") or [] if isinstance(p, str)]


def env_reads(env: dict[str, str]) -> list[str]:
    """The folders the child's PATH and LD_LIBRARY_PATH name: where it finds its programs and libraries."""
    return [p for name in ("PATH", "LD_LIBRARY_PATH") for p in env.get(name, "").split(os.pathsep) if p]


def read_paths(facts: dict[str, object], env: dict[str, str], extra: Iterable[str | Path],
               forbidden: Iterable[str | Path]) -> tuple[Path, ...]:
    """Every path a run may read: its interpreter and sys.path, `extra` (the inputs), the folders its PATH and
    LD_LIBRARY_PATH name and the system files — never anything of `forbidden` (the work folder, the user's
    repository, the harness's working folder, home): a root at or above one is carved around it, a PATH or
    system folder below one is dropped (only the interpreter and the inputs are named precisely enough to be
    trusted inside one)."""
    holes = _real(forbidden)
    named = _real([*interpreter_reads(facts), *extra])
    broad = [r for r in _real([*env_reads(env), *SYSTEM_READS]) if not any(h in r.parents for h in holes)]
    return tuple(dict.fromkeys(carve([*named, *broad], holes)))


# --------------------------------------------------------------------------- #
# The confinement in force
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Confinement:
    """The level in force for a compare, as probed on this machine."""

    level: str  # "landlock" | "none"
    description: str = ""
    confine_reads: bool = False  # reads limited to the sandbox, inputs, interpreter and system files
    isolate: bool = False  # own PID, network, IPC and mount namespaces (private /tmp, /run, /dev/shm)

    @property
    def key(self) -> str:
        """The level as recorded in every run key: what a run could see depends on it."""
        return self.level + ("+reads" if self.confine_reads else "") + ("+namespaces" if self.isolate else "")


NONE = Confinement("none", "none: private HOME/TMPDIR and an allow-listed environment only; a run can read and "
                           "write anything this user can (run the harness in a container for more)")


def launcher_options(confinement: Confinement, writable: tuple[Path, ...], readable: tuple[Path, ...],
                     parent: int) -> list[str]:
    """`confine.py`'s options: the level, what it may write and read, the file cap, the process it dies with."""
    writes = [arg for path in writable for arg in ("--write", str(path))]
    reads = [arg for path in readable for arg in ("--read", str(path))] if confinement.confine_reads else []
    flags = (["--confine-reads"] if confinement.confine_reads else []) + (["--isolate"] if confinement.isolate else [])
    return ["--level", confinement.level, *writes, *reads, *flags, "--max-file-bytes", str(MAX_FILE_BYTES),
            "--parent", str(parent)]


def launcher(confinement: Confinement, writable: tuple[Path, ...], readable: tuple[Path, ...], argv: list[str],
             report_fd: int = 0) -> list[str]:
    """The argv that confines a child of itself, then runs `argv` in it (reporting status and peak RSS on
    `report_fd`)."""
    report = ["--report-fd", str(report_fd)] if report_fd else []
    return [sys.executable, "-I", "-S", str(CONFINE_SCRIPT),
            *launcher_options(confinement, writable, readable, os.getpid()), *report, "--", *argv]


def probe(confinement: Confinement, readable: tuple[Path, ...] = ()) -> dict[str, object]:
    """Run the launcher's self-test under `confinement`: a file is planted beside the one writable folder, and
    what the test reports (can it write there, read the planted file, see other processes…) is what is in force."""
    readable = readable or tuple(_real(SYSTEM_READS))
    with tempfile.TemporaryDirectory(prefix="evalharness-probe-") as tmp:
        allowed = Path(tmp) / "allowed"
        allowed.mkdir()
        (Path(tmp) / "planted").write_text("not for runs")
        argv = launcher(confinement, (allowed,), readable, [])[:-1] + ["--probe", "--"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=allowed)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InfraError(f"cannot start the run launcher: {exc}") from exc
    if proc.returncode != 0:
        return {"level": "unavailable", "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout)


def describe(facts: dict[str, object]) -> str:
    """One line for the report: what a run can and cannot do under this level."""
    if facts.get("level") != "landlock":
        return NONE.description
    parts = ["writes only beneath the run's sandbox folder"]
    parts += ["reads confined (its sandbox, the inputs, its interpreter and system files)"] \
        if facts.get("reads_confined") else ["reads anywhere"]
    parts += ["no TCP"] if facts.get("tcp_denied") else []
    parts += ["no signals out of the run"] if facts.get("signals_scoped") else []
    if facts.get("isolated"):
        parts += ["own PID, network, IPC and mount namespaces (private /tmp, /run, /dev/shm; no network)"]
    parts += ["capabilities dropped"] if facts.get("capabilities_dropped") else ["capabilities kept"]
    return f"landlock (ABI {facts.get('abi')}): " + ", ".join(parts)


def _works(facts: dict[str, object], wanted: Confinement) -> bool:
    """The probe confirms every part of `wanted` (not only that the launcher started)."""
    if facts.get("level") != "landlock" or facts.get("writes_outside_denied") is not True:
        return False
    if wanted.confine_reads and facts.get("reads_outside_denied") is not True:
        return False
    return not wanted.isolate or all(facts.get(k) is True for k in ("own_processes_only", "no_network", "private_tmp"))


def _strongest(readable: tuple[Path, ...]) -> tuple[Confinement, dict[str, object]]:
    """Landlock with reads confined and namespaces; without namespaces when they do not work here."""
    tried: list[dict[str, object]] = []
    for wanted in (Confinement("landlock", confine_reads=True, isolate=True),
                   Confinement("landlock", confine_reads=True)):
        tried.append(facts := probe(wanted, readable))
        if _works(facts, wanted):
            return Confinement(wanted.level, describe(facts), wanted.confine_reads, wanted.isolate), tried[0]
    return NONE, tried[-1]


def choose(requested: str, readable: tuple[Path, ...] = ()) -> Confinement:
    """auto → the strongest level that really works here; `landlock` where it does not is a usage error.

    `readable`: what the runs will read (their interpreter, system files), so
    the probe is confined exactly as the runs will be.
    """
    if requested not in LEVELS:
        raise UsageProblem(f"--sandbox {requested!r}: expected one of {', '.join(LEVELS)}")
    if requested == "none":
        return NONE
    found, facts = _strongest(readable)
    if found.level == "landlock":
        if not found.isolate:
            log.warning("no namespaces here (%s): runs share /tmp and /dev/shm with the machine, and processes that "
                        "use a private /dev/shm (multiprocessing, DataLoader workers) are denied it",
                        facts.get("error", "probe failed"))
        return found
    if requested == "landlock":
        raise UsageProblem(f"--sandbox landlock: not available on this machine ({facts.get('error', 'probe failed')})")
    log.warning("no filesystem confinement available here (%s): runs can read and write anything this user can",
                facts.get("error", "Landlock probe failed"))
    return NONE
