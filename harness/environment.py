"""The environment fingerprint stored with every run and printed in every report.

Timing numbers mean nothing without the machine and library versions they were
taken on; the child's versions are asked of the interpreter that runs the
branches (--python), which may not be the harness's own.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import InfraError, UsageProblem

DEVICES = ("auto", "cpu", "cuda")

PROBE = """
import json, os, platform, sys
from importlib import metadata
info = {"python": platform.python_version(), "implementation": sys.implementation.name}
for dist in ("torch", "numpy", "pillow"):
    try:
        info[dist] = metadata.version(dist)
    except metadata.PackageNotFoundError:
        info[dist] = "missing"
info["cuda"] = False
if os.path.exists("/dev/nvidia0") or os.path.exists("/dev/nvidiactl"):
    try:
        import torch
        info["cuda"] = torch.cuda.is_available()
        if info["cuda"]:
            info["device"] = torch.cuda.get_device_name(0)
    except Exception:
        pass
info.setdefault("device", "cpu")
info["paths"] = {"prefix": sys.prefix, "base_prefix": sys.base_prefix, "exec_prefix": sys.exec_prefix,
                 "base_exec_prefix": sys.base_exec_prefix, "executable": os.path.realpath(sys.executable),
                 "path": [p for p in sys.path if os.path.isabs(p)]}
print(json.dumps(info))
"""


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, which a container or `taskset` narrows)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """One core fewer than the machine has: the harness reads and stamps a run's output live, and an OpenMP
    team that needs every core stalls at its barriers whenever the harness or the OS takes one (on 2 cores,
    2 threads made the seed trainer's hash 10x slower while anything else ran; 1 thread was unaffected)."""
    return max(1, usable_cores() - 1)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def host_facts() -> dict[str, Any]:
    """What the harness's own process can see about the machine."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None,)
    return {"harness": __version__, "platform": platform.platform(), "cpu": cpu_model(),
            "cpu_count": os.cpu_count(), "hostname": socket.gethostname(),
            "load_average_1m": round(load[0], 2) if load[0] is not None else None}


def probe_python(python: str, env: dict[str, str]) -> dict[str, Any]:
    """Library versions as the runs will see them; an interpreter that cannot start is an infra error.

    Versions come from package metadata, and torch is imported only where a
    GPU device node exists: the probe must cost milliseconds, not the seconds
    an `import torch` takes, or it would dominate the harness's overhead.
    """
    try:
        proc = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    except OSError as exc:
        raise UsageProblem(f"--python {python} cannot be run: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"--python {python} did not answer within {exc.timeout:g}s") from None
    facts = _probe_answer(proc.stdout)
    if proc.returncode != 0 or facts is None:
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
        raise UsageProblem(f"--python {python} is not a working Python interpreter: {last[:200]}")
    return facts


def _probe_answer(stdout: str) -> dict[str, Any] | None:
    """The probe's JSON line, or None when whatever ran was not a Python running the probe."""
    lines = stdout.strip().splitlines()
    try:
        facts = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return facts if isinstance(facts, dict) and "implementation" in facts else None


def resolve_device(requested: str, child: dict[str, Any]) -> str:
    """auto → cuda where the runs' interpreter sees a GPU, else cpu; cuda without one is a usage error.

    Resolved once per compare and passed to every run, so a GPU machine never
    switches silently and the device is part of every run key.
    """
    if requested not in DEVICES:
        raise UsageProblem(f"--device {requested!r}: expected one of {', '.join(DEVICES)}")
    if requested == "cuda" and not child.get("cuda"):
        raise UsageProblem("--device cuda: the interpreter for the runs sees no CUDA device")
    if requested == "auto":
        return "cuda" if child.get("cuda") else "cpu"
    return requested


def fingerprint(python: str, env: dict[str, str], threads: int, device: str = "auto") -> tuple[dict[str, Any], dict[str, Any]]:
    """(host facts, the runs' library versions, threads and the resolved device (name of the GPU if any);
    the runs' interpreter's own paths — its prefixes and sys.path, what a run must be allowed to read).

    The paths stay out of the first dict, which the compare document records:
    they are this machine's, not a fact about the compare."""
    child = probe_python(python, env)
    resolved = resolve_device(device, child)
    facts = {f"run_{k}" if k == "python" else k: v for k, v in child.items() if k not in ("device", "paths")}
    return ({**host_facts(), **facts, "threads": threads, "device": resolved,
             "device_name": child.get("device", "cpu") if resolved == "cuda" else "cpu"}, child.get("paths") or {})
