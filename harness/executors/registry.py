"""Which executors `--executor` offers, the options each adds, and how the chosen one is built.

asv's discovery: every module of this package is imported (but the two that
run as plain scripts by path, the confining launcher and the warm-start
server), and every subclass of `Executor` that defines `from_options` is an
executor of the command line,
under its `name`, with its `options`. A new executor is one module; no list
here names it. Modules stay cheap to import (an optional library such as Ray
is imported only when its executor is built), so building the command line
costs no optional import.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from typing import Any

import harness.executors as package
from harness.errors import UsageProblem, did_you_mean
from harness.executors import Executor, Option, sandbox, warm

DEFAULT = "local"
#: Modules run as scripts by path (they import their siblings as top-level modules): never imported here.
SCRIPTS = frozenset({sandbox.CONFINE_SCRIPT.stem, warm.ZYGOTE_SCRIPT.stem})


def _subclasses(cls: type[Executor]) -> Iterator[type[Executor]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def discover() -> dict[str, type[Executor]]:
    """name → class of every executor of the command line, in name order (importing this package's modules)."""
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in SCRIPTS:
            importlib.import_module(f"{package.__name__}.{module.name}")
    found: dict[str, type[Executor]] = {}
    for cls in _subclasses(Executor):
        if "from_options" not in vars(cls):
            continue  # a test double, a wrapper, or a subclass of one that is: not offered by name
        if not cls.name or cls.name in found:
            raise TypeError(f"executor {cls.__qualname__}: its name {cls.name!r} is empty or taken")
        found[cls.name] = cls
    _check_flags(found)
    return dict(sorted(found.items()))


def _check_flags(found: dict[str, type[Executor]]) -> None:
    """Two executors may not add the same option: its value could not say which one it is for."""
    seen: dict[str, str] = {}
    for name, cls in found.items():
        for option in cls.options:
            if option.dest in seen:
                raise TypeError(f"executors {seen[option.dest]} and {name} both add {option.flag}")
            seen[option.dest] = name


def owners() -> dict[str, tuple[str, Option]]:
    """Option dest → (the executor that adds it, the option)."""
    return {option.dest: (name, option) for name, cls in discover().items() for option in cls.options}


def settings(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The options of executor `name`, defaults filled in from what was `given`; an unknown executor, or an
    option of another one, is a usage error."""
    known = discover()
    if name not in known:
        hint = did_you_mean(name, known)
        raise UsageProblem(f"--executor {name!r}: unknown{f' ({hint})' if hint else ''} (known: {', '.join(known)})")
    mine = {option.dest: option for option in known[name].options}
    by_dest = owners()
    for dest in given:
        if dest in mine:
            continue
        if dest not in by_dest:
            raise UsageProblem(f"executor option {dest!r}: no executor has it")
        owner, option = by_dest[dest]
        raise UsageProblem(f"{option.flag} is an option of --executor {owner} ({known[owner].summary}): "
                           f"use it with --executor {owner}")
    return {dest: given.get(dest, option.default) for dest, option in mine.items()}


def make_executor(name: str = DEFAULT, given: Mapping[str, Any] | None = None, threads: int = 1) -> Executor:
    """The executor `--executor NAME` names, built from its options (`given`: those set, by dest)."""
    chosen = settings(name, given or {})
    return discover()[name].from_options(chosen, threads)
