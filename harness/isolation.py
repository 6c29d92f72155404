"""Everything one run gets that no other run shares, set up just before it starts.

- a fresh run folder (whatever an interrupted attempt left is removed), where
  the harness alone writes the run's logs and results;
- a sandbox, the only place the run may write (under confinement), under a
  short random name in /tmp (a UNIX socket path must stay under 108 bytes;
  nothing in it tells the round): a fresh copy of its commit's tree (checked
  against the manifest taken when the compare exported it), its output folder,
  and a private HOME and TMPDIR;
- what it may read besides (its inputs, its interpreter, system files), and
  the compare's confinement;
- an environment from the allow-list, plus a token that marks its processes.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness import constants as C
from harness import trees
from harness.errors import InfraError
from harness.executors import RunSpec, reaper, sandbox

if TYPE_CHECKING:
    from harness.plan import Plan

log = logging.getLogger(__name__)


def fresh_run_dir(run_dir: Path) -> None:
    """An empty run folder: no result means not done, so nothing of an earlier attempt is kept."""
    trees.remove(run_dir)
    run_dir.mkdir(parents=True)


def fresh_source(plan: Plan, spec: RunSpec, dest: Path) -> None:
    """Copy the commit's pristine tree; if it no longer matches its manifest, export it again first."""
    tree, expected = plan.checkout_of(spec.label).path, plan.manifests[spec.sha]
    if trees.copy_verified(tree, dest, expected):
        return
    log.warning("the exported tree of %s changed since the compare started; exporting it again", spec.sha[:12])
    plan.manifests[spec.sha] = trees.materialise(plan.source, spec.sha, tree, plan.running.python, plan.env)
    if not trees.copy_verified(tree, dest, plan.manifests[spec.sha]):
        raise InfraError(f"cannot make a clean copy of commit {spec.sha[:12]} in {dest}")


def named_paths(params: dict[str, str]) -> tuple[Path, ...]:
    """Files or folders a parameter names by absolute path (a dataset the user points at): declared inputs,
    so the run may read them."""
    return tuple(Path(v) for v in params.values() if v.startswith("/") and Path(v).exists())


def declared_inputs(plan: Plan, label: str) -> tuple[Path, ...]:
    """What a run may read besides its sandbox and the plan's read list: the prepared inputs, the task's copied
    folder, and what its parameters name by absolute path."""
    folders = (plan.run_root / C.INPUTS_DIR, plan.task_copy)
    return (*(p for p in folders if p is not None and p.is_dir()), *named_paths(plan.config_of(label).params))


#: Stands for the run's output folder in a rendered command until the run's sandbox exists.
OUTPUT_PLACEHOLDER = "{output_dir}"


def prepare(plan: Plan, spec: RunSpec) -> RunSpec:
    """The spec bound to its own fresh sandbox (tree, output, HOME, TMPDIR) under a random name: its working
    folder, the output path in its argv, its HOME/TMPDIR and process token — the only fields known this late."""
    spec = spec.origin or spec
    fresh_run_dir(spec.run_dir)
    box = sandbox.new_sandbox()
    for folder in ("output", "home", "tmp"):
        (box / folder).mkdir()
    fresh_source(plan, spec, box / "src")
    token = reaper.new_token()
    env = sandbox.run_env(spec.env, box / "home", box / "tmp", token)
    argv = [arg.replace(OUTPUT_PLACEHOLDER, str(box / "output")) for arg in spec.argv]
    return replace(spec, cwd=box / "src", argv=argv, env=env, token=token, sandbox_dir=box, writable=(box,),
                   origin=spec)
